"""WGSL sources for the kernels, from the templates in ``wgsl/`` (pure Python, cached).

Every ``*_source(...)`` function takes only hashable specialization keys (ranks, dtypes, which
operands are contiguous, tile sizes) and returns the same ``str`` object for the same key, so
``GPUContext.pipeline`` finds it in its cache by identity-fast hashing. Shapes, strides and
offsets are *not* baked in: they travel in a uniform buffer (``pack_words``), so a model's
many shapes share few pipelines.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence
from string import Template

from ...resources import read_text
from .expr import compile_expr

WORKGROUP = 256
STORAGE_TYPES = {"float32": "f32", "int32": "i32", "bool": "i32", "float16": "u32"}
ACTIVATIONS = {
    None: "",
    # NaN passes, decided on the bits (on NVIDIA select(v, 0, v < 0) gave 0 for NaN)
    "relu": "v = select(v, 0.0, bitcast<u32>(v) >= 0x80000000u && "
    "(bitcast<u32>(v) & 0x7fffffffu) <= 0x7f800000u);",
    "gelu": "v = wa_gelu(v);",
    "gelu_tanh": "v = wa_gelu_tanh(v);",
    "sigmoid": "v = wa_sigmoid(v);",
    "tanh": "v = wa_tanh(v);",
}


@functools.cache
def template(name: str) -> Template:
    return Template(read_text("wgsl", name))


@functools.cache
def common() -> str:
    return read_text("wgsl", "common.wgsl")


def pack_words(words: Sequence[int], nwords: int | None = None) -> bytes:
    """Little-endian u32 words (negative ints as two's complement), zero-padded to nwords."""
    n = max(len(words), nwords or 0)
    n = -(-n // 4) * 4
    values = [int(w) & 0xFFFFFFFF for w in words] + [0] * (n - len(words))
    return struct.pack(f"<{n}I", *values)


def params_block(binding: int, nwords: int) -> str:
    nvec = max(1, -(-nwords // 4))
    return (
        f"struct Params {{ v: array<vec4<u32>, {nvec}> }};\n"
        f"@group(0) @binding({binding}) var<uniform> P: Params;\n"
        "fn pu(i: u32) -> u32 { return P.v[i >> 2u][i & 3u]; }\n"
        "fn pi(i: u32) -> i32 { return bitcast<i32>(P.v[i >> 2u][i & 3u]); }"
    )


def storage(binding: int, name: str, elem: str, write: bool = False) -> str:
    access = "read_write" if write else "read"
    return f"@group(0) @binding({binding}) var<storage, {access}> {name}: array<{elem}>;"


def _matmul_bindings(
    a_elem: str, b_elem: str, has_bias: bool, c_elem: str, bias_elem: str = "f32"
) -> list[str]:
    """The matmul kernels' storage bindings: A, B, the optional bias, then C (the params
    block comes next, at ``len(bindings)``)."""
    bindings = [storage(0, "A", a_elem), storage(1, "B", b_elem)]
    if has_bias:
        bindings.append(storage(2, "bias", bias_elem))
    bindings.append(storage(len(bindings), "C", c_elem, write=True))
    return bindings


def _elem_of(mode: str) -> str:
    """A matmul operand's array element: vec4 for the vectorized load modes."""
    return "vec4<f32>" if mode.endswith("4") else "f32"


def loader(k: int, dtype: str) -> str:
    """``fn ld{k}(e: i32) -> T`` reading element e of input k (f16 from packed u32 words)."""
    if dtype == "float16":
        return (
            f"fn ld{k}(e: i32) -> f32 {{ let u = u32(e); "
            f"return unpack2x16float(in{k}[u >> 1u])[u & 1u]; }}"
        )
    if dtype == "bool":
        return f"fn ld{k}(e: i32) -> bool {{ return in{k}[u32(e)] != 0i; }}"
    t = STORAGE_TYPES[dtype]
    return f"fn ld{k}(e: i32) -> {t} {{ return in{k}[u32(e)]; }}"


def index_lines(rank: int, first_shape_word: int, var: str = "i") -> list[str]:
    """Split the linear index *var* into d0..d{rank-1} over the shape in the uniform words."""
    lines = [f"  var r = {var};"]
    for d in range(rank - 1, 0, -1):
        w = first_shape_word + d
        lines.append(f"  let d{d} = r % pu({w}u); r = r / pu({w}u);")
    lines.append("  let d0 = r;")
    return lines


def offset_expr(rank: int, off_word: int, contiguous: bool, var: str = "i") -> str:
    """Element offset of an operand: ``off + sum(d_j * stride_j)`` (or ``off + i``)."""
    if contiguous:
        return f"pi({off_word}u) + i32({var})"
    terms = [f"i32(d{d}) * pi({off_word + 1 + d}u)" for d in range(rank)]
    return f"pi({off_word}u) + " + " + ".join(terms)


# --- elementwise ----------------------------------------------------------------------------


def elementwise_words(rank: int, n_inputs: int) -> int:
    return 4 + rank + (n_inputs + 1) * (1 + rank)


@functools.cache
def elementwise_source(
    expr: object,
    in_dtypes: tuple[str, ...],
    in_contig: tuple[bool, ...],
    out_dtype: str,
    out_contig: bool,
    rank: int,
) -> str:
    """The fused kernel for *expr*; input k is bound at k, the output at n, uniforms at n+1."""
    from .expr import DTYPE_TYPES

    n = len(in_dtypes)
    types = [DTYPE_TYPES[d] for d in in_dtypes]
    body, result, rtype = compile_expr(expr, types)
    out_t = DTYPE_TYPES[out_dtype]
    result = _convert(result, rtype, out_t)
    if out_t == "bool":
        result, out_t = f"select(0i, 1i, {result})", "i32"
    need_index = not all(in_contig) or not out_contig
    words = elementwise_words(rank, n)
    bindings = [storage(k, f"in{k}", STORAGE_TYPES[d]) for k, d in enumerate(in_dtypes)]
    bindings.append(storage(n, "out", STORAGE_TYPES[out_dtype], write=True))
    bindings += [loader(k, d) for k, d in enumerate(in_dtypes)]
    index = index_lines(rank, 4) if need_index else []
    loads = [
        f"  let x{k} = ld{k}({offset_expr(rank, 4 + rank + k * (1 + rank), c)});"
        for k, c in enumerate(in_contig)
    ]
    out_word = 4 + rank + n * (1 + rank)
    if out_dtype == "float16":
        store = _f16_store(out_word)
    else:
        out_index = index_lines(rank, 4, "t") if not out_contig else []
        store = "\n".join(
            [
                "  if (t >= pu(0u)) { return; }",
                *out_index,
                f"  out[u32({offset_expr(rank, out_word, out_contig, 't')})] = elem(t);",
            ]
        )
    return template("elementwise.wgsl").substitute(
        COMMON=common(),
        BINDINGS="\n".join(bindings),
        PARAMS=params_block(n + 1, words),
        RTYPE=out_t,
        INDEX="\n".join(index),
        LOADS="\n".join(loads),
        BODY="\n".join("  " + line for line in body),
        RESULT=result,
        WG=WORKGROUP,
        STORE=store,
    )


def _convert(code: str, src: str, dst: str) -> str:
    if src == dst:
        return code
    if dst == "f32":
        return f"f32({code})" if src == "i32" else f"select(0.0f, 1.0f, {code})"
    if dst == "i32":
        if src == "f32":
            return f"select(i32({code}), 0i, wa_isnan({code}))"
        return f"select(0i, 1i, {code})"
    if dst == "bool":
        return f"!({code} == 0.0f)" if src == "f32" else f"({code} != 0i)"
    raise ValueError(f"cannot store {src} as {dst}")


def _f16_store(out_word: int) -> str:
    """Each thread owns one u32 word of the (contiguous) f16 output: two halves, either of
    which may belong to a neighbour tensor (odd offset or odd length): those keep their bits."""
    return f"""  let off = pu({out_word}u);
  let n = pu(0u);
  let w = (off >> 1u) + t;
  let lo = 2u * w;
  let inside_lo = lo >= off && lo < off + n;
  let inside_hi = lo + 1u >= off && lo + 1u < off + n;
  if (!inside_lo && !inside_hi) {{ return; }}
  var halves = vec2<f32>(0.0);
  if (!inside_lo || !inside_hi) {{ halves = unpack2x16float(out[w]); }}
  if (inside_lo) {{ halves.x = elem(lo - off); }}
  if (inside_hi) {{ halves.y = elem(lo + 1u - off); }}
  out[w] = pack2x16float(halves);"""


# --- matmul ---------------------------------------------------------------------------------

MATMUL_CONFIGS = {
    # name: (BM, BN, BK, TM, TN)
    "64x64x16_4x4": (64, 64, 16, 4, 4),
    "32x32x16_4x4": (32, 32, 16, 4, 4),
    "64x64x8_8x8": (64, 64, 8, 8, 8),
    "16x64x16_4x4": (16, 64, 16, 4, 4),
}
MATMUL_BATCH_WORD = 20


def matmul_words(batch_rank: int) -> int:
    return MATMUL_BATCH_WORD + 5 * batch_rank


@functools.cache
def matmul_source(
    config: tuple[int, int, int, int, int],
    a_load: str,
    b_load: str,
    batch_rank: int,
    has_bias: bool,
    activation: str | None,
) -> str:
    """*a_load*: "k" / "m" (scalar loads, consecutive threads along that axis) or "k4" / "m4"
    (vec4 loads along it); *b_load* likewise with "k" / "n" / "k4" / "n4"."""
    bm, bn, bk, tm, tn = config
    tx, ty = bn // tn, bm // tm
    nt = tx * ty
    bindings = _matmul_bindings(_elem_of(a_load), _elem_of(b_load), has_bias, "f32")
    br = batch_rank
    batch = _batch_lines(br)
    acc = [f"  var acc{i}_{q} = vec4<f32>(0.0);" for i in range(tm) for q in range(tn // 4)]
    inner = [f"      let ab = kk * {bm // 4}u + lid.y * {tm // 4}u;"]
    inner += [f"      let a{p} = As[ab + {p}u];" for p in range(tm // 4)]
    inner += [f"      let bb = kk * {bn // 4}u + lid.x * {tn // 4}u;"]
    inner += [f"      let b{q} = Bs[bb + {q}u];" for q in range(tn // 4)]
    for i in range(tm):
        for q in range(tn // 4):
            inner.append(
                f"      acc{i}_{q} = fma(vec4<f32>(a{i // 4}[{i % 4}]), b{q}, acc{i}_{q});"
            )
    epi = _epilogue(tm, tn, has_bias, activation, f"m0 + lid.y * {tm}u", f"n0 + lid.x * {tn}u")
    return template("matmul.wgsl").substitute(
        COMMON=common() if activation in ("gelu", "gelu_tanh", "sigmoid", "tanh") else "",
        BINDINGS="\n".join(bindings),
        PARAMS=params_block(len(bindings), matmul_words(br)),
        AS_LEN=bm * bk // 4,
        BS_LEN=bn * bk // 4,
        BM=bm,
        BN=bn,
        BK=bk,
        TM=tm,
        TN=tn,
        BR=br,
        NT=nt,
        TX=tx,
        TY=ty,
        BATCH="\n".join(batch),
        ACC_DECL="\n".join(acc),
        LOAD_A="\n".join(_tile_load("A", "As", a_load, bm, bk, nt)),
        LOAD_B="\n".join(_tile_load("B", "Bs", b_load, bn, bk, nt)),
        INNER="\n".join(inner),
        EPILOGUE="\n".join(epi),
    )


def _tile_load(src: str, dst: str, mode: str, bx: int, bk: int, nt: int) -> list[str]:
    """Unrolled loads of a (bk x bx) tile into shared memory ``dst[k * bx + x]``.

    For A, x is m (strides a_sm, a_sk); for B, x is n (b_sn, b_sk).
    """
    if src == "A":
        base, sx, sk, gx0, lim = "a_base", "a_sm", "a_sk", "m0", "M"
    else:
        base, sx, sk, gx0, lim = "b_base", "b_sn", "b_sk", "n0", "N"
    axis = mode[0]  # the operand axis consecutive threads (or vec4 lanes) walk along
    vec = mode.endswith("4")
    per = 4 if vec else 1
    total = bx * bk // per
    lines = []
    for r in range(-(-total // nt)):
        e = f"(li + {r * nt}u)"
        guard = f"if ({e} < {total}u) " if (r + 1) * nt > total else ""
        if axis == "k":
            kq, xx = f"({e} % {bk // per}u)", f"({e} / {bk // per}u)"
            kk = f"({kq} * {per}u)" if vec else kq
        else:
            xq, kk = f"({e} % {bx // per}u)", f"({e} / {bx // per}u)"
            xx = f"({xq} * {per}u)" if vec else xq
        lines.append(f"    {guard}{{")
        lines.append(f"      let kk = {kk}; let xx = {xx};")
        lines.append(f"      let gk = k0 + kk; let gx = {gx0} + xx;")
        if not vec:
            lines.append("      var v = 0.0;")
            lines.append(
                f"      if (gx < {lim} && gk < K) {{ v = {src}[u32({base} + i32(gx) * {sx} + "
                f"i32(gk) * {sk})]; }}"
            )
            lines.append(f"      let idx = kk * {bx}u + xx; {dst}[idx >> 2u][idx & 3u] = v;")
        else:
            lines.append("      var v = vec4<f32>(0.0);")
            lines.append(
                f"      if (gx < {lim} && gk < K) {{ v = {src}[u32({base} + i32(gx) * {sx} + "
                f"i32(gk) * {sk}) >> 2u]; }}"
            )
            if axis == "k":  # 4 consecutive k for one x: scatter into 4 rows
                for c in range(4):
                    lines.append(
                        f"      {{ let idx = (kk + {c}u) * {bx}u + xx; "
                        f"{dst}[idx >> 2u][idx & 3u] = v[{c}]; }}"
                    )
            else:  # 4 consecutive x: one aligned vec4 of the row
                lines.append(f"      {dst}[(kk * {bx}u + xx) >> 2u] = v;")
        lines.append("    }")
    return lines


# --- reductions -----------------------------------------------------------------------------

REDUCE_WG = 64
REDUCE_OPS = ("sum", "mean", "max", "min", "prod")


def reduce_words(ro: int, ri: int) -> int:
    return 4 + ro + ri + 1 + ro + ri


@functools.cache
def reduce_source(op: str, in_dtype: str, ro: int, ri: int, mode: str) -> str:
    """Reduce the ``ri`` inner dims of a strided view; ``mode`` "workgroup" or "thread"."""
    if op not in REDUCE_OPS:
        raise ValueError(f"unknown reduction {op!r}; expected one of {REDUCE_OPS}")
    is_int = in_dtype in ("int32", "bool")
    acc = "i32" if is_int and op != "mean" else "f32"
    out_t = acc
    if acc == "f32":
        identity = {"sum": "0.0", "mean": "0.0", "prod": "1.0", "max": "-wa_inf()"}.get(
            op, "wa_inf()"
        )
        combine = {
            "max": "return wa_max(a, b);",
            "min": "return wa_min(a, b);",
            "prod": "return a * b;",
        }.get(op, "return a + b;")
    else:
        identity = {
            "sum": "0i",
            "prod": "1i",
            "max": "bitcast<i32>(0x80000000u)",
            "min": "bitcast<i32>(0x7fffffffu)",
        }[op]
        combine = {"max": "return max(a, b);", "min": "return min(a, b);"}.get(
            op, "return a * b;" if op == "prod" else "return a + b;"
        )
    finish = "return acc * bitcast<f32>(pu(3u));" if op == "mean" else "return acc;"
    in_off = 4 + ro + ri
    outer = index_lines(ro, 4, "o") if ro else []
    outer.append(
        "  return pi({}u){};".format(
            in_off, "".join(f" + i32(d{d}) * pi({in_off + 1 + d}u)" for d in range(ro))
        )
    )
    inner = index_lines(ri, 4 + ro, "j")
    inner.append(
        "  return {}(ld0(base{}));".format(
            acc if not is_int or acc == "i32" else "f32",
            "".join(f" + i32(d{d}) * pi({in_off + 1 + ro + d}u)" for d in range(ri)),
        )
    )
    if mode == "workgroup":
        main = f"""@compute @workgroup_size({REDUCE_WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {{
  let o = wg.x + wg.y * pu(2u);
  if (o >= pu(0u)) {{ return; }}
  let base = base_of(o);
  var acc: {acc} = {identity};
  for (var j = li; j < pu(1u); j = j + {REDUCE_WG}u) {{ acc = combine(acc, elem_at(base, j)); }}
  red[li] = acc;
  workgroupBarrier();
  for (var s = {REDUCE_WG // 2}u; s > 0u; s = s >> 1u) {{
    if (li < s) {{ red[li] = combine(red[li], red[li + s]); }}
    workgroupBarrier();
  }}
  if (li == 0u) {{ out[o] = finish(red[0]); }}
}}"""
    else:
        main = f"""@compute @workgroup_size({REDUCE_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {{
  let o = gid.x + gid.y * pu(2u);
  if (o >= pu(0u)) {{ return; }}
  let base = base_of(o);
  var acc: {acc} = {identity};
  for (var j = 0u; j < pu(1u); j = j + 1u) {{ acc = combine(acc, elem_at(base, j)); }}
  out[o] = finish(acc);
}}"""
    bindings = [
        storage(0, "in0", STORAGE_TYPES[in_dtype]),
        storage(1, "out", out_t, write=True),
    ]
    return template("reduce.wgsl").substitute(
        MODE=mode,
        COMMON=common(),
        BINDINGS="\n".join(bindings),
        PARAMS=params_block(2, reduce_words(ro, ri)),
        LOADER=loader(0, in_dtype).replace("-> bool", "-> i32").replace(" != 0i", ""),
        ACC=acc,
        WG=REDUCE_WG if mode == "workgroup" else 1,
        COMBINE=combine,
        OUTER="\n".join(outer),
        INNER="\n".join(inner),
        OUT_T=out_t,
        FINISH=finish,
        MAIN=main,
    )


# --- row kernels: softmax, layer_norm -------------------------------------------------------

ROWS_WG = 64
ROW_OPS = ("softmax", "log_softmax", "layer_norm", "rms_norm")


def rows_words(ro: int) -> int:
    return 4 + ro + 2 * (ro + 2) + 4


@functools.cache
def rows_source(op: str, in_dtype: str, ro: int, has_gamma: bool, has_beta: bool) -> str:
    if op not in ROW_OPS:
        raise ValueError(f"unknown row op {op!r}; expected one of {ROW_OPS}")
    wi = 4 + ro  # input: off, outer strides, inner stride
    wo = wi + ro + 2
    wg_ = wo + ro + 2
    outer = index_lines(ro, 4, "row") if ro else []
    outer.append(
        "  let bi = pi({}u){};".format(
            wi, "".join(f" + i32(d{d}) * pi({wi + 1 + d}u)" for d in range(ro))
        )
    )
    outer.append(
        "  let bo = pi({}u){};".format(
            wo, "".join(f" + i32(d{d}) * pi({wo + 1 + d}u)" for d in range(ro))
        )
    )
    outer.append(f"  let si = pi({wi + 1 + ro}u);")
    outer.append(f"  let so = pi({wo + 1 + ro}u);")
    x = "ld0(bi + i32(j) * si)"
    loop = f"for (var j = li; j < L; j = j + {ROWS_WG}u)"
    store = "out[u32(bo + i32(j) * so)]"
    scale = ""
    if has_gamma:
        scale += f" * gamma[u32(pi({wg_}u) + i32(j) * pi({wg_ + 1}u))]"
    shift = f" + beta[u32(pi({wg_ + 2}u) + i32(j) * pi({wg_ + 3}u))]" if has_beta else ""
    if op in ("softmax", "log_softmax"):
        final = "(x - m) - log(s)" if op == "log_softmax" else "wa_exp(x - m) / s"
        body = f"""  var m = -wa_inf();
  {loop} {{ m = wa_max(m, {x}); }}
  m = wg_max(m, li);
  var s = 0.0;
  {loop} {{ s = s + wa_exp({x} - m); }}
  s = wg_sum(s, li);
  {loop} {{ let x = {x}; {store} = {final}; }}"""
    elif op == "layer_norm":
        # The sum runs over x - x[0] (shifted data): exact-ish even when |mean| >> std.
        body = f"""  let shift = ld0(bi);
  var s = 0.0;
  {loop} {{ s = s + ({x} - shift); }}
  let mean = shift + wg_sum(s, li) / f32(L);
  var q = 0.0;
  {loop} {{ let d = {x} - mean; q = q + d * d; }}
  let inv = 1.0 / sqrt(wg_sum(q, li) / f32(L) + eps);
  {loop} {{ {store} = ({x} - mean) * inv{scale}{shift}; }}"""
    else:
        body = f"""  var q = 0.0;
  {loop} {{ let v = {x}; q = q + v * v; }}
  let inv = 1.0 / sqrt(wg_sum(q, li) / f32(L) + eps);
  {loop} {{ {store} = {x} * inv{scale}{shift}; }}"""
    bindings = [storage(0, "in0", STORAGE_TYPES[in_dtype]), loader(0, in_dtype)]
    nb = 1
    if has_gamma:
        bindings.append(storage(nb, "gamma", "f32"))
        nb += 1
    if has_beta:
        bindings.append(storage(nb, "beta", "f32"))
        nb += 1
    bindings.append(storage(nb, "out", "f32", write=True))
    return template("rows.wgsl").substitute(
        COMMON=common(),
        BINDINGS="\n".join(bindings),
        PARAMS=params_block(nb + 1, rows_words(ro)),
        WG=ROWS_WG,
        OUTER="\n".join(outer),
        BODY=body,
    )


# --- conv2d (im2col), pool2d, gather --------------------------------------------------------


def named_index(names: Sequence[str], first_word: int, var: str = "t") -> str:
    """Split *var* over dims in memory order (sizes in uniform words) into ``v_<name>``."""
    lines = [f"  var r = {var};"]
    for d in range(len(names) - 1, 0, -1):
        w = first_word + d
        lines.append(f"  let v_{names[d]} = r % pu({w}u); r = r / pu({w}u);")
    lines.append(f"  let v_{names[0]} = r;")
    return "\n".join(lines)


@functools.cache
def im2col_source(order: tuple[str, ...]) -> str:
    bindings = [storage(0, "x", "f32"), storage(1, "col", "f32", write=True)]
    return template("im2col.wgsl").substitute(
        ORDER=" ".join(order),
        BINDINGS="\n".join(bindings),
        PARAMS=params_block(2, 26),
        WG=WORKGROUP,
        INDEX=named_index(order, 4),
    )


@functools.cache
def pool2d_source(kind: str, order: tuple[str, ...], count_include_pad: bool) -> str:
    if kind == "max":
        init, accum, finish = "-wa_inf()", "acc = wa_max(acc, v);", "out[t] = acc;"
    elif kind == "avg":
        div = "f32(pu(8u) * pu(9u))" if count_include_pad else "f32(max(count, 1u))"
        init, accum, finish = "0.0", "acc = acc + v;", f"out[t] = acc / {div};"
    else:
        raise ValueError(f"unknown pool {kind!r}")
    bindings = [storage(0, "x", "f32"), storage(1, "out", "f32", write=True)]
    return template("pool2d.wgsl").substitute(
        ORDER=" ".join(order),
        COMMON=common(),
        BINDINGS="\n".join(bindings),
        PARAMS=params_block(2, 23),
        WG=WORKGROUP,
        INDEX=named_index(order, 4),
        INIT=init,
        ACCUM=accum,
        FINISH=finish,
    )


def gather_words(rank: int) -> int:
    return 4 + rank + 2 * (1 + rank)


@functools.cache
def gather_source(data_dtype: str, rank: int) -> str:
    out_dtype = "float32" if data_dtype == "float16" else data_dtype
    bindings = [
        storage(0, "in0", STORAGE_TYPES[data_dtype]),
        storage(1, "idx", "i32"),
        storage(2, "out", STORAGE_TYPES[out_dtype], write=True),
    ]
    wd = 4 + rank
    wi = wd + 1 + rank
    return template("gather.wgsl").substitute(
        BINDINGS="\n".join(bindings),
        PARAMS=params_block(3, gather_words(rank)),
        LOADERS=loader(0, data_dtype).replace("-> bool", "-> i32").replace(" != 0i", ""),
        WG=WORKGROUP,
        INDEX="\n".join(index_lines(rank, 4)),
        IDX_OFF=offset_expr(rank, wi, False),
        DATA_OFF=offset_expr(rank, wd, False),
    )


# --- matmul without shared memory -----------------------------------------------------------

MATMUL_DIRECT_CONFIGS = {
    # name: (workgroup x, workgroup y, TM, TN)
    "direct_8x8_4x4": (8, 8, 4, 4),
    "direct_8x8_4x8": (8, 8, 4, 8),
    "direct_16x4_4x4": (16, 4, 4, 4),
    "direct_8x8_8x8": (8, 8, 8, 8),
    "direct_16x16_8x8": (16, 16, 8, 8),
    "direct_4x4_8x8": (4, 4, 8, 8),
    "direct_8x8_8x16": (8, 8, 8, 16),
    "direct_8x8_16x8": (8, 8, 16, 8),
    "direct_64x1_1x4": (64, 1, 1, 4),  # matrix-vector shapes (M < 8)
}
DIRECT_MODES = ("vec", "dot", "scalar")


@functools.cache
def matmul_direct_source(
    config: tuple[int, int, int, int],
    mode: str,
    batch_rank: int,
    has_bias: bool,
    activation: str | None,
    scalar: str = "f32",
) -> str:
    """*mode* "vec": A k-contiguous and B n-contiguous (vec4 loads of A rows and B rows);
    "dot": A and B both k-contiguous (``x @ W^T``: vec4 along K of both, dot products);
    "scalar": any strides. vec/dot need 16-byte alignment and K % 4 == 0.

    *scalar* "i32" (mode "scalar" only, activation None or "relu"): int32 operands, bias and
    output with i32 accumulators (exact, wrapping on overflow)."""
    if mode not in DIRECT_MODES:
        raise ValueError(f"unknown direct matmul mode {mode!r}")
    if scalar not in ("f32", "i32") or (scalar == "i32" and mode != "scalar"):
        raise ValueError(f"no direct matmul for {scalar} in mode {mode!r}")
    tx, ty, tm, tn = config
    elem = scalar if mode == "scalar" else "vec4<f32>"
    bindings = _matmul_bindings(elem, elem, has_bias, scalar, scalar)
    batch = _batch_lines(batch_rank)
    zero = "0.0" if scalar == "f32" else "0i"
    acc = [f"  var acc{i}_{q} = vec4<{scalar}>({zero});" for i in range(tm) for q in range(tn // 4)]
    # clamped row / column starts: loads stay in bounds, stores are guarded
    rows = [f"  let ra{i} = a_base + i32(min(m0 + {i}u, M - 1u)) * a_sm;" for i in range(tm)]
    rows += [f"  let cb{j} = b_base + i32(min(n0 + {j}u, N - 1u)) * b_sn;" for j in range(tn)]
    if mode == "dot":
        body = [f"    let a{i} = A[u32(ra{i} + i32(k)) >> 2u];" for i in range(tm)]
        body += [f"    let b{j} = B[u32(cb{j} + i32(k)) >> 2u];" for j in range(tn)]
        for i in range(tm):
            for q in range(tn // 4):
                dots = ", ".join(f"dot(a{i}, b{4 * q + c})" for c in range(4))
                body.append(f"    acc{i}_{q} = acc{i}_{q} + vec4<f32>({dots});")
        loop = ["  for (var k = 0u; k < K; k = k + 4u) {", *body, "  }"]
    elif mode == "vec":
        body = [f"    let a{i} = A[u32(ra{i} + i32(k)) >> 2u];" for i in range(tm)]
        for kk in range(4):
            body += [
                f"    let b{kk}_{q} = B[u32(b_base + i32(k + {kk}u) * b_sk + i32(min(n0 + "
                f"{4 * q}u, N - 4u))) >> 2u];"
                for q in range(tn // 4)
            ]
            for i in range(tm):
                for q in range(tn // 4):
                    body.append(
                        f"    acc{i}_{q} = fma(vec4<f32>(a{i}[{kk}]), b{kk}_{q}, acc{i}_{q});"
                    )
        loop = ["  for (var k = 0u; k < K; k = k + 4u) {", *body, "  }"]
    else:
        body = [f"    let a{i} = A[u32(ra{i} + i32(k) * a_sk)];" for i in range(tm)]
        for q in range(tn // 4):
            parts = ", ".join(f"B[u32(cb{4 * q + c} + i32(k) * b_sk)]" for c in range(4))
            body.append(f"    let b{q} = vec4<{scalar}>({parts});")
        for i in range(tm):
            for q in range(tn // 4):
                if scalar == "f32":
                    body.append(f"    acc{i}_{q} = fma(vec4<f32>(a{i}), b{q}, acc{i}_{q});")
                else:
                    body.append(f"    acc{i}_{q} = acc{i}_{q} + vec4<i32>(a{i}) * b{q};")
        loop = ["  for (var k = 0u; k < K; k = k + 1u) {", *body, "  }"]
    if scalar == "i32":
        if activation not in (None, "relu"):
            raise ValueError(f"int32 matmul takes no {activation!r} activation")
        epi = _epilogue(tm, tn, has_bias, None, "m0", "n0")
        if activation == "relu":
            epi = [line.replace("C[u32(", "v = max(v, 0i); C[u32(") for line in epi]
    else:
        epi = _epilogue(tm, tn, has_bias, activation, "m0", "n0")
    return template("matmul_direct.wgsl").substitute(
        COMMON=common() if activation in ("gelu", "gelu_tanh", "sigmoid", "tanh") else "",
        BINDINGS="\n".join(bindings),
        PARAMS=params_block(len(bindings), matmul_words(batch_rank)),
        TX=tx,
        TY=ty,
        TM=tm,
        TN=tn,
        BATCH="\n".join(batch),
        ACC_DECL="\n".join(acc),
        ROWS="\n".join(rows),
        LOOP="\n".join(loop),
        EPILOGUE="\n".join(epi),
    )


def _batch_lines(br: int) -> list[str]:
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


def _epilogue(
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
    act = ACTIVATIONS[activation]
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


# --- register-tiled matmul (shared memory, double-buffered; the autotuner's GPU candidates) ---

MATMUL_REG_CONFIGS = {
    # name: (BM, BN, BK, TM, TN); (BN / TN) x (BM / TM) threads, TM and TN multiples of 4.
    # On an H100 (Dawn, Vulkan) r128x128x8_16x8 ran fp32 4096^2 at ~43 TFLOP/s, 0.84-0.86 of
    # cuBLAS; r128x64x16_8x4 led at 1024 (bench/results/2026-11-21-h100-autotune.json).
    "r64x64x16_4x4": (64, 64, 16, 4, 4),  # 256 threads
    "r64x64x8_8x8": (64, 64, 8, 8, 8),  # 64
    "r128x64x16_8x4": (128, 64, 16, 8, 4),  # 256
    "r64x128x16_4x8": (64, 128, 16, 4, 8),  # 256
    "r128x128x8_8x8": (128, 128, 8, 8, 8),  # 256
    "r128x128x16_8x8": (128, 128, 16, 8, 8),  # 256, 32 KiB of shared memory
    "r128x128x8_16x8": (128, 128, 8, 16, 8),  # 128
    "r256x128x8_16x8": (256, 128, 8, 16, 8),  # 256
    "r128x256x8_8x16": (128, 256, 8, 8, 16),  # 256
}


def matmul_reg_shared_bytes(config: tuple[int, ...]) -> int:
    bm, bn, bk = config[:3]
    return 2 * (bm + bn) * bk * 4


def matmul_reg_threads(config: tuple[int, ...]) -> int:
    bm, bn, _, tm, tn = config[:5]
    return (bm // tm) * (bn // tn)


@functools.cache
def matmul_reg_source(
    config: tuple[int, int, int, int, int],
    a_mode: str,
    b_mode: str,
    c_vec4: bool,
    aligned: bool,
    batch_rank: int,
    has_bias: bool,
    activation: str | None,
) -> str:
    """*a_mode* / *b_mode* as ``matmul_source``; *c_vec4*: C is n-contiguous and 16-byte aligned
    (vec4 stores); *aligned*: M, N, K are multiples of BM, BN, BK (no bounds checks at all)."""
    bm, bn, bk, tm, tn = config
    tx, ty = bn // tn, bm // tm
    nt, rm, rn = tx * ty, tm // 4, tn // 4
    c_elem = "vec4<f32>" if c_vec4 else "f32"
    bindings = _matmul_bindings(_elem_of(a_mode), _elem_of(b_mode), has_bias, c_elem)
    a_decl, a_load, a_store = _reg_tile_io("A", a_mode, bm, bk, nt, aligned)
    b_decl, b_load, b_store = _reg_tile_io("B", b_mode, bn, bk, nt, aligned)
    acc = [f"  var acc{i}_{q} = vec4<f32>(0.0);" for i in range(tm) for q in range(rn)]

    inner = []  # unrolled over the BK steps: k is a constant in every shared-memory address
    for kk in range(bk):
        inner.append("    {")
        inner += [f"      let a{r} = As[buf][{kk}u][lid.y + {r * ty}u];" for r in range(rm)]
        inner += [f"      let b{q} = Bs[buf][{kk}u][lid.x + {q * tx}u];" for q in range(rn)]
        for r in range(rm):
            for i in range(4):
                for q in range(rn):
                    t = f"acc{4 * r + i}_{q}"
                    inner.append(f"      {t} = fma(vec4<f32>(a{r}[{i}]), b{q}, {t});")
        inner.append("    }")
    guards = (
        "This specialization assumes M, N, K are multiples of the tile (no bounds checks)."
        if aligned
        else "Loads past M, N, K read zeros; stores past M, N are skipped."
    )
    return template("matmul_reg.wgsl").substitute(
        GUARDS=guards,
        COMMON=common() if activation in ("gelu", "gelu_tanh", "sigmoid", "tanh") else "",
        BINDINGS="\n".join(bindings),
        PARAMS=params_block(len(bindings), matmul_words(batch_rank)),
        BM4=bm // 4,
        BN4=bn // 4,
        BM=bm,
        BN=bn,
        BK=bk,
        TM=tm,
        TN=tn,
        TX=tx,
        TY=ty,
        BATCH="\n".join(_batch_lines(batch_rank)),
        ACC_DECL="\n".join(acc),
        REG_DECL="\n".join(a_decl + b_decl),
        LOAD="\n".join(a_load + b_load),
        STORE="\n".join(a_store + b_store),
        INNER="\n".join(inner),
        EPILOGUE="\n".join(
            _reg_epilogue(rm, rn, tx, ty, c_vec4, aligned, has_bias, ACTIVATIONS[activation])
        ),
    )


def _reg_tile_io(
    src: str, mode: str, bx: int, bk: int, nt: int, aligned: bool
) -> tuple[list[str], list[str], list[str]]:
    """Per-thread offsets and registers, global -> register loads (at ``k0``) and register ->
    shared stores (into buffer ``buf``) of a (bk x bx) tile, ``dst[buf][k][x / 4]``."""
    if src == "A":
        r, dst, base, sx, sk, gx0, lim = "ra", "As", "a_base", "a_sm", "a_sk", "m0", "M"
    else:
        r, dst, base, sx, sk, gx0, lim = "rb", "Bs", "b_base", "b_sn", "b_sk", "n0", "N"
    axis, vec = mode[0], mode.endswith("4")
    per = 4 if vec else 1
    total = bx * bk // per
    elem = "vec4<f32>" if vec else "f32"
    decl, load, store = [], [], []
    for j in range(-(-total // nt)):
        e = f"(li + {j * nt}u)"
        if axis == "k":
            kk, xx = f"({e} % {bk // per}u) * {per}u", f"{e} / {bk // per}u"
        else:
            kk, xx = f"{e} / {bx // per}u", f"({e} % {bx // per}u) * {per}u"
        decl += [f"  let {r}k{j} = {kk};", f"  let {r}x{j} = {xx};", f"  var {r}{j}: {elem};"]
        # the loaded axis has stride 1 in vec4 modes: no multiply
        k_term = f"i32(k0 + {r}k{j})" + ("" if vec and axis == "k" else f" * {sk}")
        x_term = f"i32({gx0} + {r}x{j})" + ("" if vec and axis != "k" else f" * {sx}")
        index = f"u32({base} + {x_term} + {k_term})" + (" >> 2u" if vec else "")
        value = f"{src}[{index}]"
        inside = f"{gx0} + {r}x{j} < {lim} && k0 + {r}k{j} < K"
        line = f"{r}{j} = {value};"
        if not aligned:
            line = f"{r}{j} = {elem}(0.0); if ({inside}) {{ {line} }}"
        if (j + 1) * nt > total:
            line = f"if ({e} < {total}u) {{ {line} }}"
        load.append(f"      {line}")
        col = f"{r}x{j} >> 2u"
        if vec and axis == "k":  # 4 consecutive k of one x: 4 rows
            parts = [
                f"{dst}[buf][{r}k{j} + {c}u][{col}][{r}x{j} & 3u] = {r}{j}[{c}];" for c in range(4)
            ]
        elif vec:  # 4 consecutive x: one vec4 of a row
            parts = [f"{dst}[buf][{r}k{j}][{col}] = {r}{j};"]
        else:
            parts = [f"{dst}[buf][{r}k{j}][{col}][{r}x{j} & 3u] = {r}{j};"]
        body = " ".join(parts)
        if (j + 1) * nt > total:
            body = f"if ({e} < {total}u) {{ {body} }}"
        store.append(f"      {body}")
    return decl, load, store


def _reg_epilogue(
    rm: int, rn: int, tx: int, ty: int, c_vec4: bool, aligned: bool, has_bias: bool, act: str
) -> list[str]:
    epi = ["  let c_sm = pi(13u);", "  let c_sn = pi(14u);"]
    epi += ["  let bias_sm = pi(17u);", "  let bias_sn = pi(18u);"]
    bias = (
        "v = v + bias[u32(bias_base + i32(gm) * bias_sm + i32(gn) * bias_sn)];" if has_bias else ""
    )
    for r in range(rm):
        for i in range(4):
            row = f"m0 + {4 * r * ty + i}u + 4u * lid.y"
            epi.append(f"  {{ let gm = {row};" + ("" if aligned else " if (gm < M) {"))
            for q in range(rn):
                col = f"n0 + {4 * q * tx}u + 4u * lid.x"
                acc = f"acc{4 * r + i}_{q}"
                if c_vec4:
                    lines = [f"    {{ let gn0 = {col}; var o = {acc};"]
                    if bias or act:
                        for c in range(4):
                            lines.append(
                                f"      {{ let gn = gn0 + {c}u; var v = o[{c}]; {bias} {act} "
                                f"o[{c}] = v; }}"
                            )
                    store = "C[u32(c_base + i32(gm) * c_sm + i32(gn0)) >> 2u] = o;"
                    lines.append(f"      {store if aligned else f'if (gn0 < N) {{ {store} }}'} }}")
                    epi += lines
                else:
                    for c in range(4):
                        check = "" if aligned else " if (gn < N)"
                        epi.append(
                            f"    {{ let gn = {col} + {c}u;{check} {{ var v = {acc}[{c}]; {bias} "
                            f"{act} C[u32(c_base + i32(gm) * c_sm + i32(gn) * c_sn)] = v; }} }}"
                        )
            epi.append("  }" + ("" if aligned else " }"))
    return epi


# --- subgroup matmul (no shared memory; A rows shared by subgroupBroadcast) --------------------

MATMUL_SUBGROUP_CONFIGS = {
    # name: (workgroup x, 1, TM, TN); needs subgroups of >= TM lanes
    "sg64_8x8": (64, 1, 8, 8),
    "sg64_16x4": (64, 1, 16, 4),
}


@functools.cache
def matmul_subgroup_source(
    config: tuple[int, int, int, int], batch_rank: int, has_bias: bool, activation: str | None
) -> str:
    """A k4 x n4 matmul (A contiguous along K, B along N, 16-byte aligned, K % 4 == 0)."""
    tx, _, tm, tn = config
    bindings = _matmul_bindings("vec4<f32>", "vec4<f32>", has_bias, "f32")
    cols = [f"  let cn{q} = i32(min(n0 + {4 * q}u, N - 4u));" for q in range(tn // 4)]
    acc = [f"  var acc{i}_{q} = vec4<f32>(0.0);" for i in range(tm) for q in range(tn // 4)]
    body = [f"    let a{i} = subgroupBroadcast(av, {i}u);" for i in range(tm)]
    for kk in range(4):
        body += [
            f"    let b{kk}_{q} = B[u32(b_base + i32(k + {kk}u) * b_sk + cn{q}) >> 2u];"
            for q in range(tn // 4)
        ]
        for i in range(tm):
            for q in range(tn // 4):
                body.append(f"    acc{i}_{q} = fma(vec4<f32>(a{i}[{kk}]), b{kk}_{q}, acc{i}_{q});")
    return template("matmul_subgroup.wgsl").substitute(
        COMMON=common() if activation in ("gelu", "gelu_tanh", "sigmoid", "tanh") else "",
        BINDINGS="\n".join(bindings),
        PARAMS=params_block(len(bindings), matmul_words(batch_rank)),
        TX=tx,
        TM=tm,
        TN=tn,
        BATCH="\n".join(_batch_lines(batch_rank)),
        COLS="\n".join(cols),
        ACC_DECL="\n".join(acc),
        BODY="\n".join(body),
        EPILOGUE="\n".join(_epilogue(tm, tn, has_bias, activation, "m0", "n0")),
    )
