"""WGSL building blocks the kernel families share (pure Python, testable on CPython).

Templates: each family's ``<name>.wgsl`` beside its module, a ``string.Template`` whose
``${FIELDS}`` the family fills. Blocks: storage bindings, element loaders (f16 from packed
words), the split of a linear index into coordinates, an operand's element offset, and the
fused activations of the matmul epilogues.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence
from string import Template

from .. import shaders
from ..views import storage_type

WORKGROUP = 256  # threads per workgroup of the one-thread-per-element kernels
ACTIVATIONS = {
    None: "",
    # NaN passes, decided on the bits (on NVIDIA select(v, 0, v < 0) gave 0 for NaN)
    "relu": "v = select(v, 0.0, bitcast<u32>(v) >= 0x80000000u && "
    "(bitcast<u32>(v) & 0x7fffffffu) <= 0x7f800000u);",
    "gelu": "v = wa_gelu(v);",
    "gelu_tanh": "v = wa_gelu_tanh(v);",
    "sigmoid": "v = wa_sigmoid(v);",
    "tanh": "v = wa_tanh(v);",
}


@functools.cache
def template(name: str) -> Template:
    """The family shader *name* (``kernels/<name>``) as a template."""
    return Template(shaders.read(__package__, name))


def common() -> str:
    return shaders.common()


def common_for(activation: str | None) -> str:
    """``common.wgsl`` where the epilogue's *activation* calls into it, else nothing."""
    return common() if activation in ("gelu", "gelu_tanh", "sigmoid", "tanh") else ""


def pack_words(words: Sequence[int], nwords: int | None = None) -> bytes:
    """Little-endian u32 words (negative ints as two's complement), zero-padded to nwords."""
    n = max(len(words), nwords or 0)
    n = -(-n // 4) * 4
    values = [int(w) & 0xFFFFFFFF for w in words] + [0] * (n - len(words))
    return struct.pack(f"<{n}I", *values)


def params_block(binding: int, nwords: int) -> str:
    nvec = max(1, -(-nwords // 4))
    return (
        f"struct Params {{ v: array<vec4<u32>, {nvec}> }};\n"
        f"@group(0) @binding({binding}) var<uniform> P: Params;\n"
        "fn pu(i: u32) -> u32 { return P.v[i >> 2u][i & 3u]; }\n"
        "fn pi(i: u32) -> i32 { return bitcast<i32>(P.v[i >> 2u][i & 3u]); }"
    )


def storage(binding: int, name: str, elem: str, write: bool = False) -> str:
    access = "read_write" if write else "read"
    return f"@group(0) @binding({binding}) var<storage, {access}> {name}: array<{elem}>;"


def loader(k: int, dtype: str, bool_as_int: bool = False) -> str:
    """``fn ld{k}(e: i32) -> T`` reading element e of input k (f16 from packed u32 words;
    bool as a WGSL bool, or as its stored i32 0/1 where *bool_as_int*)."""
    if dtype == "float16":
        return (
            f"fn ld{k}(e: i32) -> f32 {{ let u = u32(e); "
            f"return unpack2x16float(in{k}[u >> 1u])[u & 1u]; }}"
        )
    if dtype == "bool" and not bool_as_int:
        return f"fn ld{k}(e: i32) -> bool {{ return in{k}[u32(e)] != 0i; }}"
    t = storage_type(dtype)
    return f"fn ld{k}(e: i32) -> {t} {{ return in{k}[u32(e)]; }}"


def index_lines(rank: int, first_shape_word: int, var: str = "i") -> list[str]:
    """Split the linear index *var* into d0..d{rank-1} over the shape in the uniform words."""
    lines = [f"  var r = {var};"]
    for d in range(rank - 1, 0, -1):
        w = first_shape_word + d
        lines.append(f"  let d{d} = r % pu({w}u); r = r / pu({w}u);")
    lines.append("  let d0 = r;")
    return lines


def named_index(names: Sequence[str], first_word: int, var: str = "t") -> str:
    """Split *var* over dims in memory order (sizes in uniform words) into ``v_<name>``."""
    lines = [f"  var r = {var};"]
    for d in range(len(names) - 1, 0, -1):
        w = first_word + d
        lines.append(f"  let v_{names[d]} = r % pu({w}u); r = r / pu({w}u);")
    lines.append(f"  let v_{names[0]} = r;")
    return "\n".join(lines)


def offset_expr(rank: int, off_word: int, contiguous: bool, var: str = "i") -> str:
    """Element offset of an operand: ``off + sum(d_j * stride_j)`` (or ``off + i``)."""
    if contiguous:
        return f"pi({off_word}u) + i32({var})"
    terms = [f"i32(d{d}) * pi({off_word + 1 + d}u)" for d in range(rank)]
    return f"pi({off_word}u) + " + " + ".join(terms)
