"""``webaccel.shapes``: the one set of shape helpers, checked against NumPy; and the op front end
that names the op in its error."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from webaccel import ops
from webaccel.shapes import broadcast_shapes, contiguous_strides, infer_reshape, numel


def test_numel_and_contiguous_strides_match_numpy() -> None:
    for shape in [(), (1,), (3, 4), (2, 0, 5), (2, 3, 4, 5)]:
        assert numel(shape) == np.zeros(shape).size
        if numel(shape):
            want = tuple(s // 8 for s in np.zeros(shape, np.float64).strides)
            assert contiguous_strides(shape) == want


def test_broadcast_shapes_match_numpy() -> None:
    dims = [(), (1,), (3,), (1, 3), (2, 1), (2, 3), (4, 1, 1), (0,), (1, 0)]
    for a, b, c in itertools.product(dims, repeat=3):
        try:
            want = np.broadcast_shapes(a, b, c)
        except ValueError:
            with pytest.raises(ValueError, match="do not broadcast"):
                broadcast_shapes(a, b, c)
        else:
            assert broadcast_shapes(a, b, c) == want, (a, b, c)


def test_broadcast_errors_name_the_axis_and_the_op() -> None:
    with pytest.raises(ValueError, match=r"axis -1 has sizes \[3, 4\]"):
        broadcast_shapes((2, 3), (4,))
    with pytest.raises(ops.ShapeError, match=r"^add: shapes \(2, 3\) and \(4,\) do not broadcast"):
        ops.broadcast_shapes("add", (2, 3), (4,))
    assert ops.broadcast_shapes("add", (2, 1), (3,)) == (2, 3)


def test_infer_reshape() -> None:
    assert infer_reshape((2, 3, 4), (-1, 4)) == (6, 4)
    assert infer_reshape((2, 3, 4), (24,)) == (24,)
    assert infer_reshape((0, 3), (-1, 3)) == (0, 3)
    with pytest.raises(ValueError, match="only one -1"):
        infer_reshape((2, 3), (-1, -1))
    with pytest.raises(ValueError, match=r"cannot reshape \(2, 3\) \(6 elements\) into \(4, -1\)"):
        infer_reshape((2, 3), (4, -1))
    with pytest.raises(ValueError, match="cannot reshape"):
        infer_reshape((2, 3), (5,))
