"""Tensor creation, readback, views (no copies), indexing and error messages on the cpu device."""

from __future__ import annotations

import array
import struct

import numpy as np
import pytest

import webaccel as wa

CPU = wa.get_device("cpu")


# --- creation


def test_from_nested_lists() -> None:
    t = wa.tensor([[1.5, 2.0, 3.0], [4.0, 5.0, 6.25]])
    assert t.shape == (2, 3) and t.dtype == wa.float32
    assert t.tolist() == [[1.5, 2.0, 3.0], [4.0, 5.0, 6.25]]
    i = wa.tensor([[1, -2], [3, 4]])
    assert i.dtype == wa.int32 and i.tolist() == [[1, -2], [3, 4]]
    assert wa.tensor([1, 2.5]).dtype == wa.float32  # mixed ints and floats: float
    assert wa.tensor(3.5).shape == () and wa.tensor(3.5).item() == 3.5
    assert wa.tensor([]).shape == (0,)
    assert wa.tensor([[], []]).shape == (2, 0)
    assert wa.tensor([[1, 2]], dtype="float16").numpy().dtype == np.float16


def test_from_bytes_and_buffers() -> None:
    raw = struct.pack("<3f", 1.0, -2.0, 0.5)
    assert wa.tensor(raw, dtype="float32").tolist() == [1.0, -2.0, 0.5]
    assert wa.tensor(bytearray(raw), dtype="float32", shape=(3, 1)).tolist() == [
        [1.0],
        [-2.0],
        [0.5],
    ]
    assert wa.from_buffer(raw, (3,)).tolist() == [1.0, -2.0, 0.5]
    with pytest.raises(ValueError, match="give dtype"):
        wa.tensor(raw)
    with pytest.raises(ValueError, match="12 bytes for shape"):
        wa.from_buffer(raw, (4,))
    assert wa.tensor(array.array("f", [1.0, 2.0])).tolist() == [1.0, 2.0]
    assert wa.tensor(array.array("i", [7, -8])).tolist() == [7, -8]
    assert wa.tensor(array.array("i", [7, -8])).dtype == wa.int32
    # float64 / int64 buffers are converted (like NumPy input), never reinterpreted
    assert wa.tensor(array.array("d", [1.0, 2.5])).tolist() == [1.0, 2.5]
    t = wa.tensor(array.array("q", [1, -2, 3]))
    assert t.dtype == wa.int32 and t.tolist() == [1, -2, 3]
    mv = memoryview(array.array("f", range(6))).cast("B").cast("f", (2, 3))
    assert wa.tensor(mv).tolist() == [[0, 1, 2], [3, 4, 5]]
    assert wa.tensor(memoryview(array.array("i", [1, 2]))).tolist() == [1, 2]


def test_from_numpy() -> None:
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(wa.tensor(a).numpy(), a)
    for view in (a.T, a[::2, ::-1], a[:, 1:3], np.broadcast_to(a[:1], (5, 4))):
        np.testing.assert_array_equal(wa.tensor(view).numpy(), view)  # non-contiguous input
    f64 = np.linspace(0, 1, 5)
    t = wa.tensor(f64)
    assert t.dtype == wa.float32
    np.testing.assert_array_equal(t.numpy(), f64.astype(np.float32))
    assert wa.tensor(np.arange(3)).dtype == wa.int32  # int64 -> int32
    assert wa.tensor(np.float32(2.5)).shape == ()  # 0-d stays 0-d
    assert wa.tensor(np.array(7, np.int32)).shape == ()
    for dt in ("float16", "uint8", "int8"):
        x = np.arange(5).astype(dt)
        assert wa.tensor(x).numpy().dtype == dt
    assert wa.tensor(np.zeros((2, 0, 3), np.float32)).shape == (2, 0, 3)
    assert wa.tensor(a, dtype="int32").tolist() == a.astype(np.int32).tolist()


def test_factories() -> None:
    assert wa.zeros((2, 3)).tolist() == [[0.0] * 3] * 2
    assert wa.ones((2,), "int32").tolist() == [1, 1]
    assert wa.full((), 2.5).item() == 2.5
    assert wa.full((2, 0), 1.0).tolist() == [[], []]


# --- readback


def test_readback_forms() -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5
    t = wa.tensor(a)
    assert t.to_bytes() == a.tobytes()
    assert bytes(t.read()) == a.tobytes()
    mv = t.to_memoryview()
    assert mv.format == "f" and mv.shape == (2, 3) and mv.tolist() == a.tolist()
    assert t.tolist() == a.tolist()
    np.testing.assert_array_equal(np.asarray(t), a)
    np.testing.assert_array_equal(np.asarray(t, dtype=np.float64), a)
    assert np.asarray(t).dtype == np.float32
    s = t.sum()
    assert s.item() == a.sum() and s.to_memoryview().tolist() == float(a.sum())
    assert s.numpy().shape == ()
    # views read back their own elements only
    assert t.T.to_bytes() == np.ascontiguousarray(a.T).tobytes()
    assert t[1].to_bytes() == a[1].tobytes()
    assert t[:, ::-2].tolist() == a[:, ::-2].tolist()
    assert t[:1].expand(3, 3).tolist() == np.broadcast_to(a[:1], (3, 3)).tolist()
    # float16: bytes for the memoryview (no "e" memoryview format), numbers elsewhere
    h = wa.tensor(a.astype(np.float16))
    assert bytes(h.to_memoryview()) == a.astype(np.float16).tobytes()
    assert h.tolist() == a.astype(np.float16).tolist()
    e = wa.tensor(np.zeros((0, 3), np.float32))
    assert e.to_bytes() == b"" and e.tolist() == [] and e.numpy().shape == (0, 3)


def test_numpy_operands_stay_lazy() -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = wa.tensor(a)
    for got, want in [
        (np.ones((4, 2), np.float32) @ t, np.ones((4, 2)) @ a),
        (a + t, a + a),
        (np.float32(2.0) * t, 2 * a),
        (a - t * 2, -a),
    ]:
        assert isinstance(got, wa.Tensor), type(got)
        np.testing.assert_allclose(got.numpy(), want)


# --- views share storage


def test_views_share_storage() -> None:
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    t = wa.tensor(a)
    before = CPU.live_storages
    views = {
        "reshape": (t.reshape(6, 4), a.reshape(6, 4)),
        "transpose": (t.permute(2, 0, 1), a.transpose(2, 0, 1)),
        "slice": (t[:, 1:, ::-2], a[:, 1:, ::-2]),
        "expand": (t[:, :1].expand(5, 2, 3, 4), np.broadcast_to(a[:, :1], (5, 2, 3, 4))),
        "squeeze": (t[:1].squeeze(0), a[0]),
        "split": (wa.split(t, [1, 3], axis=-1)[1], a[..., 1:]),
        "slice_": (wa.slice_(t, [2], [0], [2], [-1]), a[:, :, 2:0:-1]),
    }
    bitcast = t.bitcast("int32")
    assert CPU.live_storages == before, "a view allocated a storage"
    for name, (v, _) in views.items():
        assert v._node is t._node, name
    assert bitcast._node is t._node
    for name, (v, want) in views.items():
        np.testing.assert_array_equal(v.numpy(), want, err_msg=name)
    np.testing.assert_array_equal(bitcast.numpy(), a.view(np.int32))
    with pytest.raises(wa.DTypeError, match="element size"):
        t.bitcast("float16")


def test_bitcast_of_a_pending_result() -> None:
    a = np.array([1.0, -2.0, 0.5], np.float32)
    t = wa.tensor(a)
    got = ((t + 1).bitcast("int32") + 0).numpy()
    np.testing.assert_array_equal(got, (a + 1).view(np.int32))
    back = (wa.tensor(a.view(np.int32)).bitcast("float32") * 2).numpy()
    np.testing.assert_array_equal(back, a * 2)


def test_reshape_of_transpose_copies_and_is_right() -> None:
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = wa.tensor(a)
    flat = t.T.reshape(12)
    assert flat._node is not t._node and flat._node.op == "contiguous"
    np.testing.assert_array_equal(flat.numpy(), a.T.reshape(12))
    ok = t.T.reshape(4, 3, 1)  # only adds a unit axis: still a view
    assert ok._node is t._node
    np.testing.assert_array_equal(ok.numpy(), a.T.reshape(4, 3, 1))
    np.testing.assert_array_equal(t[:, ::2].reshape(-1).numpy(), a[:, ::2].reshape(-1))


# --- indexing

INDEXES = [
    0,
    -1,
    (1, 2),
    (-2, -1, 0),
    slice(None, None, 2),
    slice(None, None, -1),
    (slice(1, None), slice(None, None, -2)),
    (Ellipsis, 1),
    (None, 0),
    (0, None, slice(None), None),
    (Ellipsis, None),
    (slice(None), Ellipsis, slice(1, 3)),
    (slice(5, 1, -2), 0, slice(None)),
    (slice(10, 20),),
    (np.int64(1), np.int32(-1)),
]


@pytest.mark.parametrize("key", INDEXES, ids=repr)
def test_indexing_matches_numpy(key: object) -> None:
    a = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    got = wa.tensor(a)[key]
    want = a[key]
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.numpy(), want)
    np.testing.assert_array_equal((got * 1).numpy(), want)  # through a program too


def test_indexing_errors() -> None:
    t = wa.zeros((2, 3))
    with pytest.raises(IndexError, match="out of range"):
        t[2]
    with pytest.raises(IndexError, match="too many indices"):
        t[0, 0, 0]
    with pytest.raises(TypeError, match="unsupported index"):
        t[[0, 1]]


# --- errors


def test_shape_errors_name_op_shapes_and_rule() -> None:
    a, b = wa.zeros((2, 3)), wa.zeros((4, 3))
    with pytest.raises(wa.ShapeError) as e:
        a + b
    msg = str(e.value)
    assert "add" in msg and "(2, 3)" in msg and "(4, 3)" in msg and "broadcast" in msg
    with pytest.raises(wa.ShapeError, match=r"matmul: shapes \(2, 3\) and \(2, 3\) do not align"):
        a @ wa.zeros((2, 3))
    with pytest.raises(wa.ShapeError, match=r"linear: input \(2, 3\) and weight \(4, 4\)"):
        wa.linear(a, wa.zeros((4, 4)))
    with pytest.raises(
        wa.ShapeError, match=r"conv2d: input \(1, 3, 5, 5\) \(nchw\) has 3 channels"
    ):
        wa.conv2d(wa.zeros((1, 3, 5, 5)), wa.zeros((2, 2, 3, 3)))
    with pytest.raises(wa.ShapeError, match="smaller than the dilated kernel"):
        wa.conv2d(wa.zeros((1, 1, 2, 2)), wa.zeros((1, 1, 3, 3)))
    with pytest.raises(wa.ShapeError, match="concat"):
        wa.concat([a, wa.zeros((2, 4))], 0)
    with pytest.raises(wa.ShapeError, match="layer_norm"):
        wa.layer_norm(a, 4)
    with pytest.raises(wa.ShapeError, match="split: sizes"):
        wa.split(a, [1, 1], axis=1)
    with pytest.raises(wa.ShapeError, match="axis 2 is out of range for rank 2"):
        a.sum(2)
    with pytest.raises(wa.ShapeError, match="cannot reduce an empty axis"):
        wa.zeros((0, 2)).max(0)
    with pytest.raises(wa.ShapeError, match="expand"):
        a.expand(3, 3)
    with pytest.raises(wa.ShapeError, match="permute"):
        a.permute(0, 0)
    with pytest.raises(wa.ShapeError, match="names a new axis"):
        a.expand(-1, 2, 3)
    with pytest.raises(wa.ShapeError, match=r"padding .* must be smaller than the kernel"):
        wa.max_pool2d(wa.zeros((1, 1, 4, 4)), 2, 1, 2)
    with pytest.raises(ValueError, match="layout must be nchw or nhwc"):
        wa.avg_pool2d(wa.zeros((1, 1, 4, 4)), 2, layout="ncw")
    with pytest.raises(wa.ShapeError, match="attention"):
        wa.attention(a, wa.zeros((2, 4)), a)


def test_bad_reshape() -> None:
    t = wa.zeros((2, 3))
    with pytest.raises(
        wa.ShapeError, match=r"reshape: cannot reshape \(2, 3\) \(6 elements\) into \(4, 2\)"
    ):
        t.reshape(4, 2)
    with pytest.raises(wa.ShapeError, match="only one -1"):
        t.reshape(-1, -1)
    with pytest.raises(wa.ShapeError, match="cannot reshape"):
        wa.zeros((0, 4)).reshape(0, -1)  # NumPy cannot infer it either


def test_dtype_errors() -> None:
    q = wa.tensor(np.array([1, 2], np.int8))
    with pytest.raises(TypeError, match="int8 tensors hold weights"):
        q + 1
    with pytest.raises(TypeError, match="uint8"):
        wa.relu(wa.tensor(np.array([1], np.uint8)))
    with pytest.raises(wa.DTypeError, match="exp: needs float inputs"):
        wa.exp(wa.tensor([1, 2]))
    with pytest.raises(wa.DTypeError, match="gather: indices must be int32"):
        wa.gather(wa.zeros((3,)), wa.zeros((2,)))
    with pytest.raises(wa.DTypeError, match="concat: dtypes differ"):
        wa.concat([wa.zeros((2,)), wa.zeros((2,), "int32")])
    with pytest.raises(TypeError, match="unsupported dtype"):
        wa.tensor([1.0], dtype="complex64")
    assert issubclass(wa.DTypeError, TypeError)
    assert issubclass(wa.ShapeError, ValueError)


def test_gather_out_of_range() -> None:
    x = wa.zeros((3, 2))
    out = wa.gather(x, wa.tensor([0, 3]))
    with pytest.raises(IndexError, match="gather: index 3 is out of range for axis 0 of size 3"):
        out.numpy()
    with pytest.raises(IndexError, match="index -4"):
        wa.gather(x, wa.tensor([-4])).numpy()


def test_ragged_nested_lists() -> None:
    with pytest.raises(wa.ShapeError, match="ragged"):
        wa.tensor([[1, 2], [3]])
    with pytest.raises(wa.ShapeError, match="ragged"):
        wa.tensor([[1, 2], 3])
    with pytest.raises(TypeError, match="cannot build a tensor"):
        wa.tensor([object()])


def test_int4_storage() -> None:
    t = wa.tensor([1.0, -3.0, 7.0]).cast("int4")
    assert t.dtype == wa.int4 and t.nbytes == 2
    assert t.to_bytes() == bytes([0xD1, 0x07])  # low nibble first, two's complement
    with pytest.raises(TypeError, match="int4"):
        t.numpy()
    with pytest.raises(TypeError, match="int4 tensors hold weights"):
        t + 1


def test_tensor_properties() -> None:
    t = wa.zeros((2, 3, 4))
    assert (t.ndim, t.numel, t.nbytes, len(t)) == (3, 24, 96, 2)
    assert t.device is CPU and "float32" in repr(t)
    assert t.strides == (12, 4, 1) and t.is_contiguous
    assert not t.T.is_contiguous
    with pytest.raises(TypeError):
        len(wa.zeros(()))
    with pytest.raises(ValueError, match="item"):
        t.item()
    assert wa.tensor(t) is t
