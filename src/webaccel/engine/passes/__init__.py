"""Graph-level rewrites of a lowered ``Program``, shared by every backend: one module per rule
family (``activations``, ``normalization``, ``linear``, ``views``) over ``rewrite.Graph``.

``optimize(program, device)`` runs before a device compiles a program (``engine.realize``;
the compiled result is cached under the *original* program, so a cache hit skips the passes
too). The rewritten program has the same inputs and the same outputs (count, order, shapes,
dtypes); only what happens between them changes:

1. **Primitives to ops**: ``softmax`` written as max/sub/exp/sum/div and ``gelu`` in its erf
   form ``0.5 * x * (1 + erf(x / sqrt 2))`` or its tanh form (halving before the product, so
   nothing overflows where gelu does not) each become the one op. A rewrite gives what the
   written expression gives, edge values included (NaN, inf, -0.0, overflow), or it does not
   fire: ``layer_norm`` written out stays written out (``normalization.py`` says why).
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

from collections.abc import Callable
from typing import Any

from ...ir import Program
from .activations import gelu
from .linear import dequant_linear, linear
from .normalization import softmax
from .rewrite import Graph
from .views import contiguous

# In order: views first (a folded copy can become a transposed linear weight), then the
# primitives (a gelu from primitives can become a linear activation), then linear.
PASSES: tuple[tuple[str, Callable[[Graph, int], bool]], ...] = (
    ("contiguous", contiguous),
    ("gelu", gelu),
    ("softmax", softmax),
    ("linear", linear),
    ("linear_q", dequant_linear),
)


def optimize(program: Program, device: Any = None) -> Program:
    """*program* with the patterns above rewritten (the same program when none matches).

    *device* (optional) is asked whether it supports each new step; ``None`` asks nobody.
    """
    g = Graph(program, device)
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
