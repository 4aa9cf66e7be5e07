"""The malformed-call table (``tests/malformed_calls.py``) on the host's cpu device: each call
raises its error, naming the op, the argument and the rule, no internal error escapes, and
nothing reaches the device. The same table runs in the browser lanes
(``tests/browser/test_malformed_browser.py``)."""

from __future__ import annotations

import numpy as np
import pytest
from malformed_calls import BAD, GOOD, Bad, Good, check, check_good, run_good, run_table

import webaccel as wa


@pytest.fixture(scope="module")
def outcomes() -> dict[str, tuple]:
    return run_table(wa, "cpu")


@pytest.fixture(scope="module")
def good_outcomes() -> dict[str, tuple]:
    return run_good(wa, "cpu")


@pytest.mark.parametrize("entry", BAD, ids=[e.id for e in BAD])
def test_malformed_call(entry: Bad, outcomes: dict[str, tuple]) -> None:
    if entry.only and "cpu" not in entry.only:
        assert entry.id not in outcomes  # a device-limit entry: runs in the browser lanes
        return
    check(entry, outcomes[entry.id])


@pytest.mark.parametrize("entry", GOOD, ids=[e.id for e in GOOD])
def test_edge_call_still_works(entry: Good, good_outcomes: dict[str, tuple]) -> None:
    check_good(entry, good_outcomes[entry.id])


def test_table_ids_are_unique() -> None:
    ids = [e.id for e in BAD] + [e.id for e in GOOD]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


def test_numpy_integers_are_ints() -> None:
    """Where an int is wanted (sizes, axes, indices, strides), NumPy integers are ints."""
    x = wa.tensor(np.arange(12, dtype=np.float32).reshape(3, 4))
    n = np.int64
    assert x.reshape(n(4), np.int32(3)).shape == (4, 3)
    assert x.sum(n(0)).tolist() == [12.0, 15.0, 18.0, 21.0]
    assert x[n(1), np.int16(-1)].item() == 7.0
    assert x[n(0) : n(3) : n(2)].shape == (2, 4)
    assert x.unsqueeze(n(0)).shape == (1, 3, 4)
    assert x.permute(n(1), n(0)).shape == (4, 3)
    assert wa.zeros(n(3)).shape == (3,) and wa.zeros((n(2), n(0))).shape == (2, 0)
    assert [t.shape for t in wa.split(x, n(2), axis=n(1))] == [(3, 2), (3, 2)]
    assert wa.gather(x, [n(2)]).tolist() == [[8.0, 9.0, 10.0, 11.0]]
    img, w = wa.zeros((1, 1, 4, 4)), wa.ones((1, 1, 2, 2))
    assert wa.conv2d(img, w, stride=n(2), padding=n(0), groups=n(1)).shape == (1, 1, 2, 2)
    assert wa.max_pool2d(img, n(2)).shape == (1, 1, 2, 2)
    assert wa.tensor([np.float32(1.5), n(2)]).tolist() == [1.5, 2.0]
    assert wa.tensor([n(2), n(3)]).dtype == wa.int32
    assert wa.full((2,), np.float32(0.5)).tolist() == [0.5, 0.5]


def test_numpy_bools_and_floats_are_not_ints() -> None:
    x = wa.zeros((3, 4))
    with pytest.raises(TypeError, match=r"reshape: shape\[0\] must be an int, not float64"):
        x.reshape(np.float64(3.0), 4)
    with pytest.raises(TypeError, match="sum: axis must be an int, not bool"):
        x.sum(np.bool_(True))
    with pytest.raises(TypeError, match="index: unsupported index bool"):
        x[np.bool_(False)]


def test_numpy_operands_are_checked_before_upload() -> None:
    x = wa.zeros((3, 4))
    before = (wa.graph_stats("cpu"), wa.get_device("cpu").memory())
    with pytest.raises(wa.ShapeError, match="add: shapes"):
        x + np.ones(5, np.float32)
    with pytest.raises(TypeError, match="add: b is a NumPy array of <U1"):
        x + np.array(["a"])
    assert (wa.graph_stats("cpu"), wa.get_device("cpu").memory()) == before


def test_device_limit_is_checked_where_an_op_records() -> None:
    """A device's max_buffer_bytes bounds every op's output, checked at the call."""
    dev = wa.get_device("cpu")
    old = dev.max_buffer_bytes
    x, y = wa.zeros((4, 4)), wa.zeros((4, 5))
    dev.max_buffer_bytes = 64
    try:
        with pytest.raises(ValueError, match=r"matmul: the output \(4, 5\) of float32 needs 80"):
            x @ y
        with pytest.raises(ValueError, match="cpu holds at most 64 bytes"):
            wa.tensor([0.0] * 17)
        with pytest.raises(ValueError, match="max_buffer_bytes"):
            x.expand(2, 4, 4).contiguous()
        assert (x + 1).shape == (4, 4)
    finally:
        dev.max_buffer_bytes = old


def test_pipeline_call_arguments(tmp_path) -> None:
    """A loaded pipeline's call checks texts, pooling, normalize and batch_size first."""
    import warnings

    import tiny_bert as tb

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # transformers' notes on the tokenizer it saves
        folder = tb.write_checkpoint(tmp_path / "m", tb.VARIANTS["cased_cls"])
    pipe = wa.pipeline("feature-extraction", model=str(folder) + "/", device="cpu")
    cases = [
        (lambda: pipe(3), TypeError, "texts is a str or a list of str, not int"),
        (lambda: pipe(["a", 3]), TypeError, r"texts\[1\] is int"),
        (lambda: pipe("a", pooling=3), TypeError, "pooling must be a str or a tuple of str"),
        (lambda: pipe("a", pooling="sum"), ValueError, "pooling 'sum' is not supported"),
        (lambda: pipe("a", normalize="yes"), TypeError, "pipeline: normalize must be True or"),
        (lambda: pipe("a", batch_size=0), ValueError, "pipeline: batch_size must be a positive"),
        (lambda: pipe("a", batch_size=2.5), TypeError, "pipeline: batch_size must be an int"),
        (lambda: pipe("a", batch_size=True), TypeError, "batch_size must be an int, not bool"),
        (lambda: pipe.embedder.encode(3), TypeError, "encode: texts must be a list of str"),
        (lambda: pipe.embedder.encode(["a"], batch_size=1.0), TypeError, "encode: batch_size"),
    ]
    before = (wa.graph_stats("cpu"), wa.get_device("cpu").memory())
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()
    assert (wa.graph_stats("cpu"), wa.get_device("cpu").memory()) == before
    assert len(pipe("a", pooling="cls", normalize=True, batch_size=np.int64(2))) == 96


def test_a_python_number_in_where_takes_the_values_dtype_not_the_conditions() -> None:
    """where(int32 cond, float16 x, -inf): the number is weak, as in x + -inf (float16)."""
    x = wa.tensor(np.array([[1.0, 2.0]], np.float16))
    cond = wa.tensor(np.array(1, np.int32))
    assert wa.where(cond, x, float("-inf")).dtype == wa.float16
    assert wa.where(cond, 1.5, x).dtype == wa.float16
    assert wa.where(cond, x, float("-inf")).numpy().dtype == np.float16
