"""The matmul autotuner: per adapter and shape class, the fastest correct kernel config.

``await tune_async(ctx, m, n, k)`` times every candidate (``candidates``) on the adapter -- GPU
timestamps where it has them, else the wall clock -- keeps the fastest whose output equals the
reference kernel's, and records the answer in the tuning table (``tuning.py``: per adapter,
then shape class; persisted in ``localStorage`` or ``$WEBACCEL_CACHE_DIR``). ``kernels.matmul``
(and through it the ``matmul``, ``linear`` and ``conv`` lowerings) reads that table when no
config is given (``choice``), else takes ``kernels.default_matmul_config``.

The tuning data are multiples of 1/8, so every sum is exact in float32 and any correct kernel
gives the reference's bits: a candidate whose sampled rows differ is rejected, whatever its
speed.
"""

from __future__ import annotations

import array
import math
import random
import time
from typing import Any

from . import kernels, tuning
from .kernels.matmul import tuned_config
from .kernels.matmul_direct import MATMUL_DIRECT_CONFIGS
from .kernels.matmul_reg import MATMUL_REG_CONFIGS, matmul_reg_shared_bytes, matmul_reg_threads
from .kernels.matmul_subgroup import MATMUL_SUBGROUP_CONFIGS
from .kernels.matmul_tiled import MATMUL_CONFIGS
from .views import StridedView

SOFTWARE_CANDIDATES = (
    "direct_8x8_8x8",
    "direct_8x8_4x8",
    "direct_4x4_8x8",
    "direct_16x16_8x8",
    "64x64x16_4x4",
    "r64x64x8_8x8",
)
HARDWARE_DIRECT = ("direct_8x8_8x8", "direct_16x16_8x8")
# The tuned config for a shape on ctx's adapter, or None: what ``kernels.matmul`` asks.
choice = tuned_config
# The table's keys and cache, from tuning.py (re-exported: they were this module's).
ADAPTER_FIELDS, CACHE_FILE = tuning.ADAPTER_FIELDS, tuning.CACHE_FILE
CACHE_NAME = tuning.CACHE_NAME
adapter_key, size_class, shape_class = tuning.adapter_key, tuning.size_class, tuning.shape_class
cache_path, load_cache, save_cache = tuning.cache_path, tuning.load_cache, tuning.save_cache


# --- candidates ----------------------------------------------------------------------------


def config_cost(name: str) -> tuple[int, int]:
    """(threads per workgroup, bytes of workgroup memory) of a config name."""
    if name in MATMUL_REG_CONFIGS:
        cfg = MATMUL_REG_CONFIGS[name]
        return matmul_reg_threads(cfg), matmul_reg_shared_bytes(cfg)
    if name in MATMUL_SUBGROUP_CONFIGS:
        tx, ty, _, _ = MATMUL_SUBGROUP_CONFIGS[name]
        return tx * ty, 0
    if name in MATMUL_CONFIGS:
        bm, bn, bk, tm, tn = MATMUL_CONFIGS[name]
        return (bm // tm) * (bn // tn), (bm + bn) * bk * 4
    tx, ty, _, _ = MATMUL_DIRECT_CONFIGS[name]
    return tx * ty, 0


def candidates(ctx: Any, a_mode: str, b_mode: str) -> list[str]:
    """The configs worth timing on *ctx*'s adapter for these load modes, within its limits.

    Software adapters (CPU-emulated: barriers are dear) get the direct kernels and two tiled
    ones; GPUs get every shared-memory config, the register-tiled ones, two direct ones and,
    with the ``subgroups`` feature and vec4 loads of A along K and B along N, the subgroup
    kernels."""
    if getattr(ctx, "software", False):
        names = list(SOFTWARE_CANDIDATES)
    else:
        names = [*MATMUL_CONFIGS, *MATMUL_REG_CONFIGS, *HARDWARE_DIRECT]
        if getattr(ctx, "has_subgroups", False) and (a_mode, b_mode) == ("k4", "n4"):
            names += list(MATMUL_SUBGROUP_CONFIGS)
    return [name for name in names if usable(ctx, name)]


def usable(ctx: Any, name: str) -> bool:
    """Whether *ctx*'s adapter can run config *name*: its workgroup size and memory within the
    limits; for a subgroup config, the feature and subgroups of at least its TM lanes."""
    limits = getattr(ctx, "limits", {}) or {}
    threads, shared = config_cost(name)
    if threads > int(limits.get("maxComputeInvocationsPerWorkgroup", 256)):
        return False
    if shared > int(limits.get("maxComputeWorkgroupStorageSize", 16384)):
        return False
    if name in MATMUL_SUBGROUP_CONFIGS:
        min_size = (getattr(ctx, "info", {}) or {}).get("subgroupMinSize") or 0
        tm = MATMUL_SUBGROUP_CONFIGS[name][2]
        return bool(getattr(ctx, "has_subgroups", False)) and int(min_size) >= tm
    return True


# --- tuning --------------------------------------------------------------------------------

POOL_ROWS = 61  # distinct random rows; row i of a tuning matrix is pool row i % 61


def _upload(ctx: Any, rows: int, cols: int, seed: int) -> Any:
    """A (rows x cols) float32 matrix of multiples of 1/8 in [-1, 1], uploaded in blocks."""
    rng = random.Random(seed)
    block = array.array("f", [rng.randint(-8, 8) / 8 for _ in range(POOL_ROWS * cols)]).tobytes()
    handle = ctx.alloc(rows * cols * 4)
    for r0 in range(0, rows, POOL_ROWS):
        nrows = min(POOL_ROWS, rows - r0)
        ctx.write(handle, memoryview(block)[: nrows * cols * 4], r0 * cols * 4)
    return handle


async def time_us(ctx: Any, record: Any, reps: int) -> float:
    """Mean microseconds of one *record*ed dispatch, over *reps* in one batch."""
    t0 = time.perf_counter()
    batch = ctx.batch(timing=True)
    for _ in range(reps):
        record(batch)
    batch.submit()
    ns = await batch.gpu_time_ns_async()
    if ns is None:  # no timestamp queries: the wall clock, up to a read that waits for the GPU
        probe = ctx.alloc(4)
        await ctx.read_async(probe, 4)
        ctx.release(probe)
        ns = (time.perf_counter() - t0) * 1e9
    return ns / reps / 1e3


def batch_reps(us: float, batch_ms: float) -> int:
    """How many dispatches of *us* microseconds fill about *batch_ms* of one batch (1 ... 200)."""
    return max(1, min(200, round(batch_ms * 1e3 / max(us, 1.0))))


async def warm_async(
    ctx: Any, record: Any, reps: int, min_ms: float = 300.0, max_ms: float = 3000.0
) -> float:
    """Run *record* in batches of *reps* for at least *min_ms* and until its time per dispatch
    has stopped improving (five batches within 2% of the best), at most *max_ms*; returns the
    best microseconds. A GPU that idled (while pipelines compiled, say) can take a second to
    clock back up, and a timing taken before that is worth nothing."""
    t0, best, calm = time.perf_counter(), math.inf, 0
    while True:
        us = await time_us(ctx, record, reps)
        calm = 0 if us < 0.98 * best else calm + 1
        best = min(best, us)
        elapsed = (time.perf_counter() - t0) * 1e3
        if (elapsed >= min_ms and calm >= 5) or elapsed >= max_ms:
            return best


async def _rows(ctx: Any, out: StridedView, rows: list[int], n: int) -> list[list[float]]:
    got = []
    for r in rows:
        raw = await ctx.read_async(out.buffer, 4 * n, 4 * r * n)
        got.append(array.array("f", bytes(raw)).tolist())
    return got


async def tune_async(
    ctx: Any,
    m: int,
    n: int,
    k: int,
    *,
    a_transposed: bool = False,
    b_transposed: bool = False,
    batch: int = 1,
    configs: list[str] | None = None,
    rounds: int = 3,
    batch_ms: float = 2.0,
    warm_ms: float = 300.0,
    save: bool = True,
) -> dict[str, Any]:
    """Time the candidates for ``(batch x) m x k @ k x n`` and remember the fastest correct one.

    *b_transposed*: B is the transpose of a row-major (n x k) matrix, as ``linear``'s weight;
    *a_transposed* likewise for A. Every candidate is built and checked first; then, after a
    warm-up, all are timed in *rounds* interleaved rounds (each in batches of ~*batch_ms* of
    GPU work) and keep their best, so that a clock that drifts favours none. Returns the cache
    entry with ``class`` added: ``{"config", "us": {config: microseconds}, "rejected": {config:
    reason}, "at"}``.
    """
    lead = (batch,) if batch > 1 else ()
    a_shape, b_shape = ((k, m) if a_transposed else (m, k)), ((n, k) if b_transposed else (k, n))
    a_h = _upload(ctx, batch * a_shape[0], a_shape[1], 1)
    b_h = _upload(ctx, batch * b_shape[0], b_shape[1], 2)
    a = StridedView(a_h, lead + a_shape)
    b = StridedView(b_h, lead + b_shape)
    a = a.transpose(-1, -2) if a_transposed else a
    b = b.transpose(-1, -2) if b_transposed else b
    out = StridedView(ctx.alloc(batch * m * n * 4), (*lead, m, n))
    a_mode, b_mode = kernels.load_modes(a, b)
    key = shape_class(m, n, k, a_mode, b_mode, batch > 1)
    names = configs if configs is not None else candidates(ctx, a_mode, b_mode)
    reference = kernels.default_matmul_config(ctx, m, n, k)
    sample = sorted({0, m // 3, m // 2, m - 1, (7 * m) // 8})
    first: dict[str, float] = {}
    rejected: dict[str, str] = {}

    def run(name: str) -> Any:
        return lambda b_: kernels.matmul(b_, a, b, out=out, config=name)

    try:
        first[reference] = await time_us(ctx, run(reference), 1)  # compiles
        want = await _rows(ctx, out, sample, n)
        for name in names:
            try:
                first[name] = await time_us(ctx, run(name), 1)  # compile + first run
                if await _rows(ctx, out, sample, n) != want:
                    rejected[name] = "wrong result"
            except Exception as exc:  # a kernel this adapter cannot build is not chosen
                rejected[name] = f"{type(exc).__name__}: {exc}"[:300]
        good = [name for name in names if name not in rejected]
        ref_reps = batch_reps(first[reference], 5.0)
        await warm_async(ctx, run(reference), ref_reps, warm_ms)
        times = {name: math.inf for name in good}
        for _ in range(rounds):
            for name in good:
                us = await time_us(ctx, run(name), batch_reps(first[name], batch_ms))
                times[name] = min(times[name], us)
    finally:
        for h in (a_h, b_h, out.buffer):
            ctx.release(h)
    best = min(times, key=times.__getitem__) if times else reference
    entry = {"config": best, "us": times, "rejected": rejected, "at": time.time()}
    tuning.record(ctx, key, entry, save)
    return {"class": key, **entry}
