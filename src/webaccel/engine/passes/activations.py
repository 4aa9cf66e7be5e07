"""Activations written from primitives become the one op: ``gelu`` in its erf form
``0.5 * x * (1 + erf(x / sqrt 2))`` or its tanh form.

Only where the written product halves ``x`` (or the ``1 + erf`` factor) before it multiplies
the two: ``gelu`` never overflows for finite x (``|gelu(x)| <= |x|``), but
``x * (1 + erf(x / sqrt 2)) / 2`` does, to inf, for x above float32 max / 2 (1.7e38), and a
rewrite must give what the written expression gives."""

from __future__ import annotations

import math

from ...ir import Step
from .rewrite import Graph, Ref, close_to, product, same_input

_SQRT2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def gelu(g: Graph, i: int) -> bool:
    root = g.steps[i]
    assert root is not None
    prod = product(g, i)
    if prod is None:
        return False
    const, leaves, inner = prod
    if not close_to(const, 0.5) or len(leaves) != 2:
        return False
    for x, t in (leaves, leaves[::-1]):
        if not same_input(x, root.shape):
            continue
        found = g.dense(t, "add")
        if found is None or found[1].shape != root.shape:
            continue
        ti, tstep = found
        for one, fn in (tstep.srcs, tstep.srcs[::-1]):
            if not close_to(g.const(one), 1.0):
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
            if body is None or not _halves_first(g, i, x, t):
                continue
            approximate = "none" if fstep.op == "erf" else "tanh"
            new = Step("gelu", (("approximate", approximate),), (x,), root.shape, root.dtype)
            if g.replace(i, new, inner | {ti, fi} | body):
                return True
    return False


def _scaled(g: Graph, ref: Ref, shape: tuple[int, ...]) -> tuple[float, list[Ref], set[int]] | None:
    """*ref* as a product (mul/div chain) of full *shape*: (constant, leaves, its steps)."""
    found = g.dense(ref, ("mul", "div"))
    if found is None or found[1].shape != shape:
        return None
    return product(g, found[0])


def _erf_arg(g: Graph, ref: Ref, x: Ref, shape: tuple[int, ...]) -> set[int] | None:
    """``x / sqrt 2`` (or ``x * (1 / sqrt 2)``): the steps, or None."""
    prod = _scaled(g, ref, shape)
    if prod is None:
        return None
    const, leaves, inner = prod
    return inner if close_to(const, 1 / _SQRT2) and leaves == [x] else None


def _tanh_arg(g: Graph, ref: Ref, x: Ref, shape: tuple[int, ...]) -> set[int] | None:
    """``sqrt(2 / pi) * (x + 0.044715 * x ** 3)`` (any association of the products)."""
    prod = _scaled(g, ref, shape)
    if prod is None:
        return None
    const, leaves, inner = prod
    if not close_to(const, _SQRT_2_OVER_PI) or len(leaves) != 1:
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


def _cube(g: Graph, ref: Ref, x: Ref, shape: tuple[int, ...]) -> set[int] | None:
    """``0.044715 * x ** 3`` with the cube as ``pow(x, 3)`` or products of x."""
    prod = _scaled(g, ref, shape)
    if prod is None:
        return None
    const, leaves, inner = prod
    if not close_to(const, 0.044715):
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


def _halves_first(g: Graph, root: int, x: Ref, t: Ref) -> bool:
    """The product at *root* (its structure checked by ``product``) multiplies *x* by *t* only
    after one of them was scaled by the 0.5, and no constant factor above 1 appears anywhere,
    so no intermediate exceeds ``|x|``: it overflows exactly where gelu does (nowhere)."""
    ok = True

    def walk(i: int) -> tuple[bool, bool, float]:
        """(holds x, holds t, product of its constants) of the product's step *i*."""
        nonlocal ok
        step = g.steps[i]
        assert step is not None
        if step.op == "div":
            c = g.const(step.srcs[1])
            scale, children = (1.0 / c if c else math.inf), step.srcs[:1]
        else:
            scale, children = 1.0, step.srcs[:2]
        ok = ok and abs(scale) <= 1.0
        sides = []
        for ref in children:
            c = g.const(ref)
            if c is not None:
                ok = ok and abs(c) <= 1.0
                scale *= c
            elif ref == x or ref == t:
                sides.append((ref == x, ref == t, 1.0))
            else:
                found = g.step(ref)
                assert found is not None  # product() descended into it
                sides.append(walk(found[0]))
        if len(sides) == 2 and sides[0][0] != sides[1][0]:  # the step that multiplies x by t
            ok = ok and abs(sides[0][2] * sides[1][2]) <= 0.5 * (1 + 1e-6)
        holds_x = any(s[0] for s in sides)
        holds_t = any(s[1] for s in sides)
        for s in sides:
            scale *= s[2]
        return holds_x, holds_t, scale

    walk(root)
    return ok
