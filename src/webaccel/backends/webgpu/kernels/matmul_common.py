"""What the float matmul kernels (tiled, direct, register-tiled, subgroup) share: the storage
bindings, the uniform words, the batch-offset lines and the epilogue (bias, activation, store).

Uniform words of every matmul kernel: [0] M, [1] N, [2] K, [4..7] a_off a_sm a_sk, [8..11]
b_off b_sk b_sn, [12..15] c_off c_sm c_sn, [16..19] bias_off bias_sm bias_sn, [20..) the batch
shape, then the batch strides of a, b, c and bias (``batch_rank`` dims each).
"""

from __future__ import annotations

from . import shader

MATMUL_BATCH_WORD = 20


def matmul_words(batch_rank: int) -> int:
    return MATMUL_BATCH_WORD + 5 * batch_rank


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


def elem_of(mode: str) -> str:
    """A matmul operand's array element: vec4 for the vectorized load modes."""
    return "vec4<f32>" if mode.endswith("4") else "f32"


def batch_lines(br: int) -> list[str]:
    w0 = MATMUL_BATCH_WORD
    lines = []
    for j in range(br - 1, -1, -1):
        lines += [
            f"  let z{j} = i32(z % pu({w0 + j}u)); z = z / pu({w0 + j}u);",
            f"  a_base += z{j} * pi({w0 + br + j}u);",
            f"  b_base += z{j} * pi({w0 + 2 * br + j}u);",
            f"  c_base += z{j} * pi({w0 + 3 * br + j}u);",
            f"  bias_base += z{j} * pi({w0 + 4 * br + j}u);",
        ]
    return lines


def epilogue(
    tm: int, tn: int, has_bias: bool, activation: str | None, row0: str, col0: str
) -> list[str]:
    epi = [
        "  let c_sm = pi(13u);",
        "  let c_sn = pi(14u);",
        "  let bias_sm = pi(17u);",
        "  let bias_sn = pi(18u);",
    ]
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
