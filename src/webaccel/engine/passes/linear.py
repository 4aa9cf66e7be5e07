"""``matmul(x, W)`` (+ bias) (+ activation) becomes one ``linear`` step reading ``W`` through a
transposed view; ``linear(x, dequantize(q, scale), b)`` becomes one ``linear_q`` step."""

from __future__ import annotations

import math

from ...ir import Step
from ...view import View
from .rewrite import Graph, Ref, is_f32

# Steps the linear pattern extends with a bias and an activation (linear_q: quantized weight).
_LINEARS = ("matmul", "linear", "linear_q")
# Step op -> the ``activation`` attribute of ``linear`` (gelu's tanh form is "gelu_tanh").
ACTIVATIONS = ("relu", "sigmoid", "tanh", "gelu")


def _activation(step: Step) -> str | None:
    if step.op == "gelu":
        return "gelu_tanh" if step.attr("approximate") == "tanh" else "gelu"
    return step.op if step.op in ACTIVATIONS else None


def linear(g: Graph, i: int) -> bool:
    root = g.steps[i]
    assert root is not None
    if not is_f32(root):
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
        if not is_f32(m, *floats) or m.attr("activation") is not None:
            continue
        n_out = shape[-1] if shape else 0
        bias: Ref | None = None
        if b_ref is not None:
            if not is_f32(b_ref) or not b_ref[1].shape or b_ref[1].shape[-1] != n_out:
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


def dequant_linear(g: Graph, i: int) -> bool:
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
