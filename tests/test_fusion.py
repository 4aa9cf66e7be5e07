"""Elementwise fusion planning on lowered programs (backend-independent)."""

from __future__ import annotations

import numpy as np

import webaccel as wa
from webaccel import ir
from webaccel.engine import fusion


def program_of(*tensors: wa.Tensor) -> ir.Program:
    nodes = ir.pending_nodes([t._node for t in tensors])
    program, _, _ = ir.lower(nodes, {t._node.id for t in tensors})
    return program


def test_elementwise_chain_becomes_one_kernel():
    x = wa.tensor(np.ones((4, 5), np.float32))
    y = ((x * 2.0 + 1.0).exp() - x).relu()
    kernels = fusion.plan(program_of(y))
    (k,) = kernels
    assert isinstance(k, fusion.Fused)
    assert k.op_count == 5  # mul add exp sub relu; the scalars are inlined constants
    assert [slot for slot, _, _ in k.inputs] == [0]  # x is read once, though used twice
    np.testing.assert_allclose(y.numpy(), np.maximum(np.exp(np.ones((4, 5)) * 3) - 1, 0), rtol=1e-6)


def test_fusion_stops_at_non_elementwise_ops_and_held_tensors():
    a = wa.tensor(np.ones((3, 3), np.float32))
    h = a * 3.0  # held by a live tensor: must be an output, so not inlined
    y = (h @ a).sigmoid() if hasattr(h, "sigmoid") else wa.sigmoid(h @ a)
    kernels = fusion.plan(program_of(y))
    kinds = [k if isinstance(k, int) else "fused" for k in kernels]
    assert kinds.count("fused") == 2 and len(kernels) == 3  # a*3 | matmul | sigmoid


def test_broadcast_view_of_a_producer_is_not_inlined():
    a = wa.tensor(np.arange(4, dtype=np.float32))
    y = wa.exp(a)[None, :].expand(3, 4) + wa.tensor(np.ones((3, 4), np.float32))
    kernels = [k for k in fusion.plan(program_of(y)) if isinstance(k, fusion.Fused)]
    assert len(kernels) == 2
    np.testing.assert_allclose(
        y.numpy(), np.broadcast_to(np.exp(np.arange(4.0)) + 1, (3, 4)), rtol=1e-6
    )


def test_float16_intermediates_keep_their_rounding_point():
    """A fused kernel gives what the unfused program stores: each inlined float16 result is
    rounded to float16 (a cast node), and float16 constants hold their float16 value."""
    x = wa.tensor(np.array([0.3, 2.0, 1e4], np.float16))
    y = ((x * 0.1).exp() + 1e38).cast("float32") * 2.0
    (kernel,) = [k for k in fusion.plan(program_of(y)) if isinstance(k, fusion.Fused)]
    text = repr(kernel.expr)
    assert text.count("'float16')") >= 3, text  # exp's and mul's results, and the cast itself
    assert "0.0999755859375" in text and "inf" in text, text  # 0.1 and 1e38 as float16
    assert fusion.f16_value(65520.0) == float("inf") and fusion.f16_value(65519.0) == 65504.0


def test_an_int32_operand_of_a_float16_op_is_converted_in_the_kernel():
    """ops.py: an int32 operand of a float16 op is float16 first (65520 is inf there); the
    kernel computes in float32, so the conversion is a cast node (the condition of where is
    left alone)."""
    i = wa.tensor(np.array([65520, 2049], np.int32))
    h = wa.tensor(np.array([-100, 0.5], np.float16))
    (kernel,) = [k for k in fusion.plan(program_of(i + h)) if isinstance(k, fusion.Fused)]
    assert kernel.expr == ("add", ("cast", ("in", 0), "float16"), ("in", 1)), kernel.expr
    (kernel,) = [k for k in fusion.plan(program_of(wa.where(i, h, 1.0)))]
    assert kernel.expr[1] == ("in", 0), kernel.expr  # the int32 condition is not converted
