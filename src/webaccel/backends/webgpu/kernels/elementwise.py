"""The elementwise family: one fused kernel per expression (``elementwise.wgsl``).

Ops: every unary and binary op of ``expr.py`` (exp ... gelu, add ... pow, comparisons, logic),
``where``, ``cast``, constants, and the fused chains ``fusion.plan`` builds from them; and on
top of the same kernel: ``copy`` (materialize / cast), ``full``, ``where``, ``concat`` (a copy
into each slice of the output), ``batch_norm`` (inference: one fused expression).

    elementwise(batch, expr, inputs, out_dtype=None, out=None) -> StridedView
        expr: see ``expr.py`` -- e.g. ("gelu", ("add", ("in", 0), ("in", 1))). NumPy
        broadcasting, rank <= 8, one kernel for the whole expression.
    copy(batch, x, out=None, dtype=None); full(batch, shape, value, dtype="float32")
    where(batch, cond, a, b); concat(batch, xs, axis)
    batch_norm(batch, x, mean, var, gamma=None, beta=None, eps=1e-5, axis=1)

Inputs are read through their strides (no copies); dims contiguous in every operand are merged
first (``launch.coalesce``), so most calls run a rank-1 kernel. float16 inputs are read as f32
from packed words; a float16 output (contiguous) is written a u32 word per thread.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from ....shapes import broadcast_shapes, numel
from ..views import RESULT_DTYPES, StridedView, compute_type, storage_type
from . import shader
from .expr import Expr, compile_expr, convert
from .launch import coalesce, is_contiguous, new_output, run_1d, shape_grid_params
from .uniforms import Field, Uniforms, strided_values


@functools.cache
def elementwise_params(rank: int, n_inputs: int) -> Uniforms:
    """A ``shape_grid_params`` over the (merged) shape: ``zero`` (always 0: the expression's
    f32 constants are built from it, so the compiler cannot fold them: ``expr.py``), a word of
    padding, then each operand's element offset and strides (inputs ``in<k>``, then ``out``)."""
    operands = [*(f"in{k}" for k in range(n_inputs)), "out"]
    words: dict[str, Field] = {"zero": "u32", "unused1": "pad"}
    return shape_grid_params("ElementwiseParams", rank, words, operands)


@functools.cache
def elementwise_source(
    expr: object,
    in_dtypes: tuple[str, ...],
    in_contig: tuple[bool, ...],
    out_dtype: str,
    out_contig: bool,
    rank: int,
) -> str:
    """The fused kernel for *expr*; input k is bound at k, the output at n, uniforms at n+1."""
    n = len(in_dtypes)
    types = [compute_type(d) for d in in_dtypes]
    params = elementwise_params(rank, n)
    body, result, rtype = compile_expr(expr, types, zero=params.u("zero"))
    out_t = compute_type(out_dtype)
    result = convert(result, rtype, out_t)
    if out_t == "bool":
        result, out_t = f"select(0i, 1i, {result})", "i32"
    need_index = not all(in_contig) or not out_contig
    shape = [params.u("shape", d) for d in range(rank)]
    bindings = [shader.storage(k, f"in{k}", storage_type(d)) for k, d in enumerate(in_dtypes)]
    bindings.append(shader.storage(n, "out", storage_type(out_dtype), write=True))
    bindings += [shader.loader(k, d) for k, d in enumerate(in_dtypes)]
    index = shader.index_lines(shape) if need_index else []
    loads = [
        f"  let x{k} = ld{k}({shader.strided_offset(params, f'in{k}', rank, c)});"
        for k, c in enumerate(in_contig)
    ]
    if out_dtype == "float16":  # a thread a word of the output, which guards itself
        entry, store = shader.entry(params, None), _f16_store(params)
    else:
        out_index = shader.index_lines(shape, "t") if not out_contig else []
        out_offset = shader.strided_offset(params, "out", rank, out_contig, "t")
        entry = shader.entry(params, "n")
        store = "\n".join([*out_index, f"  out[u32({out_offset})] = elem(t);"])
    return shader.template("elementwise.wgsl").substitute(
        COMMON=shader.common(),
        BINDINGS="\n".join(bindings),
        PARAMS=params.decl(n + 1),
        RTYPE=out_t,
        INDEX="\n".join(index),
        LOADS="\n".join(loads),
        BODY="\n".join("  " + line for line in body),
        RESULT=result,
        ENTRY=entry,
        STORE=store,
    )


def _f16_store(params: Uniforms) -> str:
    """Each thread owns one u32 word of the (contiguous) f16 output: two halves, either of
    which may belong to a neighbour tensor (odd offset or odd length): those keep their bits
    (the word is merged as integers, never unpacked). Results round to f16 by
    ``wa_f32_to_half`` (to nearest even, +-inf past the f16 max)."""
    return f"""  let off = {params.u("out_off")};
  let n = {params.u("n")};
  let w = (off >> 1u) + t;
  let lo = 2u * w;
  let inside_lo = lo >= off && lo < off + n;
  let inside_hi = lo + 1u >= off && lo + 1u < off + n;
  if (!inside_lo && !inside_hi) {{ return; }}
  var word = 0u;
  if (!inside_lo || !inside_hi) {{ word = out[w]; }}
  if (inside_lo) {{ word = (word & 0xffff0000u) | wa_f32_to_half(elem(lo - off)); }}
  if (inside_hi) {{ word = (word & 0x0000ffffu) | (wa_f32_to_half(elem(lo + 1u - off)) << 16u); }}
  out[w] = word;"""


def _remap(expr: Expr, mapping: dict[int, int]) -> Expr:
    if isinstance(expr, tuple) and expr:
        if expr[0] == "in":
            return ("in", mapping[int(expr[1])])
        if expr[0] in ("const", "cast"):
            return (expr[0], _remap(expr[1], mapping), *expr[2:])
        return (expr[0], *(_remap(a, mapping) for a in expr[1:]))
    return expr


@functools.cache
def _result_type(expr: Expr, types: tuple[str, ...]) -> str:
    return compile_expr(expr, types)[2]


def _used_inputs(expr: Expr, out: set[int]) -> set[int]:
    if isinstance(expr, tuple) and expr:
        if expr[0] == "in":
            out.add(int(expr[1]))
        elif expr[0] != "const":
            for a in expr[1:]:
                _used_inputs(a, out)
    return out


def elementwise(
    batch: Any,
    expr: Expr,
    inputs: Sequence[StridedView],
    out_dtype: str | None = None,
    out: StridedView | None = None,
) -> StridedView:
    """Evaluate *expr* over broadcast *inputs* in one kernel; returns the (contiguous) output."""
    used = sorted(_used_inputs(expr, set()))
    mapping = {k: i for i, k in enumerate(used)}
    expr = _remap(expr, mapping)
    views = [inputs[k] for k in used]
    shape = broadcast_shapes(*(v.shape for v in views)) if views else ()
    if out is not None:
        shape = broadcast_shapes(shape, out.shape)
        if shape != out.shape:
            raise ValueError(f"result shape {shape} does not fit out {out.shape}")
    rtype = _result_type(expr, tuple(compute_type(v.dtype) for v in views))
    out_dtype = out.dtype if out is not None else out_dtype or RESULT_DTYPES[rtype]
    if out is None:
        out = new_output(batch, shape, out_dtype)
    n = numel(shape)
    if n == 0:
        return out
    views = [v.broadcast_to(shape) for v in views]
    cshape, cstrides = coalesce(shape, [v.strides for v in views] + [out.strides])
    rank = len(cshape)
    contig = tuple(is_contiguous(s, cshape) for s in cstrides)
    if out_dtype == "float16" and not (contig[-1] and out.offset >= 0):
        raise ValueError("a float16 output must be contiguous")
    source = elementwise_source(
        expr, tuple(v.dtype for v in views), contig[:-1], out_dtype, contig[-1], rank
    )
    if out_dtype == "float16":
        threads = ((out.offset + n - 1) >> 1) - (out.offset >> 1) + 1
    else:
        threads = n
    operands = {}
    names = [*(f"in{k}" for k in range(len(views))), "out"]
    for name, v, s in zip(names, [*views, out], cstrides, strict=True):
        operands.update(strided_values(name, v.offset, s))
    params = elementwise_params(rank, len(views))
    buffers = [*(v.buffer for v in views), out.buffer]
    run_1d(batch, source, buffers, params, threads, n=n, zero=0, shape=cshape, **operands)
    return out


def copy(
    batch: Any, x: StridedView, out: StridedView | None = None, dtype: str | None = None
) -> StridedView:
    """Materialize *x* contiguously (or into *out*), casting to *dtype* if given."""
    expr: Expr = ("in", 0)
    target = out.dtype if out is not None else dtype or x.dtype
    if compute_type(target) != compute_type(x.dtype) or target == "bool":
        expr = ("cast", expr, target)
    return elementwise(batch, expr, [x], out_dtype=target, out=out)


def full(batch: Any, shape: Sequence[int], value: float, dtype: str = "float32") -> StridedView:
    """A new contiguous tensor of *shape* filled with *value*."""
    out = new_output(batch, shape, dtype)
    return elementwise(batch, ("const", value, dtype), [], out=out)


def where(batch: Any, cond: StridedView, a: StridedView, b: StridedView) -> StridedView:
    return elementwise(batch, ("where", ("in", 0), ("in", 1), ("in", 2)), [cond, a, b])


def concat(batch: Any, xs: Sequence[StridedView], axis: int) -> StridedView:
    """Concatenate along *axis* by copying each input into its slice of one output."""
    rank = xs[0].ndim
    axis %= rank
    shape = list(xs[0].shape)
    shape[axis] = sum(x.shape[axis] for x in xs)
    out = new_output(batch, shape, xs[0].dtype)
    start = 0
    for x in xs:
        stop = start + x.shape[axis]
        copy(batch, x, out=out.slice_axis(axis, start, stop))
        start = stop
    return out


def reshaped(batch: Any, x: StridedView, shape: Sequence[int]) -> StridedView:
    """*x* in *shape*: a view where the strides allow it, else a dense copy (released to the
    pool at the batch's submit)."""
    try:
        return x.reshape(shape)
    except ValueError:
        tmp = copy(batch, x)
        batch.release_after(tmp.buffer)  # reused only by dispatches recorded after this one
        return tmp.reshape(shape)


def flatten_last(batch: Any, x: StridedView, k: int) -> StridedView:
    """*x* with its last *k* dims merged into one (a view when strides allow, else a copy)."""
    return reshaped(batch, x, (*x.shape[: x.ndim - k], numel(x.shape[x.ndim - k :])))


def batch_norm(
    batch: Any,
    x: StridedView,
    mean: StridedView,
    var: StridedView,
    gamma: StridedView | None = None,
    beta: StridedView | None = None,
    eps: float = 1e-5,
    axis: int = 1,
) -> StridedView:
    """Inference batch norm as one fused elementwise kernel over the channel *axis*."""
    axis %= x.ndim
    c = x.shape[axis]

    def chan(v: StridedView) -> StridedView:  # (C,) -> (1, ..., C, ..., 1)
        return v.reshape(tuple(c if d == axis else 1 for d in range(x.ndim)))

    inputs = [x, chan(mean), chan(var)]
    expr: Expr = ("mul", ("sub", ("in", 0), ("in", 1)), ("rsqrt", ("add", ("in", 2), eps)))
    if gamma is not None:
        inputs.append(chan(gamma))
        expr = ("mul", expr, ("in", len(inputs) - 1))
    if beta is not None:
        inputs.append(chan(beta))
        expr = ("add", expr, ("in", len(inputs) - 1))
    return elementwise(batch, expr, inputs, out_dtype="float32")
