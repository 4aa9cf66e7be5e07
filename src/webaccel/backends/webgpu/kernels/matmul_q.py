"""The weight-only quantized family: int8 / int4 codes with float32 scales, read packed.

    linear_q(batch, x, q, scale, group, bias=None, activation=None, config=None) -> StridedView
        act(x @ (q * scale[:, k // group]).T + bias); x (..., K) f32, q (N, K) codes, scale
        (N, ceil(K / group)) f32. One dispatch (``matmul_q.wgsl``) dequantizing inside the K
        loop: the float weight is never stored.
    dequantize(batch, q, scale, group) -> StridedView    # (N, K) f32 (``dequantize.wgsl``)

The codes stay in their packed storage: *q* is a ``StridedView`` of dtype int8 (one byte a
code) or int4 (two a byte, low nibble first), strides and offset counted in codes, over a buffer
the shaders read as ``array<u32>``. Used by the ``linear_q`` and ``dequantize`` ops.
"""

from __future__ import annotations

import functools
from typing import Any

from ....dtypes import DTYPES
from ....shapes import numel
from ..views import StridedView
from . import matmul_common as mm
from . import shader
from .elementwise import reshaped
from .launch import new_output, run, run_1d
from .uniforms import Uniforms

_CODE_DTYPES = ("int8", "int4")
# name: (workgroup x, workgroup y, TM rows, TN columns) per thread, as the direct matmul
LINEAR_Q_CONFIGS = {
    "q_64x1_1x4": (64, 1, 1, 4),  # matrix-vector shapes (M < 8)
    "q_8x8_4x4": (8, 8, 4, 4),
    "q_8x8_8x4": (8, 8, 8, 4),
    "q_8x8_4x8": (8, 8, 4, 8),
    "q_8x8_8x8": (8, 8, 8, 8),
}
MATVEC_CONFIG = "q_64x1_1x4"
SOFTWARE_CONFIG = "q_8x8_8x8"  # SwiftShader: the most rows/columns per thread measured best
HARDWARE_CONFIG = "q_8x8_4x4"
LINEAR_Q_MODES = ("vec_x4", "vec_x1", "scalar")
CHUNK = 8  # codes per step of the vector loop (one int4 word, two int8 words)

_BITS = {  # bits: (TOP, WORD_SHIFT, LANE_MASK) of the qv() extraction
    8: (24, 2, 3),
    4: (28, 3, 7),
}


def _code_reader(bits: int) -> str:
    """``fn qv(e: i32) -> f32``: code e of Q (*bits* wide, packed into u32 words low bits
    first) as f32, sign-extended by an arithmetic shift. Both shaders of the family read it."""
    top, word_shift, lane_mask = _BITS[bits]
    return f"""fn qv(e: i32) -> f32 {{
  let u = u32(e);
  let w = bitcast<i32>(Q[u >> {word_shift}u]);
  return f32((w << ({top}u - {bits}u * (u & {lane_mask}u))) >> {top}u);
}}"""


# The packed codes' offset and strides (in codes) along N and K, the scales' along N and the
# group: both kernels read them.
_CODES = {"q_off": "i32", "q_sn": "i32", "q_sk": "i32"}
_SCALES = {"s_off": "i32", "s_sn": "i32", "s_sg": "i32"}
# M, N, K, G, then each operand's element offset and strides: X (as A), Q, C and the bias along
# M and N (the names the matmul epilogue reads), S.
QUANT_PARAMS = Uniforms(
    "QuantParams",
    m="u32",
    n="u32",
    k="u32",
    group="u32",
    a_off="i32",
    a_sm="i32",
    a_sk="i32",
    unused0="pad",
    **_CODES,
    unused1="pad",
    c_off="i32",
    c_sm="i32",
    c_sn="i32",
    unused2="pad",
    bias_off="i32",
    bias_sm="i32",
    bias_sn="i32",
    unused3="pad",
    **_SCALES,
    unused4="pad",
)
DEQUANTIZE_PARAMS = Uniforms(
    "DequantizeParams",
    total="u32",
    per_row="u32",
    k="u32",
    group="u32",
    **_CODES,
    unused0="pad",
    **_SCALES,
    unused1="pad",
)


def _codes_and_scales(q: StridedView, scale: StridedView) -> dict[str, int]:
    """The values of the ``_CODES`` and ``_SCALES`` fields."""
    values = (q.offset, *q.strides, scale.offset, *scale.strides)
    return dict(zip([*_CODES, *_SCALES], values, strict=True))


def _check_codes(q: StridedView) -> int:
    """The bits per code of *q*: int8 or int4 codes in a 2-D view."""
    if q.dtype not in _CODE_DTYPES:
        raise ValueError(f"packed codes of dtype {q.dtype}: expected one of {_CODE_DTYPES}")
    if q.ndim != 2:
        raise ValueError(f"packed codes must be a 2-D view, got shape {q.shape}")
    return DTYPES[q.dtype].bits


def _vec_ok(q: StridedView, k: int, group: int) -> bool:
    """The word-at-a-time loop: codes of a row contiguous, rows and offset word-aligned to a
    chunk of 8, whole chunks in K and in every group (8 codes share one scale)."""
    # the chunk's first code starts a word (two for int8)
    align = 8 if q.dtype == "int4" else 4
    return (
        q.strides[1] == 1
        and k % CHUNK == 0
        and group % CHUNK == 0
        and q.offset % align == 0
        and (q.strides[0] % align == 0 or q.shape[0] == 1)
    )


def _x4_ok(x: StridedView) -> bool:
    sm, sk = x.strides
    return sk == 1 and x.offset % 4 == 0 and (sm % 4 == 0 or x.shape[0] == 1)


def linear_q_mode(x: StridedView, q: StridedView, group: int) -> str:
    """Which loop ``linear_q`` runs for these operands (see ``LINEAR_Q_MODES``)."""
    if not _vec_ok(q, x.shape[-1], group):
        return "scalar"
    return "vec_x4" if _x4_ok(x) else "vec_x1"


def default_config(ctx: Any, m: int) -> str:
    """The config ``linear_q`` uses when none is given, by adapter kind and rows (as
    ``kernels.default_matmul_config``)."""
    if m < 8:
        return MATVEC_CONFIG
    return SOFTWARE_CONFIG if getattr(ctx, "software", False) else HARDWARE_CONFIG


@functools.cache
def linear_q_source(
    config: tuple[int, int, int, int],
    mode: str,
    bits: int,
    has_bias: bool,
    activation: str | None,
) -> str:
    if mode not in LINEAR_Q_MODES:
        raise ValueError(f"unknown linear_q mode {mode!r}; expected one of {LINEAR_Q_MODES}")
    tm, tn = config[2:]
    x_elem = "vec4<f32>" if mode == "vec_x4" else "f32"
    bindings = [
        shader.storage(0, "A", x_elem),
        shader.storage(1, "Q", "u32"),
        shader.storage(2, "S", "f32"),
    ]
    nb = 3
    if has_bias:
        bindings.append(shader.storage(3, "bias", "f32"))
        nb = 4
    bindings.append(shader.storage(nb, "C", "f32", write=True))
    cols = []  # each column's codes and scales, clamped as A's rows are (mm.thread_block)
    for j in range(tn):
        cols.append(f"  let nn{j} = i32(min(n0 + {j}u, N - 1u));")
        cols.append(f"  let qb{j} = q_base + nn{j} * q_sn;")
        cols.append(f"  let sb{j} = s_base + nn{j} * s_sn;")
    if mode == "scalar":
        loop = _scalar_loop(tm, tn)
    else:
        loop = _vec_loop(tm, tn, bits, mode == "vec_x4")
    epi = mm.epilogue(QUANT_PARAMS, tm, tn, has_bias, activation, "m0", "n0")
    return shader.template("matmul_q.wgsl").substitute(
        **mm.declarations(QUANT_PARAMS, bindings, activation),
        **mm.block_fields(config),
        CODES=_code_reader(bits),
        BLOCK=mm.thread_block(tm, tn, cols, loop, epi),
    )


def _scalar_loop(tm: int, tn: int) -> list[str]:
    """One code per step: any strides, any K, any group."""
    body = ["    let sg = i32(k / G) * s_sg;"]
    for j in range(tn):
        body.append(f"    let w{j} = qv(qb{j} + i32(k) * q_sk) * S[u32(sb{j} + sg)];")
    body += [f"    let a{i} = A[u32(ra{i} + i32(k) * a_sk)];" for i in range(tm)]
    for i in range(tm):
        for q in range(tn // 4):
            ws = ", ".join(f"w{4 * q + c}" for c in range(4))
            body.append(f"    acc{i}_{q} = fma(vec4<f32>(a{i}), vec4<f32>({ws}), acc{i}_{q});")
    return ["  for (var k = 0u; k < K; k = k + 1u) {", *body, "  }"]


def _vec_loop(tm: int, tn: int, bits: int, x4: bool) -> list[str]:
    """8 codes per step: whole words unpacked with vector shifts, dot products with X, one
    scale per column and step (the 8 codes share a group)."""
    body = ["    let sg = i32(k / G) * s_sg;"]
    for j in range(tn):
        if bits == 4:  # one word: codes 0-3 and 4-7
            body.append(f"    let wd{j} = vec4<i32>(bitcast<i32>(Q[u32(qb{j} + i32(k)) >> 3u]));")
            body.append(f"    let wl{j} = vec4<f32>((wd{j} << LO) >> SH);")
            body.append(f"    let wh{j} = vec4<f32>((wd{j} << HI) >> SH);")
        else:  # two words of 4 codes
            body.append(f"    let e{j} = u32(qb{j} + i32(k)) >> 2u;")
            for half, word in (("wl", f"Q[e{j}]"), ("wh", f"Q[e{j} + 1u]")):
                splat = f"vec4<i32>(bitcast<i32>({word}))"
                body.append(f"    let {half}{j} = vec4<f32>(({splat} << LO) >> SH);")
    for q in range(tn // 4):
        ss = ", ".join(f"S[u32(sb{4 * q + c} + sg)]" for c in range(4))
        body.append(f"    let s{q} = vec4<f32>({ss});")
    for i in range(tm):
        if x4:
            body.append(f"    let ax{i} = u32(ra{i} + i32(k)) >> 2u;")
            body.append(f"    let al{i} = A[ax{i}];")
            body.append(f"    let ah{i} = A[ax{i} + 1u];")
        else:
            for half, base in (("al", 0), ("ah", 4)):
                loads = [f"A[u32(ra{i} + i32(k + {base + c}u) * a_sk)]" for c in range(4)]
                body.append(f"    let {half}{i} = vec4<f32>({', '.join(loads)});")
        for q in range(tn // 4):
            dots = ", ".join(
                f"dot(al{i}, wl{4 * q + c}) + dot(ah{i}, wh{4 * q + c})" for c in range(4)
            )
            body.append(f"    acc{i}_{q} = fma(vec4<f32>({dots}), s{q}, acc{i}_{q});")
    if bits == 4:
        consts = [
            "  let LO = vec4<u32>(28u, 24u, 20u, 16u);",
            "  let HI = vec4<u32>(12u, 8u, 4u, 0u);",
            "  let SH = vec4<u32>(28u);",
        ]
    else:
        consts = ["  let LO = vec4<u32>(24u, 16u, 8u, 0u);", "  let SH = vec4<u32>(24u);"]
    return [*consts, f"  for (var k = 0u; k < K; k = k + {CHUNK}u) {{", *body, "  }"]


@functools.cache
def dequantize_source(bits: int) -> str:
    bindings = [
        shader.storage(0, "Q", "u32"),
        shader.storage(1, "S", "f32"),
        shader.storage(2, "out", "f32", write=True),
    ]
    return shader.template("dequantize.wgsl").substitute(
        BINDINGS="\n".join(bindings),
        PARAMS=DEQUANTIZE_PARAMS.decl(3),
        CODES=_code_reader(bits),
        ENTRY=shader.entry(DEQUANTIZE_PARAMS, "total"),
    )


def _rows_2d(batch: Any, x: StridedView) -> StridedView:
    """*x* (..., K) as (M, K): a view when the leading dims merge, else a dense copy."""
    k = x.shape[-1] if x.ndim else 1
    m = numel(x.shape[:-1])
    if x.ndim == 2:
        return x
    if x.ndim == 1:
        return x.expand_dims(0)
    return reshaped(batch, x, (m, k))


def linear_q(
    batch: Any,
    x: StridedView,
    q: StridedView,
    scale: StridedView,
    group: int,
    bias: StridedView | None = None,
    activation: str | None = None,
    config: str | None = None,
) -> StridedView:
    """``act(x @ dequantize(q, scale).T + bias)`` in one dispatch (see the module docstring)."""
    bits = _check_codes(q)
    n, k = q.shape
    if x.shape[-1:] != (k,):
        raise ValueError(f"linear_q: x {x.shape} does not fit codes {q.shape}")
    if scale.shape != (n, -(-k // group)):
        raise ValueError(f"linear_q: scale {scale.shape} does not fit codes {q.shape}, {group=}")
    if activation not in shader.ACTIVATIONS:
        raise ValueError(f"linear_q: unknown activation {activation!r}")
    oshape = (*x.shape[:-1], n)
    out = new_output(batch, oshape, "float32")
    if numel(oshape) == 0:
        return out
    x2 = _rows_2d(batch, x)
    m = x2.shape[0]
    name = config or default_config(batch.ctx, m)
    tx, ty, tm, tn = LINEAR_Q_CONFIGS[name]
    mode = linear_q_mode(x2, q, group)
    source = linear_q_source((tx, ty, tm, tn), mode, bits, bias is not None, activation)
    bias_view = (0, 0, 0)
    if bias is not None:
        b = bias.broadcast_to((m, n))
        bias_view = (b.offset, *b.strides)
    uniforms = QUANT_PARAMS.pack(
        m=m,
        n=n,
        k=k,
        group=max(group, 1),
        a_off=x2.offset,
        a_sm=x2.strides[0],
        a_sk=x2.strides[1],
        c_off=0,
        c_sm=n,
        c_sn=1,
        bias_off=bias_view[0],
        bias_sm=bias_view[1],
        bias_sn=bias_view[2],
        **_codes_and_scales(q, scale),
    )
    buffers = [x2.buffer, q.buffer, scale.buffer]
    if bias is not None:
        buffers.append(bias.buffer)
    buffers.append(out.buffer)
    groups = (-(-n // (tx * tn)), -(-m // (ty * tm)), 1)
    run(batch, source, buffers, uniforms, groups)
    return out


def dequantize(batch: Any, q: StridedView, scale: StridedView, group: int) -> StridedView:
    """The float32 weight ``q * scale[:, k // group]``, contiguous (N, K)."""
    bits = _check_codes(q)
    n, k = q.shape
    out = new_output(batch, (n, k), "float32")
    total = n * k
    if total == 0:
        return out
    run_1d(
        batch,
        dequantize_source(bits),
        [q.buffer, scale.buffer, out.buffer],
        DEQUANTIZE_PARAMS,
        total,
        total=total,
        k=k,
        group=max(group, 1),
        **_codes_and_scales(q, scale),
    )
    return out
