"""The register-tiled, double-buffered matmul (``matmul_reg.wgsl``): the autotuner's big GPU
tiles. While one shared-memory buffer is multiplied, the next K tile loads from global memory
into registers, then is stored into the other buffer: one barrier per tile.
Configs: ``MATMUL_REG_CONFIGS`` (their cost: ``matmul_reg_threads``, ``matmul_reg_shared_bytes``).
"""

from __future__ import annotations

import functools

from . import matmul_common as mm
from . import shader
from .uniforms import Uniforms

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
    tx, ty = mm.tile_threads(config)
    return tx * ty


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
    tx, ty = mm.tile_threads(config)
    nt, rm, rn = tx * ty, tm // 4, tn // 4
    c_elem = "vec4<f32>" if c_vec4 else "f32"
    act = shader.ACTIVATIONS[activation]
    bindings = mm.bindings(mm.elem_of(a_mode), mm.elem_of(b_mode), has_bias, c_elem)
    params = mm.matmul_params(batch_rank)
    a_decl, a_load, a_store = _reg_tile_io("A", a_mode, bm, bk, nt, aligned)
    b_decl, b_load, b_store = _reg_tile_io("B", b_mode, bn, bk, nt, aligned)

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
    return shader.template("matmul_reg.wgsl").substitute(
        **mm.float_fields(batch_rank, bindings, activation),
        **mm.tile_fields(config),
        GUARDS=guards,
        BM4=bm // 4,
        BN4=bn // 4,
        ACC_DECL="\n".join(mm.accumulators(tm, tn)),
        REG_DECL="\n".join(a_decl + b_decl),
        LOAD="\n".join(a_load + b_load),
        STORE="\n".join(a_store + b_store),
        INNER="\n".join(inner),
        EPILOGUE="\n".join(_reg_epilogue(params, rm, rn, tx, ty, c_vec4, aligned, has_bias, act)),
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
    params: Uniforms,
    rm: int,
    rn: int,
    tx: int,
    ty: int,
    c_vec4: bool,
    aligned: bool,
    has_bias: bool,
    act: str,
) -> list[str]:
    epi = mm.stride_lines(params)
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
