"""Data types: one table, read by every backend (NumPy name, WGSL storage, WebNN name)."""

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
    webnn: str
    computable: bool  # arithmetic allowed; weight-storage types must be cast first

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


float32 = DType("float32", 32, "f", "float32", "float32", True)
float16 = DType("float16", 16, "f", "float16", "float16", True)
int32 = DType("int32", 32, "i", "int32", "int32", True)
uint8 = DType("uint8", 8, "u", "uint8", "uint8", False)
int8 = DType("int8", 8, "i", "int8", "int8", False)
int4 = DType("int4", 4, "i", None, "int4", False)  # packed, low nibble first

DTYPES: dict[str, DType] = {d.name: d for d in (float32, float16, int32, uint8, int8, int4)}


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
