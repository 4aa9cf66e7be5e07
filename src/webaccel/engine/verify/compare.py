"""Comparing a device's result for one step with the cpu reference's, within the op's tolerance.

The rule is the op tests' (``webaccel.ops``' tolerance table): the reference is already in the
result dtype (the cpu backend computes float32 and rounds to the step's dtype), then
``|got - want| <= atol + rtol * |want|`` elementwise, NaN exactly where the reference has NaN,
infinities exactly, and for ops that only move or select values (and neg / abs / cast) the sign
of a zero too. Subnormal results compare as zero: browsers may flush them (WGSL allows it;
SwiftShader and WebNN's XNNPACK do), which is not a disagreement.

The table states tolerances for terms of magnitude ~1; an accumulating op's absolute slack is
scaled here by the magnitude of the terms it sums (a matmul of values ~30 errs 900 times more
in absolute terms than one of values ~1, and so does any float32 sum).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ... import ops
from ...dtypes import DType
from ...ir import Program, Step
from ...ops import Tolerance
from ...shapes import numel
from ...view import View

np: Any = None  # NumPy, bound by load_numpy (verify needs it; webaccel does not)

NO_NUMPY = (
    "webaccel.verify needs NumPy: it runs each program again on the cpu backend, which is NumPy, "
    "and compares. On CPython: `pip install numpy`; in Pyodide 0.27: "
    "`await pyodide.loadPackage('numpy')` before turning verify on. Pyodide 314 has no NumPy "
    "package, so verify cannot run there"
)

# ops that only move, select or copy values, and neg / abs / cast: IEEE fixes the sign of a
# zero they give, so a wrong sign is a disagreement even at tolerance 0
SIGNED_ZERO_OPS = frozenset(
    {"neg", "abs", "cast", "contiguous", "concat", "gather", "where", "full", "max_pool2d"}
)


def load_numpy() -> Any:
    global np
    if np is None:
        try:
            import numpy  # optional: only verify needs it
        except ImportError as exc:
            raise ImportError(NO_NUMPY) from exc
        np = numpy
    return np


@dataclass(frozen=True)
class Mismatch:
    """How a device's result for one step differs from the reference's."""

    count: int  # elements outside the rule
    total: int
    index: tuple[int, ...]  # the first such element, in the result's shape
    got: Any
    want: Any
    max_error: float  # the largest |got - want| over elements both give finite
    tolerance: Tolerance
    rule: str  # what the first element breaks: "NaN", "infinity", "sign of zero", "tolerance"

    def __str__(self) -> str:
        rtol, atol = self.tolerance
        return (
            f"{self.count} of {self.total} elements differ (first at {self.index}: got "
            f"{self.got!r}, cpu {self.want!r}: {self.rule}); max |error| {self.max_error:.3g} "
            f"against rtol={rtol:.3g}, atol={atol:.3g}"
        )


class StepValues:
    """The bytes behind a program's slots: its inputs' storages, then every step's result."""

    def __init__(self, program: Program, inputs: list[bytes], steps: list[bytes]) -> None:
        self.program, self.inputs, self.steps = program, inputs, steps

    def storage_of(self, slot: int) -> tuple[bytes, int, DType]:
        """(bytes, elements, dtype) of the storage in *slot*."""
        n = self.program.n_inputs
        if slot < n:
            count, dtype = self.program.inputs[slot]
            return self.inputs[slot], count, dtype
        step = self.program.steps[slot - n]
        return self.steps[slot - n], numel(step.shape), step.dtype

    def src_array(self, slot: int, view: View, dtype: DType) -> Any:
        """The NumPy array a step reads: *slot*'s bytes through *view* as *dtype* (None for
        int4, which has no NumPy type)."""
        if dtype.numpy is None:
            return None
        data = self.storage_of(slot)[0]
        flat = np.frombuffer(data, dtype.numpy)
        if view.numel == 0:
            return np.zeros(view.shape, flat.dtype)
        return np.lib.stride_tricks.as_strided(
            flat[view.offset :], view.shape, tuple(s * flat.itemsize for s in view.strides)
        )


def step_tolerance(step: Step, values: StepValues) -> Tolerance:
    """The tolerance of *step* from the op table, widened by how the reference's inputs
    condition it: accumulating ops by the magnitude of the terms, normalizations by how large
    the values are against the spread they are divided by."""
    shapes = [v.shape for _, v, _ in step.srcs]
    dtypes = [d for _, _, d in step.srcs]
    tol = ops.tolerance(step.op, dict(step.attrs), shapes, dtypes, step.dtype)
    kind = ops.OPS[step.op].tolerance
    if kind not in ("accumulate", "norm") or tol.atol == 0:
        return tol
    arrays = [values.src_array(slot, v, d) for slot, v, d in step.srcs]
    if kind == "norm":
        return Tolerance(tol.rtol, tol.atol + NORM_SLACK * _conditioning(step, arrays))
    factors = [_magnitude(a) for a in arrays]
    if step.op in ("sum", "mean"):
        scale = factors[0]
    elif step.op == "linear_q":  # x times codes (int4 up to 8, int8 up to 128) times scales
        scale = factors[0] * (factors[1] if factors[1] else 8.0) * factors[2]
    else:  # matmul, linear, conv: products of the first two inputs
        scale = factors[0] * factors[1]
    return Tolerance(tol.rtol, tol.atol * max(1.0, scale))


# A normalization subtracts a mean (or a row's max) from values of magnitude |x| and divides by
# a spread s: float32 rounding of the difference (eps * |x|, eps = 1.2e-7) grows to eps * |x| / s
# in the result. The table's NORM assumes |x| / s ~ 1; 1e-6 (8 eps) per unit of |x| / s covers
# the rest (layer_norm of values ~1000 with spread 1: the op tests allow 2e-4 there).
NORM_SLACK = 1e-6


def _conditioning(step: Step, arrays: list[Any]) -> float:
    """|x| / s for a normalization step (see NORM_SLACK); 0 where it cannot be had."""
    x = arrays[0]
    if x is None or x.size == 0:
        return 0.0
    x = x.astype(np.float64)
    with np.errstate(all="ignore"):
        if step.op == "softmax":  # exp(x - max): the rounding of x - max, in units of 1
            axis = dict(step.attrs)["axis"]
            return _magnitude(np.max(x, axis=axis))
        if step.op == "layer_norm":
            axes = tuple(dict(step.attrs)["axes"])
            eps = float(dict(step.attrs).get("eps", 1e-5))
            spread = np.sqrt(np.var(x, axis=axes, keepdims=True) + eps)
            return _magnitude(np.max(np.abs(x), axis=axes, keepdims=True) / spread)
        if step.op == "batch_norm":  # x, mean, var, weight, bias; spread from var
            var, weight = arrays[2], arrays[3]
            eps = float(dict(step.attrs).get("eps", 1e-5))
            spread = float(np.sqrt(np.min(var.astype(np.float64)) + eps)) if var.size else 1.0
            top = _magnitude(x) + _magnitude(arrays[1])
            return top * max(1.0, _magnitude(weight)) / spread if spread > 0 else 0.0
    return 0.0


def _magnitude(arr: Any) -> float:
    if arr is None or arr.size == 0:
        return 0.0
    a = np.abs(arr.astype(np.float64))
    finite = a[np.isfinite(a)]  # NaN / inf terms give NaN / inf results, compared exactly
    return float(finite.max()) if finite.size else 0.0


def compare(got: bytes, want: bytes, step: Step, tol: Tolerance) -> Mismatch | None:
    """None when *got* (the device's bytes for *step*) agrees with *want* (the reference's)."""
    if got == want:
        return None
    dtype, shape = step.dtype, step.shape
    total = numel(shape)
    if dtype.numpy is None:  # packed int4: exact, nibble by nibble
        g, w = _nibbles(got, total), _nibbles(want, total)
    else:
        g = np.frombuffer(got, dtype.numpy).astype(np.float64)
        w = np.frombuffer(want, dtype.numpy).astype(np.float64)
    if g.shape != w.shape:
        sizes = f"{len(got)} bytes", f"{len(want)} bytes"
        return Mismatch(total, total, (), *sizes, 0.0, tol, "size")
    with np.errstate(all="ignore"):
        rules = _breaks(g, w, tol, dtype, step.op in SIGNED_ZERO_OPS)
    bad = np.zeros(g.shape, bool)
    for _, broken in rules:
        bad |= broken
    if not bad.any():
        return None
    first = int(np.flatnonzero(bad)[0])
    rule = next(name for name, broken in rules if broken[first])
    both_finite = np.isfinite(g) & np.isfinite(w)
    err = np.abs(g - w)[both_finite]
    kind = float if dtype.kind == "f" else int
    return Mismatch(
        int(bad.sum()),
        total,
        tuple(int(i) for i in np.unravel_index(first, shape)) if shape else (),
        kind(g[first]),
        kind(w[first]),
        float(err.max()) if err.size else 0.0,
        tol,
        rule,
    )


def _breaks(g: Any, w: Any, tol: Tolerance, dtype: DType, signs: bool) -> list[tuple[str, Any]]:
    """Each rule's name and where it is broken. Browsers may flush subnormal float results to
    zero of either sign (WGSL allows it), so subnormals compare as zero, and only exact zeros on
    both sides must agree in sign (for the ops in ``SIGNED_ZERO_OPS``)."""
    rules = []
    if dtype.kind == "f":
        if signs:
            zeros = (g == 0) & (w == 0)
            rules.append(("sign of zero", zeros & (np.signbit(g) != np.signbit(w))))
        tiny = float(np.finfo(dtype.numpy).tiny)
        g = np.where(np.abs(g) < tiny, 0.0, g)
        w = np.where(np.abs(w) < tiny, 0.0, w)
    gnan, wnan = np.isnan(g), np.isnan(w)
    either_inf = (np.isinf(g) | np.isinf(w)) & ~(gnan | wnan)
    finite = ~(gnan | wnan | either_inf)
    return [
        ("NaN", gnan != wnan),
        ("infinity", either_inf & (g != w)),
        ("tolerance", finite & (np.abs(g - w) > tol.atol + tol.rtol * np.abs(w))),
        *rules,
    ]


def flush_subnormals(program: Program, inputs: list[bytes], sign: str) -> list[bytes] | None:
    """*inputs* with subnormal float values replaced by zeros, as a GPU may read them (WGSL
    lets it; which zero is not said, and SwiftShader gives either): *sign* "keep" keeps each
    value's sign, "+" and "-" use that zero for all. None when there are no subnormals."""
    out, changed = [], False
    for data, (_, dtype) in zip(inputs, program.inputs, strict=True):
        if dtype.kind == "f" and dtype.numpy is not None and data:
            arr = np.frombuffer(data, dtype.numpy)
            sub = (arr != 0) & (np.abs(arr) < np.finfo(arr.dtype).tiny)
            if sub.any():
                like = arr if sign == "keep" else arr.dtype.type(-1.0 if sign == "-" else 1.0)
                data = np.where(sub, np.copysign(arr.dtype.type(0), like), arr).tobytes()
                changed = True
        out.append(data)
    return out if changed else None


FLUSH_SIGNS = ("keep", "+", "-")


def _nibbles(data: bytes, count: int) -> Any:
    packed = np.frombuffer(data, np.uint8)
    return np.stack([packed & 0xF, packed >> 4], axis=-1).reshape(-1)[:count].astype(np.float64)
