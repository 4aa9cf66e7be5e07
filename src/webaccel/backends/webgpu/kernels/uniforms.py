"""Uniform structs declared once: the WGSL ``struct`` a kernel reads and the bytes Python packs.

    params = Uniforms("MatmulParams", m="u32", n="u32", k="u32", unused0="pad",
                      a_off="i32", ..., batch_shape=("u32", rank))
    params.decl(binding)          # "struct MatmulParams { m: u32, ... };" + its binding as P
    params.u("m"), params.i("a_off"), params.f("eps"), params.u("batch_shape", 2)
                                  # the field read as u32 / i32 / f32 in WGSL: "P.m" ...
    params.pack(m=64, n=32, ..., batch_shape=[2, 3])   # the uniform bytes, same order

Fields are u32, i32 or f32 scalars, one 4-byte word each, in declaration order; ``"pad"`` is a
u32 word no kernel reads (packed as 0). An array field ``(type, n)`` is n scalars ``name_0``
... ``name_{n-1}`` -- WGSL wants 16-byte strides for arrays in uniform memory, and kernels
unroll every per-dimension loop anyway. A field read as the other integer type goes through
``u32()`` / ``i32()``, which in WGSL reinterpret the bits.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

SCALARS = ("u32", "i32", "f32")
_PACK = {"u32": "I", "i32": "i", "f32": "f", "pad": "I"}
Field = str | tuple[str, int]  # a scalar type (or "pad"), or (type, length) for an array


def strided(name: str, rank: int) -> dict[str, Field]:
    """The fields of an operand read through its strides: ``<name>_off``, its element offset,
    and ``<name>_strides``, *rank* of them (``shader.strided_offset`` reads them)."""
    return {f"{name}_off": "i32", f"{name}_strides": ("i32", rank)}


def strided_values(name: str, offset: int, strides: Sequence[int]) -> dict[str, Any]:
    """The values of the fields ``strided(name, len(strides))`` declares."""
    return {f"{name}_off": offset, f"{name}_strides": strides}


class Uniforms:
    """One named uniform struct: its members, WGSL declaration, typed reads and packing."""

    def __init__(self, name: str, **fields: Field) -> None:
        self.name = name
        self.fields: dict[str, tuple[str, int | None]] = {}  # name -> (type, length or None)
        self.members: list[tuple[str, str]] = []  # (WGSL member name, type) in word order
        for field, spec in fields.items():
            kind, length = (spec, None) if isinstance(spec, str) else spec
            if kind not in (*SCALARS, "pad"):
                raise ValueError(f"{name}.{field}: type {kind!r}, expected one of {SCALARS}")
            self.fields[field] = (kind, length)
            wgsl = "u32" if kind == "pad" else kind
            if length is None:
                self.members.append((field, wgsl))
            else:
                self.members += [(f"{field}_{i}", wgsl) for i in range(length)]
        if not self.members:
            raise ValueError(f"{name} declares no fields")

    @property
    def nbytes(self) -> int:
        return 4 * len(self.members)

    def decl(self, binding: int, var: str = "P") -> str:
        """The WGSL struct and its uniform binding, named *var*."""
        body = "".join(f"  {member}: {kind},\n" for member, kind in self.members)
        return (
            f"struct {self.name} {{\n{body}}};\n"
            f"@group(0) @binding({binding}) var<uniform> {var}: {self.name};"
        )

    def _member(self, field: str, index: int | None) -> tuple[str, str]:
        try:
            kind, length = self.fields[field]
        except KeyError:
            raise KeyError(f"{self.name} has no field {field!r}") from None
        if kind == "pad":
            raise KeyError(f"{self.name}.{field} is padding; no kernel reads it")
        if (length is None) != (index is None) or (index is not None and not 0 <= index < length):
            raise IndexError(f"{self.name}.{field}: index {index} of length {length}")
        return ("P." + field if index is None else f"P.{field}_{index}"), kind

    def u(self, field: str, index: int | None = None) -> str:
        """WGSL reading *field* (element *index* of an array field) as u32."""
        ref, kind = self._member(field, index)
        return ref if kind == "u32" else f"u32({ref})" if kind == "i32" else f"bitcast<u32>({ref})"

    def i(self, field: str, index: int | None = None) -> str:
        """WGSL reading *field* as i32."""
        ref, kind = self._member(field, index)
        return ref if kind == "i32" else f"i32({ref})" if kind == "u32" else f"bitcast<i32>({ref})"

    def f(self, field: str, index: int | None = None) -> str:
        """WGSL reading an f32 *field*."""
        ref, kind = self._member(field, index)
        if kind != "f32":
            raise TypeError(f"{self.name}.{field} is {kind}, not f32")
        return ref

    def pack(self, **values: Any) -> bytes:
        """The struct's bytes (little-endian, zero-padded to 16 bytes: WebGPU binds uniform
        slices in 16-byte units). Every field but padding must be given, arrays in full;
        integers wrap to 32 bits (a negative u32 is its two's complement)."""
        missing = [f for f, (kind, _) in self.fields.items() if kind != "pad" and f not in values]
        unknown = [f for f in values if f not in self.fields or self.fields[f][0] == "pad"]
        if missing or unknown:
            raise TypeError(f"{self.name}.pack: missing {missing}, unknown {unknown}")
        words: list[Any] = []
        codes = []
        for field, (kind, length) in self.fields.items():
            items = [0] if kind == "pad" else [values[field]] if length is None else values[field]
            if length is not None and len(items) != length:
                raise ValueError(f"{self.name}.{field}: {len(items)} values for {length} words")
            for v in items:
                if kind == "f32":
                    words.append(float(v))
                else:  # wrap into the unsigned word, then read back as the declared type
                    u = int(v) & 0xFFFFFFFF
                    words.append(u - (1 << 32) if kind == "i32" and u >= 1 << 31 else u)
                codes.append(_PACK[kind])
        data = struct.pack("<" + "".join(codes), *words)
        return data + bytes(-len(data) % 16)
