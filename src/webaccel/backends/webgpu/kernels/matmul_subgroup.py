"""The subgroup matmul (``matmul_subgroup.wgsl``; the ``subgroups`` feature): no shared memory,
rows of A shared between lanes with ``subgroupBroadcast``. Needs A contiguous along K and B
along N (vec4 loads) and subgroups of at least TM lanes; only the autotuner picks it.
Configs: ``MATMUL_SUBGROUP_CONFIGS``.
"""

from __future__ import annotations

import functools

from . import matmul_common as mm
from . import shader

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
    tm, tn = config[2:]
    bindings = mm.bindings("vec4<f32>", "vec4<f32>", has_bias, "f32")
    params = mm.matmul_params(batch_rank)
    cols = [f"  let cn{q} = i32(min(n0 + {4 * q}u, N - 4u));" for q in range(tn // 4)]
    body = [f"    let a{i} = subgroupBroadcast(av, {i}u);" for i in range(tm)]
    for kk in range(4):
        body += [
            f"    let b{kk}_{q} = B[u32(b_base + i32(k + {kk}u) * b_sk + cn{q}) >> 2u];"
            for q in range(tn // 4)
        ]
        for i in range(tm):
            for q in range(tn // 4):
                body.append(f"    acc{i}_{q} = fma(vec4<f32>(a{i}[{kk}]), b{kk}_{q}, acc{i}_{q});")
    return shader.template("matmul_subgroup.wgsl").substitute(
        **mm.float_fields(batch_rank, bindings, activation, ("a_sm", "b_sk")),
        **mm.block_fields(config),
        COLS="\n".join(cols),
        ACC_DECL="\n".join(mm.accumulators(tm, tn)),
        BODY="\n".join(body),
        EPILOGUE="\n".join(mm.epilogue(params, tm, tn, has_bias, activation, "m0", "n0")),
    )
