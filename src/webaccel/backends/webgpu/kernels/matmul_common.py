"""What the float matmul kernels (tiled, direct, register-tiled, subgroup) share: the storage
bindings, the uniforms (``matmul_params``), the lines reading the sizes and the operands'
offsets and strides, the template fields of their configs, the accumulators and the epilogue
(bias, activation, store); ``matmul_q.py``'s kernel takes the declarations, the thread block
and the epilogue too.
"""

from __future__ import annotations

import functools

from . import shader
from .uniforms import Uniforms


@functools.cache
def matmul_params(batch_rank: int) -> Uniforms:
    """M, N, K; each operand's element offset and its strides along M / K / N; the (merged)
    batch shape and each operand's strides over it."""
    return Uniforms(
        "MatmulParams",
        m="u32",
        n="u32",
        k="u32",
        unused0="pad",
        a_off="i32",
        a_sm="i32",
        a_sk="i32",
        unused1="pad",
        b_off="i32",
        b_sk="i32",
        b_sn="i32",
        unused2="pad",
        c_off="i32",
        c_sm="i32",
        c_sn="i32",
        unused3="pad",
        bias_off="i32",
        bias_sm="i32",
        bias_sn="i32",
        unused4="pad",
        batch_shape=("u32", batch_rank),
        a_batch=("i32", batch_rank),
        b_batch=("i32", batch_rank),
        c_batch=("i32", batch_rank),
        bias_batch=("i32", batch_rank),
    )


def bindings(
    a_elem: str, b_elem: str, has_bias: bool, c_elem: str, bias_elem: str = "f32"
) -> list[str]:
    """The matmul kernels' storage bindings: A, B, the optional bias, then C (the params
    block comes next, at ``len(bindings)``)."""
    out = [shader.storage(0, "A", a_elem), shader.storage(1, "B", b_elem)]
    if has_bias:
        out.append(shader.storage(2, "bias", bias_elem))
    out.append(shader.storage(len(out), "C", c_elem, write=True))
    return out


def declarations(params: Uniforms, bindings: list[str], activation: str | None) -> dict[str, str]:
    """The template fields every matmul shader opens with: ``common.wgsl`` where the epilogue's
    *activation* calls into it, the storage *bindings*, and *params* bound after them."""
    return {
        "COMMON": shader.common_for(activation),
        "BINDINGS": "\n".join(bindings),
        "PARAMS": params.decl(len(bindings)),
    }


def float_fields(
    batch_rank: int,
    bindings: list[str],
    activation: str | None,
    strides: tuple[str, ...] = ("a_sm", "a_sk", "b_sk", "b_sn"),
) -> dict[str, str]:
    """The fields the float matmul templates share: the ``declarations`` over
    ``matmul_params``, M, N, K (``SIZES``) and the operands' bases and *strides*
    (``OPERANDS``, see ``operand_lines``)."""
    params = matmul_params(batch_rank)
    return {
        **declarations(params, bindings, activation),
        "SIZES": size_lines(params),
        "OPERANDS": operand_lines(params, batch_rank, strides),
    }


def block_fields(config: tuple[int, int, int, int]) -> dict[str, int]:
    """A thread-block config (workgroup x, workgroup y, TM, TN) as template fields."""
    return dict(zip(("TX", "TY", "TM", "TN"), config, strict=True))


def tile_threads(config: tuple[int, ...]) -> tuple[int, int]:
    """The (x, y) threads of a workgroup tile config (BM, BN, BK, TM, TN): a TM x TN register
    tile each."""
    bm, bn, _, tm, tn = config[:5]
    return bn // tn, bm // tm


def tile_fields(config: tuple[int, int, int, int, int]) -> dict[str, int]:
    """A workgroup tile config as template fields, with its threads (``tile_threads``)."""
    tx, ty = tile_threads(config)
    return {**dict(zip(("BM", "BN", "BK", "TM", "TN"), config, strict=True)), "TX": tx, "TY": ty}


def accumulators(tm: int, tn: int, scalar: str = "f32") -> list[str]:
    """A thread's TM x TN outputs, zero: ``acc{i}_{q}`` holds row i, columns 4q .. 4q+3."""
    zero = "0.0" if scalar == "f32" else "0i"
    blocks = [(i, q) for i in range(tm) for q in range(tn // 4)]
    return [f"  var acc{i}_{q} = vec4<{scalar}>({zero});" for i, q in blocks]


def thread_block(
    tm: int,
    tn: int,
    columns: list[str],
    loop: list[str],
    epilogue: list[str],
    scalar: str = "f32",
) -> str:
    """The body of a kernel where each thread computes a TM x TN block of C from registers, no
    shared memory (the direct and the quantized matmul): the block's corner (m0, n0), threads
    past M or N returning, the accumulators, the rows of A clamped into M (loads stay in
    bounds; the epilogue skips stores past M and N) and the kernel's own *columns* lines, its K
    *loop* and *epilogue*."""
    lines = [
        f"  let m0 = gid.y * {tm}u;",
        f"  let n0 = gid.x * {tn}u;",
        "  if (m0 >= M || n0 >= N) { return; }",
        *accumulators(tm, tn, scalar),
    ]
    lines += [f"  let ra{i} = a_base + i32(min(m0 + {i}u, M - 1u)) * a_sm;" for i in range(tm)]
    return "\n".join([*lines, *columns, *loop, *epilogue])


def elem_of(mode: str) -> str:
    """A matmul operand's array element: vec4 for the vectorized load modes."""
    return "vec4<f32>" if mode.endswith("4") else "f32"


def size_lines(params: Uniforms) -> str:
    """``M``, ``N``, ``K`` from the uniforms."""
    return "\n".join(f"  let {x.upper()} = {params.u(x)};" for x in ("m", "n", "k"))


def operand_lines(
    params: Uniforms, br: int, strides: tuple[str, ...] = ("a_sm", "a_sk", "b_sk", "b_sn")
) -> str:
    """Each operand's base offset, moved to this workgroup's matrix of the batch (``wg.z``
    split over the batch dims), then the A and B *strides* the kernel walks."""
    lines = [f"  var {x}_base = {params.i(f'{x}_off')};" for x in ("a", "b", "c", "bias")]
    lines.append("  var z = wg.z;")
    batch = []
    for j in range(br - 1, -1, -1):
        size = params.u("batch_shape", j)
        batch.append(f"  let z{j} = i32(z % {size}); z = z / {size};")
        for x in ("a", "b", "c", "bias"):
            batch.append(f"  {x}_base += z{j} * {params.i(f'{x}_batch', j)};")
    lines.append("\n".join(batch))  # its own (maybe empty) line, as the templates had it
    lines += [f"  let {s} = {params.i(s)};" for s in strides]
    return "\n".join(lines)


def stride_lines(params: Uniforms) -> list[str]:
    """C's and the bias' strides, which every epilogue reads."""
    return [f"  let {x} = {params.i(x)};" for x in ("c_sm", "c_sn", "bias_sm", "bias_sn")]


def epilogue(
    params: Uniforms,
    tm: int,
    tn: int,
    has_bias: bool,
    activation: str | None,
    row0: str,
    col0: str,
) -> list[str]:
    epi = stride_lines(params)
    bias_line = (
        "v = v + bias[u32(bias_base + i32(gm) * bias_sm + i32(gn) * bias_sn)];" if has_bias else ""
    )
    act = shader.ACTIVATIONS[activation]
    for i in range(tm):
        epi.append(f"  {{ let gm = {row0} + {i}u; if (gm < M) {{")
        for q in range(tn // 4):
            for c in range(4):
                epi.append(
                    f"    {{ let gn = {col0} + {4 * q + c}u; if (gn < N) {{ "
                    f"var v = acc{i}_{q}[{c}]; {bias_line} {act} "
                    f"C[u32(c_base + i32(gm) * c_sm + i32(gn) * c_sn)] = v; }} }}"
                )
        epi.append("  } }")
    return epi
