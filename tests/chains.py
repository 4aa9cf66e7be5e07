"""Random chains of public ops (Hypothesis, our own generators) and how they are checked.

A chain is a few public calls (``tests/chain_exec.py`` runs it through the webaccel API, on the
host or in a page) over input arrays: elementwise unary/binary ops with broadcasting and Python
scalars, where, cast, reductions, matmul/linear, softmax, layer_norm and views (reshape,
permute, slice with negative steps, expand, unsqueeze/squeeze, bitcast, contiguous). Shapes
include size-0 and size-1 dims and odd sizes; views make operands non-contiguous; values mix
ordinary numbers with NaN, +-inf, -0.0, huge (near the float32/float16 max) and tiny ones.

Each chain is checked twice (``check_chain``):

* **stepwise**: every step's value is an output (all held live, so no pass or fusion merges
  them), and each is compared with the float64 reference of its op computed from the values
  the backend gave its operands, with the op's tolerance (``chain_reference``). This pins a
  disagreement to one op.
* **whole**: only the last value is read, so graph passes and elementwise fusion see the whole
  chain, as they do in a user's program. It is compared with the reference chain (every op
  rounded to its dtype) and with variants of it where each op's result moves within what the
  rules leave open (its tolerance, the sign of an unspecified zero, an order-dependent overflow,
  float32 subnormals flushed in browsers): the value must lie within the span of those, plus the
  last op's tolerance; NaN must agree where all variants agree.

Browser lanes (no Hypothesis there) run ``collect(n)``: the same chains every run
(``derandomize``), generated on the host, serialized (``Chain.payload``) and run in the page.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import chain_exec
import numpy as np
from chain_reference import (
    MAX,
    Result,
    is_float,
    r_binary,
    r_cast,
    r_layer_norm,
    r_linear,
    r_matmul,
    r_reduce,
    r_softmax,
    r_unary,
    r_view,
    r_where,
)
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

F32_EDGE = (
    np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.4028235e38, -3.4028235e38,
    3e38, -3e38, 1.7e38, 1e38, -1e30, 1e30, 1e20, -1e19, 88.0, 89.0, -100.0, 1e-30, -1e-30,
    1.1754944e-38, 65504.0, 65520.0, 7e12, -2e13, 1e-45,
)  # fmt: skip
F16_EDGE = (
    np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, 65504.0, -65504.0, 60000.0, 300.0,
    -300.0, 11.1, 6.104e-5, -1e-4, 2049.0, 1e-7,
)  # fmt: skip
INT_EDGE = (0, 1, -1, 2, -7, 3000, -3000, 65520, 46340, 16777217, -16777217)
SCALARS = (
    2.5, -1.5, 0.0, -0.0, 1.0, 0.1, 3, -7, 0, 2, np.inf, -np.inf, np.nan, 1e38, 65504.0,
    1e-30, True,
)  # fmt: skip
EXPONENTS = (0.0, -0.0, 1.0, 2.0, 3.0, -1.0, 0.5, -2.0, 1 / 3, 2.5, np.inf, -np.inf, np.nan)
DIMS = (0, 1, 1, 2, 3, 4, 5, 7, 13)
MAX_NUMEL = 300
UNARY_FLOAT = ("exp", "log", "sqrt", "rsqrt", "sigmoid", "tanh", "erf", "gelu", "gelu_tanh")
BINARY = ("add", "sub", "mul", "div", "pow", "maximum", "minimum")
FLOATS = ("float32", "float16")


@dataclass(frozen=True)
class Chain:
    """Input arrays and steps ``(op, args, attrs)``; see ``chain_exec`` for the format."""

    inputs: tuple[np.ndarray, ...]
    steps: tuple[tuple[str, tuple[tuple[str, Any], ...], dict], ...]

    @property
    def payload(self) -> dict:
        """The chain as plain data for ``chain_exec`` (no NumPy needed to run it)."""
        return {
            "inputs": [(a.tobytes(), a.shape, a.dtype.name) for a in self.inputs],
            "steps": [(op, args, dict(attrs)) for op, args, attrs in self.steps],
        }

    def describe(self) -> str:
        lines = [f"  v{i} = input {a.dtype.name}{list(a.shape)}" for i, a in enumerate(self.inputs)]
        for k, (op, args, attrs) in enumerate(self.steps):
            shown = ", ".join(f"v{v}" if kind == "v" else repr(v) for kind, v in args)
            extra = "".join(f", {key}={val!r}" for key, val in attrs.items())
            lines.append(f"  v{len(self.inputs) + k} = {op}({shown}{extra})")
        return "\n".join(lines)


# --- the reference of one step ------------------------------------------------------------------


def result_dtype(*dtypes: str) -> str:
    """``dtypes.result_type``: one dtype stays; floats win (float32 over float16); else int32."""
    if all(d == dtypes[0] for d in dtypes):
        return dtypes[0]
    floats = [d for d in dtypes if is_float(d)]
    return ("float32" if "float32" in floats else "float16") if floats else "int32"


def scalar_dtype(value: Any, like: str) -> str:
    """``tensor._as_tensor``: a Python scalar takes its tensor's dtype, except a float scalar
    with an integer tensor, which is float32."""
    return like if is_float(like) or isinstance(value, bool | int) else "float32"


def _operands(args: list[Any]) -> list[np.ndarray]:
    like = next(a for a in args if isinstance(a, np.ndarray)).dtype.name
    out = []
    for a in args:
        if isinstance(a, np.ndarray):
            out.append(a)
        else:
            with np.errstate(all="ignore"):
                out.append(np.array(a, dtype=scalar_dtype(a, like)))
    return out


def ref_step(op: str, args: list[Any], attrs: dict) -> Result:
    """The reference Result of one step from its operand values (arrays or Python scalars)."""
    if op == "unary":
        return r_unary(attrs["fn"], args[0], args[0].dtype.name)
    if op == "binary":
        a, b = _operands(args)
        return r_binary(attrs["fn"], a, b, result_dtype(a.dtype.name, b.dtype.name))
    if op == "where":
        like = next(a for a in (args[1], args[2], args[0]) if isinstance(a, np.ndarray))
        c, a, b = (
            x if isinstance(x, np.ndarray) else np.array(x, scalar_dtype(x, like.dtype.name))
            for x in args
        )
        return r_where(c, a, b, result_dtype(a.dtype.name, b.dtype.name))
    if op == "cast":
        return r_cast(args[0], attrs["dtype"])
    if op == "reduce":
        x = args[0]
        return r_reduce(attrs["fn"], x, attrs["axes"], attrs["keepdims"], x.dtype.name)
    if op == "matmul":
        return r_matmul(args[0], args[1], result_dtype(args[0].dtype.name, args[1].dtype.name))
    if op == "linear":
        x, w, *b = args
        dtype = result_dtype(x.dtype.name, w.dtype.name, (b[0] if b else x).dtype.name)
        return r_linear(x, w, b[0] if b else None, dtype)
    if op == "softmax":
        return r_softmax(args[0], attrs["axis"], args[0].dtype.name)
    if op == "layer_norm":
        x, w, b = [*args, None, None][:3]
        names = [t.dtype.name for t in (x, w, b) if t is not None] + [x.dtype.name]
        return r_layer_norm(x, attrs["n"], w, b, attrs["eps"], result_dtype(*names))
    x = args[0]
    return r_view(op, x, attrs, attrs["dtype"] if op == "bitcast" else x.dtype.name)


# --- generating chains --------------------------------------------------------------------------


def _float_values(rng: np.random.Generator, n: int, dtype: str, edge: float) -> np.ndarray:
    scale = rng.choice([1.0, 3.0, 100.0]) if dtype == "float32" else rng.choice([1.0, 3.0, 30.0])
    v = rng.standard_normal(n) * scale
    pool = np.array(F32_EDGE if dtype == "float32" else F16_EDGE)
    mask = rng.random(n) < edge
    v[mask] = rng.choice(pool, int(mask.sum()))
    with np.errstate(all="ignore"):
        return v.astype(dtype)


def _int_values(rng: np.random.Generator, n: int, edge: float) -> np.ndarray:
    v = rng.integers(-20, 21, n)
    mask = rng.random(n) < edge
    v[mask] = rng.choice(np.array(INT_EDGE), int(mask.sum()))
    return v.astype(np.int32)


class Builder:
    """One chain being drawn: its inputs and steps, each value's reference as it grows."""

    def __init__(self, draw: Callable[[Any], Any]) -> None:
        self.draw = draw
        self.rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        self.inputs: list[np.ndarray] = []
        self.steps: list[tuple[str, tuple[tuple[str, Any], ...], dict]] = []
        self.values: list[np.ndarray] = []  # the reference value of every value so far
        self.kinds: list[tuple[str, int]] = []  # value -> ("input", i) or ("step", j)

    # values
    def input(self, shape: tuple[int, ...], dtype: str, edge: float | None = None) -> int:
        n = math.prod(shape)
        if edge is None:
            edge = self.pick([0.0, 0.0, 0.1, 0.3])
        if dtype == "int32":
            a = _int_values(self.rng, n, edge)
        else:
            a = _float_values(self.rng, n, dtype, edge)
        self.inputs.append(a.reshape(shape))
        self.values.append(self.inputs[-1])
        self.kinds.append(("input", len(self.inputs) - 1))
        return len(self.values) - 1

    def step(self, op: str, args: list[tuple[str, Any]], **attrs: Any) -> int:
        got = [self.values[v] if kind == "v" else v for kind, v in args]
        self.values.append(ref_step(op, got, attrs).value)
        self.steps.append((op, tuple(args), attrs))
        self.kinds.append(("step", len(self.steps) - 1))
        return len(self.values) - 1

    def chain(self) -> Chain:
        """The chain, its values renumbered as ``chain_exec`` counts them: inputs first."""
        n = len(self.inputs)
        number = [i if kind == "input" else n + i for kind, i in self.kinds]
        steps = tuple(
            (op, tuple((k, number[v]) if k == "v" else (k, v) for k, v in args), attrs)
            for op, args, attrs in self.steps
        )
        return Chain(tuple(self.inputs), steps)

    def shape(self, k: int) -> tuple[int, ...]:
        return tuple(self.values[k].shape)

    def dtype(self, k: int) -> str:
        return self.values[k].dtype.name

    # drawing: structure from the chain's own NumPy generator (seeded by Hypothesis), which
    # spreads choices evenly; Hypothesis's own draws favour the first option of every list
    def pick(self, options: Any) -> Any:
        options = list(options)
        return options[int(self.rng.integers(len(options)))]

    def integer(self, lo: int, hi: int) -> int:
        """An int in [lo, hi]."""
        return int(self.rng.integers(lo, hi + 1))

    def dim(self) -> int:
        return self.pick(DIMS)

    def new_shape(self, rank: int | None = None) -> tuple[int, ...]:
        if rank is None:
            rank = self.pick([0, 1, 1, 2, 2, 2, 3, 3, 4])
        shape = tuple(self.dim() for _ in range(rank))
        while math.prod(shape) > MAX_NUMEL:
            shape = tuple(max(1, d // 2) for d in shape)
        return shape

    def dtype_choice(self) -> str:
        return self.pick(["float32"] * 6 + ["float16", "float16", "int32", "int32"])

    def partner_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """A shape that broadcasts with *shape* (same, suffix, size-1 dims, new leading dims)."""
        how = self.pick(["same", "same", "scalar", "bcast"])
        if how == "same":
            return shape
        if how == "scalar":
            return ()
        rank = self.integer(0, len(shape) + 1)
        out = []
        for i in range(rank):
            j = len(shape) - rank + i
            if j < 0:
                out.append(self.pick([1, 2, 3]))
            elif shape[j] == 1:
                out.append(self.pick([1, 1, 2, 5]))
            else:
                out.append(self.pick([shape[j], shape[j], 1]))
        full = np.broadcast_shapes(shape, tuple(out))
        return tuple(out) if math.prod(full) <= MAX_NUMEL else shape

    def operand(self, shape: tuple[int, ...], dtype: str) -> tuple[str, Any]:
        """A second operand: an earlier value that fits, a new input, or a Python scalar."""
        fits = [
            k for k in range(len(self.values)) if self.dtype(k) == dtype and self.shape(k) == shape
        ]
        how = self.pick(["new", "new", "new", "scalar"] + (["old"] if fits else []))
        if how == "old":
            return ("v", self.pick(fits))
        if how == "scalar":
            return ("s", self.pick(SCALARS if dtype != "int32" else (3, -7, 0, 2, 2.5, -0.5)))
        return ("v", self.input(self.partner_shape(shape), dtype))


# One generator per op family: (builder, the value it extends) -> the new value, or None when
# the op does not apply to that value.
def g_unary(b: Builder, x: int) -> int | None:
    dt = b.dtype(x)
    fns = [*UNARY_FLOAT, "neg", "abs", "relu"] if is_float(dt) else ["neg", "abs", "relu"]
    return b.step("unary", [("v", x)], fn=b.pick(fns))


def g_binary(b: Builder, x: int) -> int | None:
    fn = b.pick(BINARY)
    dt = b.dtype(x)
    other_dt = b.pick([dt, dt, dt, b.dtype_choice()])
    if fn == "pow":
        if dt == "int32" and other_dt == "int32":
            other = ("v", b.input(b.partner_shape(b.shape(x)), "int32", edge=0.0))
            b.inputs[-1][...] = b.rng.integers(-3, 5, b.inputs[-1].shape)
        else:
            other = ("s", b.pick(EXPONENTS))
            if b.pick([True, False]):
                k = b.input(b.partner_shape(b.shape(x)), "float32", edge=0.0)
                b.inputs[-1][...] = b.rng.choice(np.array(EXPONENTS), b.inputs[-1].shape)
                other = ("v", k)
    else:
        other = b.operand(b.shape(x), other_dt)
    args = [("v", x), other] if b.pick([True, True, False]) else [other, ("v", x)]
    return b.step("binary", args, fn=fn)


def g_where(b: Builder, x: int) -> int | None:
    shape = b.shape(x)
    cond = b.input(b.partner_shape(shape), b.pick(["float32", "int32"]), edge=0.3)
    c = b.inputs[-1]
    c[b.rng.random(c.shape) < 0.4] = 0
    other = b.operand(shape, b.dtype(x))
    args = [("v", x), other] if b.pick([True, False]) else [other, ("v", x)]
    return b.step("where", [("v", cond), *args])


def g_cast(b: Builder, x: int) -> int | None:
    dt = b.dtype(x)
    if dt == "int32":
        return b.step("cast", [("v", x)], dtype=b.pick(FLOATS))
    if b.pick([True, False, False]):  # float -> int32: of an input that is finite and in range
        k = b.input(b.partner_shape(b.shape(x)), dt, edge=0.0)
        a = b.inputs[-1]
        a[...] = np.asarray(b.rng.uniform(-3000, 3000, a.shape) * b.rng.random(a.shape), dt)
        a[b.rng.random(a.shape) < 0.2] = np.asarray(-0.0, dt)
        return b.step("cast", [("v", k)], dtype="int32")
    return b.step("cast", [("v", x)], dtype="float16" if dt == "float32" else "float32")


def g_reduce(b: Builder, x: int) -> int | None:
    shape = b.shape(x)
    fn = b.pick(["sum", "mean", "max", "min"])
    axes: Any = None
    if shape and b.pick([True, True, False]):
        chosen = sorted({b.integer(0, len(shape) - 1) for _ in range(b.integer(1, len(shape)))})
        axes = chosen[0] - len(shape) if len(chosen) == 1 else tuple(chosen)
    reduced = range(len(shape)) if axes is None else np.atleast_1d(axes) % max(len(shape), 1)
    if fn in ("max", "min") and any(shape[a] == 0 for a in reduced):
        fn = "sum"  # an empty max has no value: a ShapeError, tested elsewhere
    return b.step("reduce", [("v", x)], fn=fn, axes=axes, keepdims=b.pick([True, False]))


def g_matmul(b: Builder, x: int) -> int | None:
    shape, dt = b.shape(x), b.dtype(x)
    if not shape:
        return None
    other_dt = b.pick([dt, dt, b.dtype_choice()])
    if b.pick([True, True, False]):  # x @ other
        k = shape[-1]
        rank = b.pick([1, 2, 2, 3])
        batch = (b.dim(),) * (rank - 2)
        if rank > 2 and len(shape) > 2:  # the same batch as x's last batch axis
            batch = shape[-3:-2]
        other = (k,) if rank == 1 else (*batch, k, b.dim())
        o = b.input(other, other_dt)
        args = [("v", x), ("v", o)]
    else:  # other @ x
        k = shape[-2] if len(shape) > 1 else shape[0]
        o = b.input((b.dim(), k) if b.pick([True, True, False]) else (k,), other_dt)
        args = [("v", o), ("v", x)]
    a, c = (b.values[v] for _, v in args)
    if a.size * max(1, c.shape[-1]) * max(1, math.prod(c.shape[:-2])) > 8 * MAX_NUMEL:
        return None  # keep the reference's (..., i, k, j) products small
    return b.step("matmul", args)


def g_linear(b: Builder, x: int) -> int | None:
    shape, dt = b.shape(x), b.dtype(x)
    if not shape or not is_float(dt):
        return None
    w = b.input((b.dim(), shape[-1]), b.pick([dt, dt, dt, b.pick(FLOATS)]))
    args = [("v", x), ("v", w)]
    if b.pick([True, True, False]):
        args.append(("v", b.input((b.shape(w)[0],), dt)))
    return b.step("linear", args)


def g_softmax(b: Builder, x: int) -> int | None:
    shape, dt = b.shape(x), b.dtype(x)
    if not shape or not is_float(dt):
        return None
    return b.step("softmax", [("v", x)], axis=b.integer(-len(shape), len(shape) - 1))


def g_layer_norm(b: Builder, x: int) -> int | None:
    shape, dt = b.shape(x), b.dtype(x)
    if not shape or not is_float(dt):
        return None
    n = b.integer(1, min(2, len(shape)))
    norm = shape[len(shape) - n :]
    args = [("v", x)]
    if b.pick([True, False]):
        args.append(("v", b.input(norm, dt)))
        if b.pick([True, False]):
            args.append(("v", b.input(norm, dt)))
    return b.step("layer_norm", args, n=n, eps=b.pick([1e-5, 1e-3, 1.0]))


def g_view(b: Builder, x: int) -> int | None:
    shape = b.shape(x)
    kind = b.pick(["reshape", "permute", "slice", "slice", "expand", "unsqueeze", "squeeze",
                   "bitcast", "contiguous"])  # fmt: skip
    if kind == "reshape":
        n = math.prod(shape)
        dims = []
        rest = n
        for _ in range(b.integer(0, 3)):
            d = b.pick([f for f in (1, 2, 3, 5, 7, 13) if rest % f == 0] if rest else [0, 1, 2])
            dims.append(d)
            rest = rest // d if d else rest
        new = (*dims, rest if n else b.pick([0, 1, 2]))
        if math.prod(new) != n:
            new = (n,)
        if b.pick([False, True]) and n and len(new) > 1:
            new = (*new[:-1], -1)
        return b.step("reshape", [("v", x)], shape=new)
    if kind == "permute" and len(shape) >= 2:
        axes = tuple(int(a) for a in b.rng.permutation(len(shape)))
        return b.step("permute", [("v", x)], axes=axes)
    if kind == "slice" and shape:
        slices = []
        for d in shape:
            step = b.pick([1, 1, 2, -1, -2, 3])
            lo = b.integer(-d - 2, d + 2) if b.pick([True, False]) else None
            hi = b.integer(-d - 2, d + 2) if b.pick([True, False]) else None
            slices.append((lo, hi, step))
        return b.step("slice", [("v", x)], slices=tuple(slices))
    if kind == "expand":
        lead = tuple(b.pick([1, 2, 3]) for _ in range(b.integer(0, 2)))
        target = (*lead, *(b.pick([1, 2, 4]) if d == 1 else d for d in shape))
        if math.prod(target) > MAX_NUMEL:
            return None
        return b.step("expand", [("v", x)], shape=target)
    if kind == "unsqueeze":
        return b.step("unsqueeze", [("v", x)], axis=b.integer(0, len(shape)))
    if kind == "squeeze" and 1 in shape:
        axis = b.pick([i for i, d in enumerate(shape) if d == 1])
        return b.step("squeeze", [("v", x)], axis=axis)
    if kind == "bitcast":  # of an input: computed NaNs have no agreed bits
        if b.pick([True, False]):
            k = b.input(b.partner_shape(shape) or (3,), "float32", edge=0.5)
            return b.step("bitcast", [("v", k)], dtype="int32")
        k = b.input(b.partner_shape(shape) or (3,), "int32")
        a = b.inputs[-1]
        bits = np.array([v for v in F32_EDGE if not 0 < abs(v) < 1.2e-38], np.float32)
        a[...] = b.rng.choice(bits.view(np.int32), a.shape)
        return b.step("bitcast", [("v", k)], dtype="float32")
    return b.step("contiguous", [("v", x)])  # also when the drawn view does not apply


GENERATORS = {
    "unary": g_unary,
    "binary": g_binary,
    "where": g_where,
    "cast": g_cast,
    "reduce": g_reduce,
    "matmul": g_matmul,
    "linear": g_linear,
    "softmax": g_softmax,
    "layer_norm": g_layer_norm,
    "view": g_view,
}
WEIGHTS = ["unary"] * 3 + ["binary"] * 4 + ["view"] * 3 + list(GENERATORS)


@st.composite
def chains(draw: Callable[[Any], Any], max_steps: int = 5) -> Chain:
    b = Builder(draw)
    x = b.input(b.new_shape(), b.dtype_choice())
    n_steps = b.integer(1, max_steps)
    while len(b.steps) < n_steps:
        if b.steps and b.pick([False, False, False, True]):
            x = b.pick(range(len(b.values)))  # branch from an earlier value
        new = GENERATORS[b.pick(WEIGHTS)](b, x)
        if new is not None:
            x = new
    return b.chain()


def collect(n: int, max_steps: int = 5) -> list[Chain]:
    """*n* chains, the same ones on every run (for the browser lanes)."""
    out: list[Chain] = []

    @settings(
        derandomize=True,
        max_examples=n,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(chains(max_steps=max_steps))
    def gather(chain: Chain) -> None:
        out.append(chain)

    gather()
    return out[:n]


# --- checking -----------------------------------------------------------------------------------


def flush(a: np.ndarray, sign: float | None = None) -> np.ndarray:
    """float32 subnormals as zero (signed like the value, or of the given sign)."""
    if not isinstance(a, np.ndarray) or a.dtype != np.float32:
        return a
    sub = (np.abs(a) < np.finfo(np.float32).tiny) & (a != 0)
    zero = np.copysign(0.0, a if sign is None else np.full(a.shape, sign))
    return np.where(sub, zero, a).astype(np.float32)


def _ok(got: np.ndarray, r: Result) -> np.ndarray:
    """Element mask: *got* agrees with the reference Result *r* (the rules in chain_reference)."""
    want = r.value
    if not is_float(want.dtype.name):
        same = got == want
        return same if r.open is None else same | np.broadcast_to(r.open, same.shape)
    g, w = got.astype(np.float64), want.astype(np.float64)
    with np.errstate(all="ignore"):
        if r.soft_inf:  # overflow threshold within tolerance: compare infinities as just past max
            edge = MAX[want.dtype.name] * (1 + 2 * max(r.rtol, 1e-7))
            g = np.where(np.isinf(g), np.copysign(edge, g), g)
            w = np.where(np.isinf(w), np.copysign(edge, w), w)
        close = np.abs(g - w) <= r.atol + r.rtol * np.abs(w)
        same_inf = np.isinf(g) & (g == w)
        ok = np.where(np.isnan(w), np.isnan(g), ~np.isnan(g) & (close | same_inf))
        ok &= ~(np.isinf(g) & ~np.isinf(w)) | (g == w)
        if r.sign_exact:
            zeros = (w == 0) & (g == 0)
            ok &= ~zeros | (np.signbit(g) == np.signbit(w))
    if r.open is not None:
        ok |= np.broadcast_to(r.open, ok.shape)
    return ok


def _describe_bad(got: np.ndarray, want: np.ndarray, ok: np.ndarray, limit: int = 4) -> str:
    idx = np.argwhere(~ok)[:limit]
    return "; ".join(
        f"at {tuple(int(i) for i in ix)} got {got[tuple(ix)]!r} want {want[tuple(ix)]!r}"
        for ix in idx
    )


def _decode(item: tuple) -> np.ndarray:
    shape, dtype, data = item
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def _args(chain: Chain, values: list[np.ndarray], args: tuple) -> list[Any]:
    return [values[v] if kind == "v" else v for kind, v in args]


def check_stepwise(chain: Chain, outputs: list[tuple], ftz: bool = False) -> list[str]:
    """Every step against its op's reference from the backend's own operands."""
    values: list[np.ndarray] = list(chain.inputs)
    problems = []
    for k, ((op, args, attrs), item) in enumerate(zip(chain.steps, outputs, strict=True)):
        got = _decode(item)
        operands = _args(chain, values, args)
        variants = [operands]
        if ftz and any(isinstance(a, np.ndarray) and a.dtype == np.float32 for a in operands):
            variants += [[flush(a, sign) for a in operands] for sign in (None, 1.0, -1.0)]
        refs = [ref_step(op, v, attrs) for v in variants]
        want = refs[0].value
        name = f"step v{len(chain.inputs) + k} ({op} {attrs.get('fn', '')})"
        if got.shape != want.shape or got.dtype != want.dtype:
            problems.append(f"{name}: got {got.dtype}{got.shape}, want {want.dtype}{want.shape}")
            break
        ok = np.zeros(got.shape, bool)
        for r in refs:
            ok |= _ok(flush(got) if ftz else got, _flushed(r) if ftz else r)
        if not ok.all():
            problems.append(f"{name}: {_describe_bad(got, want, ok)}")
        values.append(got)
    return problems


def _flushed(r: Result) -> Result:
    """*r* with subnormal float32 reference values counted as zero (either sign)."""
    if r.value.dtype != np.float32:
        return r
    sub = (np.abs(r.value) < np.finfo(np.float32).tiny) & (r.value != 0)
    if not sub.any():
        return r
    return Result(flush(r.value), r.rtol, r.atol, False, r.soft_inf, r.open)


# Variants of the reference chain for the whole-chain check: (name, how each step's reference
# value is changed before the next step reads it).
def _perturb(sign_seed: int) -> Callable[[Result], np.ndarray]:
    def change(r: Result) -> np.ndarray:
        v = r.value
        if not is_float(v.dtype.name) or (r.rtol == 0 and np.all(np.asarray(r.atol) == 0)):
            return v
        rng = np.random.default_rng(sign_seed)
        s = rng.choice([-1.0, 1.0], v.shape)
        with np.errstate(all="ignore"):
            moved = v.astype(np.float64) * (1 + s * r.rtol) + s * np.asarray(r.atol)
            return np.where(np.isfinite(v), moved, v).astype(v.dtype)

    return change


def _zeros(sign: float) -> Callable[[Result], np.ndarray]:
    """Zeros of an unspecified sign, and values within the tolerance of zero, as *sign* 0."""

    def change(r: Result) -> np.ndarray:
        v = r.value
        if not is_float(v.dtype.name):
            return v
        with np.errstate(all="ignore"):
            near = np.abs(v.astype(np.float64)) <= np.asarray(r.atol)
        zero = (v == 0) & (not r.sign_exact) | (near & (v != 0))
        return np.where(zero, np.copysign(0.0, sign), v).astype(v.dtype)

    return change


def _open(fill: float) -> Callable[[Result], np.ndarray]:
    def change(r: Result) -> np.ndarray:
        if r.open is None or not np.any(r.open):
            return r.value
        return np.where(r.open, fill, r.value).astype(r.value.dtype)

    return change


VARIANTS: dict[str, Callable[[Result], np.ndarray]] = {
    "reference": lambda r: r.value,
    "+tol": _perturb(1),
    "-tol": _perturb(2),
    "+0": _zeros(1.0),
    "-0": _zeros(-1.0),
    "open=+inf": _open(np.inf),
    "open=-inf": _open(-np.inf),
    "open=nan": _open(np.nan),
}


def reference_chain(
    chain: Chain, change: Callable[[Result], np.ndarray], ftz: bool = False
) -> tuple[np.ndarray, Result]:
    """The last value of the reference chain, each step's value changed by *change*."""
    values: list[np.ndarray] = [flush(a) if ftz else a for a in chain.inputs]
    r = None
    for op, args, attrs in chain.steps:
        r = ref_step(op, _args(chain, values, args), attrs)
        v = change(r)
        values.append(flush(v) if ftz else v)
    assert r is not None
    return values[-1], r


def int_overflow(chain: Chain) -> bool:
    """Some int32 step of the reference chain leaves the int32 range (a value left open)."""
    values: list[np.ndarray] = list(chain.inputs)
    for op, args, attrs in chain.steps:
        r = ref_step(op, _args(chain, values, args), attrs)
        if not is_float(r.value.dtype.name) and r.open is not None and np.any(r.open):
            return True
        values.append(r.value)
    return False


def check_whole(chain: Chain, item: tuple, ftz: bool = False) -> list[str]:
    """The last value within the span of the reference chain's variants (see the docstring).
    Not checked past an int32 overflow: what follows depends on wrap or saturation."""
    if int_overflow(chain):
        return []
    got = _decode(item)
    members = []
    for change in VARIANTS.values():
        members.append(reference_chain(chain, change))
        if ftz:
            members.append(reference_chain(chain, change, ftz=True))
    want, last = members[0]
    if got.shape != want.shape or got.dtype != want.dtype:
        return [f"whole chain: got {got.dtype}{got.shape}, want {want.dtype}{want.shape}"]
    if not is_float(want.dtype.name):
        ok = np.zeros(got.shape, bool)
        for m, _ in members:
            ok |= got == m
        return [] if ok.all() else [f"whole chain: {_describe_bad(got, want, ok)}"]
    stack = np.stack([m.astype(np.float64) for m, _ in members])
    nan = np.isnan(stack)
    g = flush(got) if ftz else got
    with np.errstate(all="ignore"):
        lo = np.where(nan, np.inf, stack).min(axis=0)
        hi = np.where(nan, -np.inf, stack).max(axis=0)
    # within [lo, hi] widened by the last op's tolerance and by the span itself
    span = Result(lo.astype(want.dtype), last.rtol, last.atol, False, last.soft_inf, last.open)
    top = Result(hi.astype(want.dtype), last.rtol, last.atol, False, last.soft_inf, last.open)
    g64 = g.astype(np.float64)
    with np.errstate(all="ignore"):
        width = np.where(np.isfinite(hi - lo), hi - lo, np.inf)
        inside = (g64 >= lo - width) & (g64 <= hi + width)
    ok = inside | _ok(g, span) | _ok(g, top)
    ok = np.where(nan.all(axis=0), np.isnan(g), np.where(nan.any(axis=0), True, ok & ~np.isnan(g)))
    if last.open is not None:
        ok |= np.broadcast_to(last.open, ok.shape)
    if ok.all():
        return []
    return [f"whole chain: {_describe_bad(got, want, ok)}"]


def check_chain(chain: Chain, stepwise: tuple, whole: tuple, ftz: bool = False) -> list[str]:
    """Every problem of one chain's two runs (``chain_exec.run_chains``); [] when it agrees."""
    problems = []
    for mode, (status, value) in (("stepwise", stepwise), ("whole", whole)):
        if status != "ok":
            problems.append(f"{mode}: {value}")
    if stepwise[0] == "ok":
        problems += check_stepwise(chain, stepwise[1], ftz)
    if whole[0] == "ok" and not problems:
        problems += check_whole(chain, whole[1][0], ftz)
    return problems


def report(chain: Chain, problems: list[str]) -> str:
    return "chain disagrees with the reference:\n" + chain.describe() + "\n" + "\n".join(problems)


__all__ = ["Chain", "chain_exec", "chains", "check_chain", "collect", "report"]
