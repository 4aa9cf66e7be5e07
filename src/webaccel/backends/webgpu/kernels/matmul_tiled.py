"""The shared-memory tiled matmul (``matmul_tiled.wgsl``): the default on GPUs.

Each workgroup computes a BM x BN tile of C through shared-memory tiles of depth BK; each thread
a TM x TN register tile. Operand tiles load as scalars or vec4 (``*_load`` modes: "k" / "m" /
"n" scalar loads with consecutive threads along that axis, "k4" / "m4" / "n4" vec4 along it).
Configs: ``MATMUL_CONFIGS``; ``matmul.py`` picks one and packs the uniforms.
"""

from __future__ import annotations

import functools

from . import matmul_common as mm
from . import shader

MATMUL_CONFIGS = {
    # name: (BM, BN, BK, TM, TN)
    "64x64x16_4x4": (64, 64, 16, 4, 4),
    "32x32x16_4x4": (32, 32, 16, 4, 4),
    "64x64x8_8x8": (64, 64, 8, 8, 8),
    "16x64x16_4x4": (16, 64, 16, 4, 4),
}


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
    tx, ty = mm.tile_threads(config)
    nt = tx * ty
    bindings = mm.bindings(mm.elem_of(a_load), mm.elem_of(b_load), has_bias, "f32")
    params = mm.matmul_params(batch_rank)
    inner = [f"      let ab = kk * {bm // 4}u + lid.y * {tm // 4}u;"]
    inner += [f"      let a{p} = As[ab + {p}u];" for p in range(tm // 4)]
    inner += [f"      let bb = kk * {bn // 4}u + lid.x * {tn // 4}u;"]
    inner += [f"      let b{q} = Bs[bb + {q}u];" for q in range(tn // 4)]
    for i in range(tm):
        for q in range(tn // 4):
            inner.append(
                f"      acc{i}_{q} = fma(vec4<f32>(a{i // 4}[{i % 4}]), b{q}, acc{i}_{q});"
            )
    row0, col0 = f"m0 + lid.y * {tm}u", f"n0 + lid.x * {tn}u"
    epi = mm.epilogue(params, tm, tn, has_bias, activation, row0, col0)
    return shader.template("matmul_tiled.wgsl").substitute(
        **mm.float_fields(batch_rank, bindings, activation),
        **mm.tile_fields(config),
        AS_LEN=bm * bk // 4,
        BS_LEN=bn * bk // 4,
        NT=nt,
        ACC_DECL="\n".join(mm.accumulators(tm, tn)),
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
