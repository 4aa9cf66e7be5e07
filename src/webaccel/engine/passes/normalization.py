"""Normalizations written from primitives become the one op: ``softmax`` written as
max/sub/exp/sum/div, ``layer_norm`` written as mean/sub/square/mean/add eps/sqrt (or
rsqrt)/div (or mul), with an optional ``* weight`` and ``+ bias`` over the normalized axes."""

from __future__ import annotations

import math

from ... import ops
from ...ir import Step
from ...view import View
from .rewrite import Graph, Ref, bcast_same, is_f32, keep_shape, same_input


def softmax(g: Graph, i: int) -> bool:
    root = g.steps[i]
    assert root is not None
    if root.op != "div" or not is_f32(root):
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
    keep = keep_shape(root.shape, axes)
    si = g.reduced(s_ref, "sum", axes, keep)
    if si < 0 or g.dense(s_found[1].srcs[0]) is None or s_found[1].srcs[0][0] != g.n + ei:
        return False
    sub = g.dense(estep.srcs[0], "sub")
    if sub is None or sub[1].shape != root.shape:
        return False
    di, dstep = sub
    x, m_ref = dstep.srcs
    if not same_input(x, root.shape):
        return False
    mi = g.reduced(m_ref, "max", axes, keep)
    if mi < 0 or g.steps[mi].srcs[0] != x:  # type: ignore[union-attr]
        return False
    new = Step("softmax", (("axis", axes[0]),), (x,), root.shape, root.dtype)
    return g.replace(i, new, {ei, si, di, mi})


def _centered(
    g: Graph, ref: Ref, shape: tuple[int, ...]
) -> tuple[Ref, tuple[int, ...], set[int]] | None:
    """``x - x.mean(trailing axes)``: (x, axes, steps)."""
    found = g.dense(ref, "sub")
    if found is None or found[1].shape != shape:
        return None
    di, dstep = found
    x, m_ref = dstep.srcs
    if not same_input(x, shape):
        return None
    m = g.step(m_ref)
    if m is None or m[1].op != "mean":
        return None
    axes = m[1].attr("axes")
    nd = len(shape)
    if not axes or tuple(axes) != tuple(range(nd - len(axes), nd)):
        return None  # layer_norm normalizes trailing axes
    mi = g.reduced(m_ref, "mean", axes, keep_shape(shape, axes))
    if mi < 0 or m[1].srcs[0] != x:
        return None
    return x, axes, {di, mi}


def _norm_core(g: Graph, i: int) -> tuple[Ref, tuple[int, ...], float, set[int]] | None:
    """Step *i* as ``(x - mean) / sqrt(var + eps)`` (or ``* rsqrt(...)``):
    (x, axes, eps, steps)."""
    step = g.steps[i]
    assert step is not None
    if step.op not in ("div", "mul") or not is_f32(step):
        return None
    shape = step.shape
    orders = [step.srcs] if step.op == "div" else [step.srcs, step.srcs[::-1]]
    for n_ref, r_ref in orders:
        centered = _centered(g, n_ref, shape)
        if centered is None:
            continue
        x, axes, inner = centered
        keep = keep_shape(shape, axes)
        root_op = "sqrt" if step.op == "div" else "rsqrt"
        r = g.step(r_ref)
        if r is None or r[1].op != root_op or not is_f32(r[1]):
            continue
        ri = r[0]
        if not r_ref[1].is_contiguous() or r_ref[1].offset or r_ref[2] != r[1].dtype:
            continue
        if not bcast_same(r_ref[1].shape, keep) or math.prod(r[1].shape) != math.prod(keep):
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


def layer_norm(g: Graph, i: int) -> bool:
    root = g.steps[i]
    assert root is not None
    if not is_f32(root) or root.op not in ("add", "mul", "div"):
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
