"""The register-tiled matmul kernels (``kernels/matmul_reg.py``: ``MATMUL_REG_CONFIGS``, the
autotuner's GPU candidates) on SwiftShader: every config on its fast path (tile-aligned: vec4
loads and stores, no bounds checks) and with bounds checks (odd sizes, scalar loads), against
float64 NumPy.

The subgroup kernels and the autotuner run in the node-lavapipe lane (tests/node), where the
adapter has the ``subgroups`` feature. Chromium lane only: SwiftShader compiles these big
kernels slowly, and one lane is enough to check WGSL that does not depend on the Pyodide.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_webgpu_kernels import Cases, _mm_tol, f32

from webaccel.backends.webgpu.kernels.matmul_reg import MATMUL_REG_CONFIGS

pytestmark = pytest.mark.driver_timeout(900)


@pytest.mark.lanes("chromium")
def test_register_tiled_configs(selenium):
    c = Cases()
    sa, va = c.dense(f32(256, 32))
    sb, vb = c.dense(f32(32, 256))
    so, voa = c.dense(f32(37, 29))
    sp, vob = c.dense(f32(29, 41))
    for cfg in MATMUL_REG_CONFIGS:
        for name, a, b, ea, eb, k in [
            ("aligned", sa, sb, va, vb, 32),
            ("odd", so, sp, voa, vob, 29),
        ]:
            c.add(
                f"{cfg} {name}",
                "matmul",
                {"a": a, "b": b},
                ["@a", "@b"],
                {"config": cfg},
                ea.astype(np.float64) @ eb,
                *_mm_tol(k),
            )
    c.check(selenium)
