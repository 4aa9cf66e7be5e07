"""WGSL building blocks the kernel families share (pure Python, testable on CPython).

Templates: each family's ``<name>.wgsl`` beside its module, a ``string.Template`` whose
``${FIELDS}`` the family fills. Blocks: storage bindings, element loaders (f16 from packed
words), the split of a linear index into coordinates, an operand's element offset, and the
fused activations of the matmul epilogues. Sizes, strides and offsets are WGSL expressions
over the kernel's uniform struct (``uniforms.Uniforms``), never baked in: a model's many
shapes share few pipelines.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from string import Template

from .. import shaders
from ..views import storage_type
from .expr import relu
from .uniforms import Uniforms

WORKGROUP = 256  # threads per workgroup of the one-thread-per-element kernels
# The f32 activations a matmul epilogue fuses: every one is common.wgsl's, so that each rule
# (relu's NaN, gelu's tail...) is written once, for these and for the elementwise ops alike.
ACTIVATIONS = {
    None: "",
    "relu": f"v = {relu('v', 'f32')};",
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
    """``common.wgsl`` where an f32 epilogue's *activation* calls into it, else nothing."""
    return common() if activation is not None else ""


def entry(
    params: Uniforms,
    count: str | None,
    var: str = "t",
    size: int = WORKGROUP,
    per_workgroup: bool = False,
) -> str:
    """The opening of ``main`` on ``launch.dispatch_1d``'s grid (the template closes it).

    *size* threads a workgroup; *var* is this thread's linear id, or with *per_workgroup* this
    workgroup's (its threads then numbered ``li``): row ``gid.y`` of the grid holds the uniform
    ``per_row`` of them (``launch.run_1d`` packs it). Ids past the uniform *count* return
    (None: the kernel guards itself)."""
    if per_workgroup:
        builtins = "@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32"
        grid = "wg"
    else:
        builtins, grid = "@builtin(global_invocation_id) gid: vec3<u32>", "gid"
    lines = [
        f"@compute @workgroup_size({size})",
        f"fn main({builtins}) {{",
        f"  let {var} = {grid}.x + {grid}.y * {params.u('per_row')};",
    ]
    if count is not None:
        lines.append(f"  if ({var} >= {params.u(count)}) {{ return; }}")
    return "\n".join(lines)


def storage(binding: int, name: str, elem: str, write: bool = False) -> str:
    access = "read_write" if write else "read"
    return f"@group(0) @binding({binding}) var<storage, {access}> {name}: array<{elem}>;"


def loader(k: int, dtype: str, bool_as_int: bool = False) -> str:
    """``fn ld{k}(e: i32) -> T`` reading element e of input k (f16 from packed u32 words, by
    common.wgsl's ``wa_half_at``: the kernel must include common.wgsl; bool as a WGSL bool, or
    as its stored i32 0/1 where *bool_as_int*)."""
    if dtype == "float16":
        return (
            f"fn ld{k}(e: i32) -> f32 {{ let u = u32(e); return wa_half_at(in{k}[u >> 1u], u); }}"
        )
    if dtype == "bool" and not bool_as_int:
        return f"fn ld{k}(e: i32) -> bool {{ return in{k}[u32(e)] != 0i; }}"
    t = storage_type(dtype)
    return f"fn ld{k}(e: i32) -> {t} {{ return in{k}[u32(e)]; }}"


def index_lines(dims: Sequence[str], var: str = "i") -> list[str]:
    """Split the linear index *var* into ``d0 .. d{rank-1}`` over the sizes *dims* (u32 WGSL
    expressions, outermost first)."""
    lines = [f"  var r = {var};"]
    for d in range(len(dims) - 1, 0, -1):
        lines.append(f"  let d{d} = r % {dims[d]}; r = r / {dims[d]};")
    lines.append("  let d0 = r;")
    return lines


def named_index(names: Sequence[str], dims: Sequence[str], var: str = "t") -> str:
    """Split *var* over the sizes *dims* (u32 WGSL, in memory order) into ``v_<name>``."""
    lines = [f"  var r = {var};"]
    for d in range(len(names) - 1, 0, -1):
        lines.append(f"  let v_{names[d]} = r % {dims[d]}; r = r / {dims[d]};")
    lines.append(f"  let v_{names[0]} = r;")
    return "\n".join(lines)


def offset_expr(off: str, strides: Sequence[str], contiguous: bool = False, var: str = "i") -> str:
    """Element offset of an operand (i32 WGSL): ``off + sum(d_j * stride_j)`` over the
    coordinates of ``index_lines``, or ``off + i`` where it is contiguous."""
    if contiguous:
        return f"{off} + i32({var})"
    return off + "".join(f" + i32(d{d}) * {stride}" for d, stride in enumerate(strides))


def strided_offset(
    params: Uniforms, name: str, rank: int, contiguous: bool = False, var: str = "i"
) -> str:
    """``offset_expr`` of the operand *name* whose offset and strides *params* holds
    (``uniforms.strided``)."""
    strides = [params.i(f"{name}_strides", d) for d in range(rank)]
    return offset_expr(params.i(f"{name}_off"), strides, contiguous, var)
