"""The matmul without shared memory (``matmul_direct.wgsl``): each thread computes a TM x TN
block of C straight from A and B. No barriers: the default on CPU-emulated adapters
(SwiftShader, lavapipe), for matrix-vector shapes and for int32 (exact i32 accumulators).
Configs: ``MATMUL_DIRECT_CONFIGS``; modes ``DIRECT_MODES``.
"""

from __future__ import annotations

import functools

from . import matmul_common as mm
from . import shader
from .expr import relu

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
    tm, tn = config[2:]
    elem = scalar if mode == "scalar" else "vec4<f32>"
    bindings = mm.bindings(elem, elem, has_bias, scalar, scalar)
    params = mm.matmul_params(batch_rank)
    # B's column starts, clamped as A's rows are (mm.thread_block)
    cols = [f"  let cb{j} = b_base + i32(min(n0 + {j}u, N - 1u)) * b_sn;" for j in range(tn)]
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
        epi = mm.epilogue(params, tm, tn, has_bias, None, "m0", "n0")
        if activation == "relu":
            epi = [line.replace("C[u32(", f"v = {relu('v', 'i32')}; C[u32(") for line in epi]
    else:
        epi = mm.epilogue(params, tm, tn, has_bias, activation, "m0", "n0")
    return shader.template("matmul_direct.wgsl").substitute(
        **mm.float_fields(batch_rank, bindings, activation if scalar == "f32" else None),
        **mm.block_fields(config),
        BLOCK=mm.thread_block(tm, tn, cols, loop, epi, scalar),
    )
