"""The WebAssembly in ``js_glue/idb_glue.js`` (the store's checksum rounds): it is the build of
``js_glue/xxh32x4.wat`` (``tools/build_wasm.py``), and run in wasmtime it gives the Python
reference's xxh32x4 on edge sizes."""

from __future__ import annotations

import importlib.util
import random
import struct
from pathlib import Path

import pytest
import wasmtime

from webaccel.store import xxh32x4

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("build_wasm", ROOT / "tools" / "build_wasm.py")
build_wasm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build_wasm)


def test_the_embedded_module_is_the_build_of_its_source():
    module = build_wasm.build()
    assert build_wasm.embedded((ROOT / "js_glue" / "idb_glue.js").read_text()) == module
    assert module[:4] == b"\0asm" and len(module) == 252


def wasm_xxh32x4(data: bytes) -> str:
    """xxh32x4 with the rounds run by the embedded module (the tail and length as in JS)."""
    store = wasmtime.Store()
    module = build_wasm.embedded((ROOT / "js_glue" / "idb_glue.js").read_text())
    inst = wasmtime.Instance(store, wasmtime.Module(store.engine, module), [])
    memory, rounds = inst.exports(store)["memory"], inst.exports(store)["rounds"]
    padded = data + bytes(-len(data) % 16)
    init = struct.pack("<4I", 0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F)
    memory.write(store, init + padded, 0)
    rounds(store, len(padded))
    lanes = list(struct.unpack("<4I", memory.read(store, 0, 16)))
    lanes[0] ^= len(data) & 0xFFFFFFFF
    lanes[1] ^= len(data) >> 32
    return "".join(f"{v:08x}" for v in lanes)


@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 31, 64, 1000, 65536 + 3])
def test_the_module_computes_the_reference_checksum(n):
    data = random.Random(n).randbytes(n)
    assert wasm_xxh32x4(data) == xxh32x4(data)
    if n:  # one flipped bit changes it
        flipped = bytes([data[0] ^ 1]) + data[1:]
        assert wasm_xxh32x4(flipped) != wasm_xxh32x4(data)
