"""Graph-level rewrites of a lowered ``Program``, shared by every backend.

``optimize(program, device)`` runs before a device compiles a program (``engine.realize``;
the compiled result is cached under the *original* program, so a cache hit skips the passes
too). The rewritten program has the same inputs and the same outputs (count, order, shapes,
dtypes); only what happens between them changes:

1. **Primitives to ops**: ``softmax`` written as max/sub/exp/sum/div, ``layer_norm`` written as
   mean/sub/square/mean/add eps/sqrt (or rsqrt)/div (or mul), with an optional ``* weight`` and
   ``+ bias`` over the normalized (trailing) axes, and ``gelu`` in its erf form
   ``0.5 * x * (1 + erf(x / sqrt 2))`` or its tanh form, each become the one op.
2. **Linear**: ``matmul(x, W)`` with a 2-D ``W`` (+ a bias over the last axis) (+ relu, gelu,
   sigmoid or tanh) becomes one ``linear`` step reading ``W`` through a transposed view (views
   are free) with an ``activation`` attribute; so does ``linear(...)`` (+ bias) (+ activation).
   Quantized weights: ``linear(x, dequantize(q, scale), b)`` becomes one ``linear_q`` step
   (the float weight is never stored), and ``linear_q`` takes a bias/activation like ``linear``.
3. **Views of inputs**: a ``contiguous`` copy of a program input's view is dropped when every
   consumer is an op that reads strided views on every backend (elementwise, reductions,
   matmul/linear, softmax, layer_norm) and the consumer's view composes with it.

Matching is structural: exact ops, axes and dtypes (float32 only), constants compared to the
expected value within float rounding. A pattern is rewritten only when none of its intermediate
steps is a program output (a live tensor holds it) or is read outside the pattern, when the new
step infers the same shape and dtype as the step it replaces, and when the device supports the
new step (``Device.supports``) and the user has not denied its op there (``placement.deny``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from .. import ops
from ..dtypes import DType
from ..ir import Program, Step
from ..view import View
from .placement import denied

Ref = tuple[int, View, DType]  # a step source: (slot, view, dtype)

# Steps the linear pattern extends with a bias and an activation (linear_q: quantized weight).
_LINEARS = ("matmul", "linear", "linear_q")
# Step op -> the ``activation`` attribute of ``linear`` (gelu's tanh form is "gelu_tanh").
ACTIVATIONS = ("relu", "sigmoid", "tanh", "gelu")
# Ops whose lowerings on every backend read any strided view of an input.
_READERS = ("where", "cast", "sum", "mean", "max", "min", "matmul", "linear", "softmax")
VIEW_READERS = frozenset((*ops.UNARY, *ops.BINARY, *_READERS, "layer_norm"))

_SQRT2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _close(value: float | None, want: float, rel: float = 1e-6) -> bool:
    """*value* is *want* up to float32 rounding of the constant (and of products of them)."""
    return value is not None and abs(value - want) <= rel * abs(want)


class _Graph:
    """A program being rewritten: steps keep their slots; removed ones become ``None``."""

    def __init__(self, program: Program, device: Any) -> None:
        self.n = program.n_inputs
        self.steps: list[Step | None] = list(program.steps)
        self.outputs = set(program.outputs)
        self.input_dtypes = [d for _, d in program.inputs]
        self.device = device
        self.referenced = {s - self.n for st in program.steps for s, _, _ in st.srcs if s >= self.n}
        self._consumers: dict[int, list[int]] | None = None

    # -- structure -------------------------------------------------------------------------------
    @property
    def consumers(self) -> dict[int, list[int]]:
        if self._consumers is None:
            out: dict[int, list[int]] = {}
            for i, step in enumerate(self.steps):
                if step is not None:
                    for slot, _, _ in step.srcs:
                        if slot >= self.n:
                            out.setdefault(slot - self.n, []).append(i)
            self._consumers = out
        return self._consumers

    def step(self, ref: Ref) -> tuple[int, Step] | None:
        """The step that *ref* reads (None for a program input)."""
        slot = ref[0]
        if slot < self.n:
            return None
        step = self.steps[slot - self.n]
        return None if step is None else (slot - self.n, step)

    def dense(self, ref: Ref, op: str | Iterable[str] | None = None) -> tuple[int, Step] | None:
        """The float32 step *ref* reads whole, in its own shape (optionally of op *op*)."""
        found = self.step(ref)
        if found is None:
            return None
        i, step = found
        view = ref[1]
        if op is not None and step.op not in ((op,) if isinstance(op, str) else op):
            return None
        if step.dtype.name != "float32" or ref[2] != step.dtype:
            return None
        if view.shape != step.shape or not view.is_contiguous() or view.offset:
            return None
        return i, step

    def reduced(self, ref: Ref, op: str, axes: tuple[int, ...], keep: tuple[int, ...]) -> int:
        """The index of the *op* reduction over *axes* that *ref* reads as a broadcastable
        whole of shape *keep* (keepdims, or fewer leading dims); -1 if it is not one."""
        found = self.step(ref)
        if found is None:
            return -1
        i, step = found
        view = ref[1]
        if step.op != op or step.attr("axes") != axes or step.dtype.name != "float32":
            return -1
        if ref[2] != step.dtype or not view.is_contiguous() or view.offset:
            return -1
        if math.prod(view.shape) != math.prod(step.shape) or not _bcast_same(view.shape, keep):
            return -1
        return i

    def const(self, ref: Ref) -> float | None:
        """The value of a float ``full`` constant that *ref* reads, else None."""
        found = self.step(ref)
        if found is None:
            return None
        _, step = found
        value = step.attr("value")
        if step.op != "full" or step.dtype.kind != "f" or isinstance(value, bool):
            return None
        if not isinstance(value, int | float):
            return None
        return float(value)

    def private(self, root: int, inner: Iterable[int]) -> bool:
        """Every step of *inner* (all but *root*) is read only inside ``inner + root`` and is
        no program output: the pattern can go without anyone missing a value."""
        members = {root, *inner}
        for i in members - {root}:
            if i in self.outputs:
                return False
            if any(c not in members for c in self.consumers.get(i, [])):
                return False
        return True

    # -- rewriting -------------------------------------------------------------------------------
    def allowed(self, step: Step, extra_ops: Iterable[str] = ()) -> bool:
        device = self.device
        if device is None:
            return True
        if any(denied(op, device.name) for op in (step.op, *extra_ops)):
            return False
        try:
            return bool(device.supports(step))
        except Exception:  # a support probe that fails means "no"
            return False

    def replace(
        self,
        root: int,
        new: Step,
        inner: Iterable[int],
        extra_ops: Iterable[str] = (),
    ) -> bool:
        """Put *new* in place of step *root* and drop *inner*; checked, or nothing changes."""
        old = self.steps[root]
        assert old is not None
        inner = set(inner) - {root}
        if not self.private(root, inner):
            return False
        shapes = [view.shape for _, view, _ in new.srcs]
        dtypes = [dtype for _, _, dtype in new.srcs]
        try:
            shape, dtype = ops.infer(new.op, shapes, dtypes, **dict(new.attrs))
        except (ops.ShapeError, ops.DTypeError, TypeError, ValueError):
            return False
        if tuple(shape) != tuple(old.shape) or dtype != old.dtype:
            return False
        if new.shape != old.shape or new.dtype != old.dtype:
            return False
        for slot, _, _ in new.srcs:  # reads only what stays
            if slot >= self.n and (slot - self.n in inner or slot - self.n >= root):
                return False
        if not self.allowed(new, extra_ops):
            return False
        for i in inner:
            self.steps[i] = None
        self.steps[root] = new
        self._consumers = None
        return True

    def finish(self, program: Program) -> Program:
        """Drop constants nothing reads any more and renumber the slots."""
        changed = True
        while changed:
            changed = False
            consumers = self.consumers
            for i, step in enumerate(self.steps):
                if (
                    step is not None
                    and i not in self.outputs
                    and i in self.referenced
                    and not consumers.get(i)
                ):
                    self.steps[i] = None
                    self._consumers = None
                    changed = True
        index: dict[int, int] = {}
        for i, step in enumerate(self.steps):
            if step is not None:
                index[i] = len(index)
        n = self.n
        steps = []
        for step in self.steps:
            if step is None:
                continue
            srcs = tuple(
                (slot if slot < n else n + index[slot - n], view, dtype)
                for slot, view, dtype in step.srcs
            )
            steps.append(step if srcs == step.srcs else step._replace(srcs=srcs))
        outputs = tuple(index[i] for i in program.outputs)
        return Program(program.inputs, tuple(steps), outputs)


def _bcast_same(shape: tuple[int, ...], full: tuple[int, ...]) -> bool:
    """*shape* is *full* with some leading size-1 dims left out (same data, same broadcast)."""
    lead = len(full) - len(shape)
    return lead >= 0 and full[lead:] == shape and all(d == 1 for d in full[:lead])


def _keep_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else d for i, d in enumerate(shape))


def _is_f32(*items: Step | Ref) -> bool:
    for item in items:
        dtype = item.dtype if isinstance(item, Step) else item[2]
        if dtype.name != "float32":
            return False
    return True


# --- products ----------------------------------------------------------------------------------


def _product(g: _Graph, root: int) -> tuple[float, list[Ref], set[int]] | None:
    """Step *root* (a mul, or a div by a constant) as ``const * prod(leaves)``.

    It descends into factors that are float32 muls / divs by a constant of the same shape,
    read whole and only by this product (nothing else needs them); other factors are leaves.
    Returns (product of the constants, the leaves, the steps of the product).
    """
    top = g.steps[root]
    assert top is not None

    def scale(step: Step) -> float | None:
        """1 for a mul, 1 / c for a div by a constant c; None for anything else."""
        if step.op == "mul":
            return 1.0
        c = g.const(step.srcs[1]) if step.op == "div" else None
        return None if c is None or c == 0 else 1.0 / c

    if scale(top) is None or not _is_f32(top):
        return None
    const = 1.0
    leaves: list[Ref] = []
    inner: set[int] = set()
    todo = [(root, top)]
    while todo:
        i, step = todo.pop()
        inner.add(i)
        const *= scale(step)  # type: ignore[operator]
        for ref in step.srcs[:2] if step.op == "mul" else step.srcs[:1]:
            c = g.const(ref)
            if c is not None:
                const *= c
                continue
            found = g.dense(ref, ("mul", "div"))
            if (
                found is not None
                and scale(found[1]) is not None
                and found[1].shape == top.shape
                and found[0] not in g.outputs
                and g.consumers.get(found[0]) == [i]
            ):
                todo.append(found)
                continue
            leaves.append(ref)
    return const, leaves, inner


def _same_input(ref: Ref, shape: tuple[int, ...]) -> bool:
    """*ref* is read in the pattern's own shape (no broadcast of the pattern's input)."""
    return ref[1].shape == shape and ref[2].name == "float32"


# --- pattern 1: gelu ---------------------------------------------------------------------------


def _gelu(g: _Graph, i: int) -> bool:
    root = g.steps[i]
    assert root is not None
    prod = _product(g, i)
    if prod is None:
        return False
    const, leaves, inner = prod
    if not _close(const, 0.5) or len(leaves) != 2:
        return False
    for x, t in (leaves, leaves[::-1]):
        if not _same_input(x, root.shape):
            continue
        found = g.dense(t, "add")
        if found is None or found[1].shape != root.shape:
            continue
        ti, tstep = found
        for one, fn in (tstep.srcs, tstep.srcs[::-1]):
            if not _close(g.const(one), 1.0):
                continue
            inner_fn = g.dense(fn, ("erf", "tanh"))
            if inner_fn is None or inner_fn[1].shape != root.shape:
                continue
            fi, fstep = inner_fn
            body = (
                _erf_arg(g, fstep.srcs[0], x, root.shape)
                if fstep.op == "erf"
                else _tanh_arg(g, fstep.srcs[0], x, root.shape)
            )
            if body is None:
                continue
            approximate = "none" if fstep.op == "erf" else "tanh"
            new = Step("gelu", (("approximate", approximate),), (x,), root.shape, root.dtype)
            if g.replace(i, new, inner | {ti, fi} | body):
                return True
    return False


def _scaled(
    g: _Graph, ref: Ref, shape: tuple[int, ...]
) -> tuple[float, list[Ref], set[int]] | None:
    """*ref* as a product (mul/div chain) of full *shape*: (constant, leaves, its steps)."""
    found = g.dense(ref, ("mul", "div"))
    if found is None or found[1].shape != shape:
        return None
    return _product(g, found[0])


def _erf_arg(g: _Graph, ref: Ref, x: Ref, shape: tuple[int, ...]) -> set[int] | None:
    """``x / sqrt 2`` (or ``x * (1 / sqrt 2)``): the steps, or None."""
    prod = _scaled(g, ref, shape)
    if prod is None:
        return None
    const, leaves, inner = prod
    return inner if _close(const, 1 / _SQRT2) and leaves == [x] else None


def _tanh_arg(g: _Graph, ref: Ref, x: Ref, shape: tuple[int, ...]) -> set[int] | None:
    """``sqrt(2 / pi) * (x + 0.044715 * x ** 3)`` (any association of the products)."""
    prod = _scaled(g, ref, shape)
    if prod is None:
        return None
    const, leaves, inner = prod
    if not _close(const, _SQRT_2_OVER_PI) or len(leaves) != 1:
        return None
    add = g.dense(leaves[0], "add")
    if add is None or add[1].shape != shape:
        return None
    for xx, cube_ref in (add[1].srcs, add[1].srcs[::-1]):
        if xx != x:
            continue
        cube = _cube(g, cube_ref, x, shape)
        if cube is not None:
            return inner | {add[0]} | cube
    return None


def _cube(g: _Graph, ref: Ref, x: Ref, shape: tuple[int, ...]) -> set[int] | None:
    """``0.044715 * x ** 3`` with the cube as ``pow(x, 3)`` or products of x."""
    prod = _scaled(g, ref, shape)
    if prod is None:
        return None
    const, leaves, inner = prod
    if not _close(const, 0.044715):
        return None
    count = 0
    for leaf in leaves:
        if leaf == x:
            count += 1
            continue
        p = g.dense(leaf, "pow")
        if p is None or p[1].srcs[0] != x or g.const(p[1].srcs[1]) != 3.0:
            return None
        inner.add(p[0])
        count += 3
    return inner if count == 3 else None


# --- pattern 1: softmax ------------------------------------------------------------------------


def _softmax(g: _Graph, i: int) -> bool:
    root = g.steps[i]
    assert root is not None
    if root.op != "div" or not _is_f32(root):
        return False
    e_ref, s_ref = root.srcs
    exp = g.dense(e_ref, "exp")
    if exp is None or exp[1].shape != root.shape:
        return False
    ei, estep = exp
    s_found = g.step(s_ref)
    if s_found is None or s_found[1].op != "sum":
        return False
    axes = s_found[1].attr("axes")
    if not isinstance(axes, tuple) or len(axes) != 1:
        return False
    keep = _keep_shape(root.shape, axes)
    si = g.reduced(s_ref, "sum", axes, keep)
    if si < 0 or g.dense(s_found[1].srcs[0]) is None or s_found[1].srcs[0][0] != g.n + ei:
        return False
    sub = g.dense(estep.srcs[0], "sub")
    if sub is None or sub[1].shape != root.shape:
        return False
    di, dstep = sub
    x, m_ref = dstep.srcs
    if not _same_input(x, root.shape):
        return False
    mi = g.reduced(m_ref, "max", axes, keep)
    if mi < 0 or g.steps[mi].srcs[0] != x:  # type: ignore[union-attr]
        return False
    new = Step("softmax", (("axis", axes[0]),), (x,), root.shape, root.dtype)
    return g.replace(i, new, {ei, si, di, mi})


# --- pattern 1: layer_norm ---------------------------------------------------------------------


def _centered(
    g: _Graph, ref: Ref, shape: tuple[int, ...]
) -> tuple[Ref, tuple[int, ...], set[int]] | None:
    """``x - x.mean(trailing axes)``: (x, axes, steps)."""
    found = g.dense(ref, "sub")
    if found is None or found[1].shape != shape:
        return None
    di, dstep = found
    x, m_ref = dstep.srcs
    if not _same_input(x, shape):
        return None
    m = g.step(m_ref)
    if m is None or m[1].op != "mean":
        return None
    axes = m[1].attr("axes")
    nd = len(shape)
    if not axes or tuple(axes) != tuple(range(nd - len(axes), nd)):
        return None  # layer_norm normalizes trailing axes
    mi = g.reduced(m_ref, "mean", axes, _keep_shape(shape, axes))
    if mi < 0 or m[1].srcs[0] != x:
        return None
    return x, axes, {di, mi}


def _norm_core(g: _Graph, i: int) -> tuple[Ref, tuple[int, ...], float, set[int]] | None:
    """Step *i* as ``(x - mean) / sqrt(var + eps)`` (or ``* rsqrt(...)``):
    (x, axes, eps, steps)."""
    step = g.steps[i]
    assert step is not None
    if step.op not in ("div", "mul") or not _is_f32(step):
        return None
    shape = step.shape
    orders = [step.srcs] if step.op == "div" else [step.srcs, step.srcs[::-1]]
    for n_ref, r_ref in orders:
        centered = _centered(g, n_ref, shape)
        if centered is None:
            continue
        x, axes, inner = centered
        keep = _keep_shape(shape, axes)
        root_op = "sqrt" if step.op == "div" else "rsqrt"
        r = g.step(r_ref)
        if r is None or r[1].op != root_op or not _is_f32(r[1]):
            continue
        ri = r[0]
        if not r_ref[1].is_contiguous() or r_ref[1].offset or r_ref[2] != r[1].dtype:
            continue
        if not _bcast_same(r_ref[1].shape, keep) or math.prod(r[1].shape) != math.prod(keep):
            continue
        ve = g.dense(r[1].srcs[0], "add")
        if ve is None or ve[1].shape != r[1].shape:
            continue
        for v_ref, eps_ref in (ve[1].srcs, ve[1].srcs[::-1]):
            eps = g.const(eps_ref)
            if eps is None or not eps >= 0 or math.isinf(eps):
                continue
            var = g.dense(v_ref, "mean")
            if var is None or var[1].attr("axes") != axes or var[1].shape != r[1].shape:
                continue
            sq = g.dense(var[1].srcs[0], ("mul", "pow"))
            if sq is None or sq[1].shape != shape:
                continue
            a, b = sq[1].srcs
            if sq[1].op == "pow":
                if g.const(b) != 2.0:
                    continue
            elif a != b:
                continue
            d = _centered(g, a, shape)
            if d is None or d[0] != x or d[1] != axes:
                continue
            steps = inner | d[2] | {ri, ve[0], var[0], sq[0], i}
            return x, axes, eps, steps
    return None


def _param(ref: Ref, normalized: tuple[int, ...]) -> Ref | None:
    """A weight/bias read that broadcasts exactly over the normalized axes, as a view of
    shape *normalized* (leading size-1 dims dropped)."""
    slot, view, dtype = ref
    lead = len(view.shape) - len(normalized)
    if dtype.name != "float32" or lead < 0 or view.shape[lead:] != normalized:
        return None
    if any(d != 1 for d in view.shape[:lead]):
        return None
    return slot, View(view.shape[lead:], view.strides[lead:], view.offset), dtype


def _layer_norm(g: _Graph, i: int) -> bool:
    root = g.steps[i]
    assert root is not None
    if not _is_f32(root) or root.op not in ("add", "mul", "div"):
        return False
    shape = root.shape
    # (core, weight, bias, steps of the affine part) candidates, largest first
    candidates: list[tuple[int, Ref | None, Ref | None, set[int]]] = []
    if root.op == "add":
        for y_ref, b_ref in (root.srcs, root.srcs[::-1]):
            y = g.dense(y_ref, ("mul", "div"))
            if y is None or y[1].shape != shape:
                continue
            if y[1].op == "mul":
                for c_ref, w_ref in (y[1].srcs, y[1].srcs[::-1]):
                    c = g.dense(c_ref, ("mul", "div"))
                    if c is not None and c[1].shape == shape:
                        candidates.append((c[0], w_ref, b_ref, {y[0], i}))
            candidates.append((y[0], None, b_ref, {i}))
    if root.op == "mul":
        for c_ref, w_ref in (root.srcs, root.srcs[::-1]):
            c = g.dense(c_ref, ("mul", "div"))
            if c is not None and c[1].shape == shape:
                candidates.append((c[0], w_ref, None, {i}))
    candidates.append((i, None, None, {i}))
    for core_i, w_ref, b_ref, affine in candidates:
        core = _norm_core(g, core_i)
        if core is None:
            continue
        x, axes, eps, steps = core
        normalized = tuple(shape[a] for a in axes)
        params: list[Ref] = []
        ok = True
        for ref in (w_ref, b_ref):
            if ref is None:
                params.append((x[0], View((), (), x[1].offset), x[2]))  # 0-d "absent"
                continue
            p = _param(ref, normalized)
            if p is None:
                ok = False
                break
            params.append(p)
        if not ok or math.prod(x[1].shape) == 0:
            continue
        attrs = (("axes", axes), ("eps", ops.FloatAttr(eps)))
        new = Step("layer_norm", attrs, (x, *params), shape, root.dtype)
        if g.replace(i, new, steps | affine):
            return True
    return False


# --- pattern 2: linear -------------------------------------------------------------------------


def _activation(step: Step) -> str | None:
    if step.op == "gelu":
        return "gelu_tanh" if step.attr("approximate") == "tanh" else "gelu"
    return step.op if step.op in ACTIVATIONS else None


def _linear(g: _Graph, i: int) -> bool:
    root = g.steps[i]
    assert root is not None
    if not _is_f32(root):
        return False
    shape = root.shape
    act = _activation(root)
    cur, inner = i, {i}
    if act is not None:
        found = g.dense(root.srcs[0], ("add", *_LINEARS))
        if found is None or found[1].shape != shape:
            return False
        cur = found[0]
        inner.add(cur)
    step = g.steps[cur]
    assert step is not None
    options: list[tuple[int, Ref | None]] = []  # (the matmul/linear step, the bias read)
    if step.op == "add":
        for m_ref, b_ref in (step.srcs, step.srcs[::-1]):
            m = g.dense(m_ref, _LINEARS)
            if m is not None and m[1].shape == shape:
                options.append((m[0], b_ref))
    elif step.op in _LINEARS and act is not None:
        options.append((cur, None))
    for mi, b_ref in options:
        m = g.steps[mi]
        assert m is not None
        floats = m.srcs if m.op != "linear_q" else (m.srcs[0], *m.srcs[2:])  # not the codes
        if not _is_f32(m, *floats) or m.attr("activation") is not None:
            continue
        n_out = shape[-1] if shape else 0
        bias: Ref | None = None
        if b_ref is not None:
            if not _is_f32(b_ref) or not b_ref[1].shape or b_ref[1].shape[-1] != n_out:
                continue
            if any(d != 1 for d in b_ref[1].shape[:-1]) or len(b_ref[1].shape) > len(shape):
                continue
            slot, view, dtype = b_ref
            bias = (slot, View(view.shape[-1:], view.strides[-1:], view.offset), dtype)
        if m.op in ("linear", "linear_q"):
            *head, placeholder = m.srcs  # linear_q: x, q, scale, bias
            if bias is not None and placeholder[1].shape != ():
                continue  # already has a bias
            srcs = (*head, bias if bias is not None else placeholder)
            attrs = dict(m.attrs)
        else:
            x, b = m.srcs
            if len(b[1].shape) != 2 or not x[1].shape or math.prod(x[1].shape) == 0:
                continue
            w = (b[0], b[1].permute((1, 0)), b[2])
            placeholder = (x[0], View((), (), x[1].offset), x[2])  # 0-d "absent" bias
            srcs = (x, w, bias if bias is not None else placeholder)
            attrs = dict(m.attrs)
        if act is not None:
            attrs["activation"] = act
        op = "linear_q" if m.op == "linear_q" else "linear"
        new = Step(op, tuple(sorted(attrs.items())), srcs, shape, root.dtype)
        extra = [root.op] if act is not None else []
        if g.replace(i, new, inner | {cur, mi}, extra):
            return True
    return False


def _dequant_linear(g: _Graph, i: int) -> bool:
    """``linear(x, dequantize(q, scale), b)`` (any activation) -> ``linear_q(x, q, scale, b)``:
    the dequantized weight is then never stored."""
    root = g.steps[i]
    assert root is not None
    if root.op != "linear":
        return False
    x, w, bias = root.srcs
    found = g.dense(w, "dequantize")
    if found is None:
        return False
    di, dq = found
    attrs = tuple(sorted({**dict(root.attrs), "group": dq.attr("group")}.items()))
    new = Step("linear_q", attrs, (x, *dq.srcs, bias), root.shape, root.dtype)
    return g.replace(i, new, {di})


# --- pattern 3: contiguous copies of input views -----------------------------------------------


def _compose(base: View, seen: View) -> View | None:
    """The view of the storage that reads what *seen* reads of a dense copy of *base*, when
    *seen* is a permutation of a reshape of that copy (None otherwise)."""
    if seen.offset or math.prod(seen.shape) != math.prod(base.shape):
        return None
    order = sorted(range(len(seen.shape)), key=lambda a: -seen.strides[a])
    dense = seen.permute(tuple(order))
    if not dense.is_contiguous():
        return None
    flat = base if dense.shape == base.shape else base.reshape(dense.shape)
    if flat is None:
        return None
    inverse = [0] * len(order)
    for k, a in enumerate(order):
        inverse[a] = k
    return flat.permute(tuple(inverse))


def _contiguous(g: _Graph, i: int) -> bool:
    step = g.steps[i]
    assert step is not None
    if step.op != "contiguous" or i in g.outputs:
        return False
    slot, view, dtype = step.srcs[0]
    if slot >= g.n or dtype != g.input_dtypes[slot] or dtype != step.dtype:
        return False
    readers = g.consumers.get(i, [])
    if not readers:
        return False
    rewritten: dict[int, Step] = {}
    for c in readers:
        consumer = g.steps[c]
        assert consumer is not None
        if consumer.op not in VIEW_READERS:
            return False
        srcs = []
        for ref in consumer.srcs:
            if ref[0] != g.n + i:
                srcs.append(ref)
                continue
            composed = _compose(view, ref[1]) if ref[2] == dtype else None
            if composed is None:
                return False
            srcs.append((slot, composed, dtype))
        rewritten[c] = consumer._replace(srcs=tuple(srcs))
    for new in rewritten.values():
        if not g.allowed(new):
            return False
    for c, new in rewritten.items():
        g.steps[c] = new
    g.steps[i] = None
    g._consumers = None
    return True


# --- driver ------------------------------------------------------------------------------------

# In order: views first (a folded copy can become a transposed linear weight), then the
# primitives (a gelu from primitives can become a linear activation), then linear.
PASSES: tuple[tuple[str, Callable[[_Graph, int], bool]], ...] = (
    ("contiguous", _contiguous),
    ("gelu", _gelu),
    ("softmax", _softmax),
    ("layer_norm", _layer_norm),
    ("linear", _linear),
    ("linear_q", _dequant_linear),
)


def optimize(program: Program, device: Any = None) -> Program:
    """*program* with the patterns above rewritten (the same program when none matches).

    *device* (optional) is asked whether it supports each new step; ``None`` asks nobody.
    """
    g = _Graph(program, device)
    changed = False
    for _, rewrite in PASSES:
        for i in range(len(g.steps) - 1, -1, -1):  # consumers first: the largest match wins
            if g.steps[i] is not None and rewrite(g, i):
                changed = True
    if not changed:
        return program
    out = g.finish(program)
    for a, b in zip(out.outputs, program.outputs, strict=True):
        old, new = program.steps[b], out.steps[a]
        assert (old.shape, old.dtype) == (new.shape, new.dtype), "a pass changed an output"
    return out
