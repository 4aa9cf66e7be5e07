"""``softmax`` written as max/sub/exp/sum/div becomes the one op.

Its definition (``ops.py``) is that expression in IEEE arithmetic, so the rewrite keeps every
result, edge values included. ``layer_norm`` written from primitives is left as written: the
op normalizes without overflowing for any finite input, while the float32 expression's
``(x - mean) ** 2`` overflows beyond |x - mean| ~ 1.8e19 (its variance becomes inf and its
result 0), so a rewrite would change results there."""

from __future__ import annotations

from ...ir import Step
from .rewrite import Graph, is_f32, keep_shape, same_input


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
