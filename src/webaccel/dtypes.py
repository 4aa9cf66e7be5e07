"""Data types: one table, every fact about a dtype a column of it.

Backends and the FFI read these columns instead of keeping their own name maps: the NumPy name,
the WebNN ``dataType``, the JS typed array that holds it, the ``struct`` format character, the
WGSL type its storage buffer declares and the WGSL type arithmetic on it uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, eq=False)
class DType:
    """One per name (the table below): compared and hashed by identity, which is C-speed in
    the graph cache's keys; pickling gives back the same object."""

    name: str
    bits: int
    kind: str  # "f" float, "i" signed int, "u" unsigned int
    numpy: str | None  # NumPy dtype name; None where NumPy has none (int4)
    webnn: str  # MLOperandDescriptor.dataType
    computable: bool  # arithmetic allowed; weight-storage types must be cast first
    js_array: str  # the JS typed array over its bytes (packed int4: Uint8Array; float16:
    # Float16Array, or Uint16Array holding the same bits on hosts without Float16Array)
    struct: str | None  # `struct` / memoryview format character; None for packed int4
    # WGSL: the element type of a storage buffer holding it (f16 without shader-f16 and the
    # 8/4-bit codes are packed into u32 words), and the type kernels compute in (None: never
    # computed on; weight codes are unpacked by the quantized kernels themselves).
    wgsl_storage: str
    wgsl_compute: str | None

    @property
    def itemsize(self) -> int:
        """Bytes per element, rounded up (int4 packs two elements per byte)."""
        return max(1, self.bits // 8)

    def nbytes(self, numel: int) -> int:
        return (numel * self.bits + 7) // 8

    def __repr__(self) -> str:
        return f"webaccel.{self.name}"

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return as_dtype, (self.name,)


# name       bits kind numpy      webnn      computable js_array        struct  storage compute
float32 = DType("float32", 32, "f", "float32", "float32", True, "Float32Array", "f", "f32", "f32")
float16 = DType("float16", 16, "f", "float16", "float16", True, "Float16Array", "e", "u32", "f32")
int32 = DType("int32", 32, "i", "int32", "int32", True, "Int32Array", "i", "i32", "i32")
uint8 = DType("uint8", 8, "u", "uint8", "uint8", False, "Uint8Array", "B", "u32", None)
int8 = DType("int8", 8, "i", "int8", "int8", False, "Int8Array", "b", "u32", None)
int4 = DType("int4", 4, "i", None, "int4", False, "Uint8Array", None, "u32", None)  # low nibble 1st

DTYPES: dict[str, DType] = {d.name: d for d in (float32, float16, int32, uint8, int8, int4)}
# Reverse lookups, for data that arrives typed by its container: a memoryview's format, a JS
# typed array's constructor (Float16Array where the browser has it; Uint16Array holds f16 bits).
BY_STRUCT: dict[str, DType] = {d.struct: d for d in DTYPES.values() if d.struct}
BY_JS_ARRAY: dict[str, DType] = {
    **{d.js_array: d for d in (float32, float16, int32, uint8, int8)},
    "Uint16Array": float16,
}


def as_dtype(value: Any) -> DType:
    """A DType from a DType, its name, or a NumPy dtype."""
    if isinstance(value, DType):
        return value
    name = getattr(value, "name", None) or str(value)
    if name == "float64":  # NumPy's default float: store as float32, like the browser does
        name = "float32"
    if name == "int64":
        name = "int32"
    try:
        return DTYPES[name]
    except KeyError:
        raise TypeError(f"unsupported dtype {value!r}; webaccel has {', '.join(DTYPES)}") from None


def result_type(op: str, *dtypes: DType) -> DType:
    """The dtype of an elementwise op over *dtypes* (floats win; float32 over float16)."""
    for d in dtypes:
        if not d.computable:
            raise TypeError(
                f"{op}: {d.name} tensors hold weights and cannot be computed on directly; "
                f"cast them first (e.g. t.cast('float32') or dequantize)"
            )
    if all(d == dtypes[0] for d in dtypes):
        return dtypes[0]
    floats = [d for d in dtypes if d.kind == "f"]
    return max(floats, key=lambda d: d.bits) if floats else int32
