"""Elementwise expressions -> WGSL (pure Python, no JS): the fusion of elementwise chains.

An expression is plain data, picklable and hashable:

* ``("in", k)``: input k (a ``StridedView``; its dtype gives f32 or i32),
* a Python ``float``/``int``/``bool`` or ``("const", value, dtype)``: a scalar constant
  (Python scalars are *weak*, as in NumPy 2: ``x_int32 * 2`` stays int32, ``x * 0.5`` is f32),
* ``(op, *args)`` with op one of ``UNARY``, ``BINARY``, ``("where", c, a, b)`` or
  ``("cast", x, dtype)``. float16 is computed in f32; a cast to float16 rounds there (to
  nearest even, +-inf past its max), which is how ``engine.fusion`` keeps the rounding points
  of inlined float16 results.

Constants are baked into the WGSL (exact f32 literals; inf/NaN through run-time bit patterns):
a new constant value means a new pipeline, so pass per-run scalars as inputs (a 1-element
view broadcasts) rather than as constants. Given ``zero`` (a WGSL u32 expression that is 0 at
run time but unknown to the compiler: the elementwise kernels pass a uniform), f32 constants
are written as their bits OR'ed with it: shader compilers fold ``x + 0.0`` to ``x`` (wrong for
-0.0), ``0.0 - x`` to ``-x`` and ``x * 0.0`` to ``0.0`` (wrong for NaN, inf and signs: seen
on SwiftShader and lavapipe) and lose the sign of a literal -0.0; a value they cannot see
keeps IEEE's answers.

Result types: ``f32``, ``i32`` or ``bool`` (booleans store as int32 0/1). ``div`` of int32 by
int32 (or by a weak int) is ONNX's integer division (truncates toward zero, ``x / 0`` gives 0,
as the CPU backend), any other ``div`` is true division (f32); mixed int/float promotes to f32,
comparisons give bool.

``compile_expr(expr, input_types)`` returns ``(lines, result_var, result_type)`` of WGSL
statements that read input k from a variable ``x{k}``; ``elementwise.py`` wraps them in the
indexing template (``elementwise.wgsl``) and stores the result with ``convert``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Any

from ..views import compute_type

Expr = Any

# op -> WGSL function (applied in f32)
FLOAT_UNARY = {
    "exp": "wa_exp",
    "log": "wa_log",
    "sqrt": "wa_sqrt",
    "rsqrt": "wa_rsqrt",
    "sigmoid": "wa_sigmoid",
    "tanh": "wa_tanh",
    "erf": "wa_erf",
    "gelu": "wa_gelu",
    "gelu_tanh": "wa_gelu_tanh",
    "sin": "sin",
    "cos": "cos",
    "floor": "floor",
    "ceil": "ceil",
    "round": "wa_round",
    "reciprocal": "1.0 / ",
}
# ops that keep the input type (i32 stays i32)
SAME_UNARY = ("neg", "abs", "relu", "square", "sign")
BOOL_UNARY = ("isnan", "isinf", "isfinite", "logical_not")
UNARY = (*FLOAT_UNARY, *SAME_UNARY, *BOOL_UNARY)
ARITH = ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "mod")
COMPARE = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
LOGICAL = {"logical_and": "&&", "logical_or": "||", "logical_xor": "!="}
BINARY = (*ARITH, *COMPARE, *LOGICAL)


def f32_literal(value: float) -> str:
    """A WGSL f32 expression for *value* rounded to f32 (non-finite ones at run time)."""
    try:
        v = struct.unpack("<f", struct.pack("<f", float(value)))[0]
    except OverflowError:
        v = math.copysign(math.inf, value)
    if math.isnan(v):
        return "wa_nan()"
    if math.isinf(v):
        return "wa_inf()" if v > 0 else "(-wa_inf())"
    text = repr(v)
    return f"({text}f)" if math.copysign(1.0, v) < 0 else f"{text}f"


def f32_opaque(value: float, zero: str) -> str:
    """A WGSL f32 expression for *value* rounded to f32, built at run time from its bits and
    the run-time zero *zero* (a u32 expression), so that no compiler folds arithmetic on it."""
    try:
        bits = struct.unpack("<I", struct.pack("<f", float(value)))[0]
    except OverflowError:
        bits = 0xFF800000 if value < 0 else 0x7F800000
    return f"bitcast<f32>({bits:#010x}u | {zero})"


def i32_literal(value: int) -> str:
    v = int(value)
    if not -(2**31) <= v < 2**31:
        raise ValueError(f"int constant {v} does not fit int32")
    return f"{v}i" if v >= 0 else f"({v}i)"


def _promote(a: str, b: str) -> str:
    """Result type of a binary arithmetic op; ``wi``/``wf`` are weak Python scalars."""
    strong = {a, b} - {"wi", "wf"}
    if "f32" in strong or "wf" in {a, b}:
        return "f32"
    if strong:
        return "i32"  # i32 or bool with a weak int
    return "i32"


class _Compiler:
    def __init__(self, input_types: Sequence[str], zero: str | None = None) -> None:
        self.input_types = list(input_types)
        self.zero = zero
        self.lines: list[str] = []
        self.memo: dict[Any, tuple[str, str]] = {}
        self.used_inputs: set[int] = set()

    def node(self, e: Expr) -> tuple[str, str]:
        """(WGSL expression or variable, type) of *e*; constants stay inline and weak."""
        if isinstance(e, bool):
            return ("true" if e else "false"), "bool"
        if isinstance(e, int):
            return str(int(e)), "wi"
        if isinstance(e, float):
            return repr(float(e)), "wf"
        if not isinstance(e, tuple) or not e:
            raise ValueError(f"bad expression node {e!r}")
        key = e
        if key in self.memo:
            return self.memo[key]
        op = e[0]
        if op == "in":
            k = int(e[1])
            if not 0 <= k < len(self.input_types):
                raise ValueError(f"expression uses input {k}; only {len(self.input_types)} given")
            self.used_inputs.add(k)
            result = (f"x{k}", self.input_types[k])
        elif op == "const":
            _, value, dtype = e
            t = compute_type(dtype)
            result = (self.lit(value, t), t)
        else:
            code, t = self.op(op, e[1:])
            var = f"v{len(self.memo)}"
            self.lines.append(f"let {var}: {_wgsl_type(t)} = {code};")
            result = (var, t)
        self.memo[key] = result
        return result

    def lit(self, value: Any, t: str) -> str:
        if t == "f32":
            return f32_literal(value) if self.zero is None else f32_opaque(value, self.zero)
        if t == "i32":
            return i32_literal(value)
        if t == "bool":
            return "true" if value else "false"
        raise ValueError(t)

    def conv(self, code: str, src: str, dst: str) -> str:
        """Convert an expression of type *src* to *dst* (weak constants become literals)."""
        if src == "wi":
            return self.lit(int(code), dst) if dst != "bool" else str(int(code) != 0).lower()
        if src == "wf":
            if dst == "bool":
                return str(float(code) != 0.0).lower()  # NaN != 0 is True, as in NumPy
            return self.lit(float(code), dst)
        return convert(code, src, dst)

    def op(self, op: str, args: tuple) -> tuple[str, str]:
        if op == "cast":
            (x, dtype) = args
            code, t = self.node(x)
            dst = compute_type(dtype)
            code = self.conv(code, t, dst)
            if dtype == "float16":  # computed in f32: round here, as storing it would round
                code = f"wa_round_half({code})"
            return code, dst
        if op == "where":
            c, a, b = (self.node(x) for x in args)
            t = "bool" if a[1] == b[1] == "bool" else _promote(a[1], b[1])
            return (
                f"select({self.conv(*b, t)}, {self.conv(*a, t)}, {self.conv(*c, 'bool')})",
                t,
            )
        if op in FLOAT_UNARY:
            (x,) = args
            code = self.conv(*self.node(x), "f32")
            fn = FLOAT_UNARY[op]
            return (f"({fn}{code})" if fn.endswith(" ") else f"{fn}({code})"), "f32"
        if op in SAME_UNARY:
            return self.same_unary(op, self.node(args[0]))
        if op in BOOL_UNARY:
            code, t = self.node(args[0])
            if op == "logical_not":
                return f"!{self.conv(code, t, 'bool')}", "bool"
            if t != "f32" and t != "wf":
                return ("true" if op == "isfinite" else "false"), "bool"
            code = self.conv(code, t, "f32")
            return {
                "isnan": f"wa_isnan({code})",
                "isinf": f"wa_isinf({code})",
                "isfinite": f"!(wa_isnan({code}) || wa_isinf({code}))",
            }[op], "bool"
        if op in ARITH or op in COMPARE or op in LOGICAL:
            (a, b) = args
            return self.binary(op, a, b)
        raise ValueError(f"unknown elementwise op {op!r}")

    def same_unary(self, op: str, xt: tuple[str, str]) -> tuple[str, str]:
        code, t = xt
        if t in ("wi", "wf", "bool"):
            t = "f32" if t == "wf" else "i32"
            code = self.conv(*xt, t)
        if op == "neg":
            return f"(-{code})", t
        if op == "abs":
            return f"abs({code})", t
        if op == "square":
            return f"({code} * {code})", t
        if op == "relu":
            return relu(code, t), t
        if op == "sign":
            return (f"wa_sign({code})" if t == "f32" else f"sign({code})"), t
        raise ValueError(op)

    def binary(self, op: str, a_expr: Expr, b_expr: Expr) -> tuple[str, str]:
        a, b = self.node(a_expr), self.node(b_expr)
        if op in LOGICAL:
            return f"({self.conv(*a, 'bool')} {LOGICAL[op]} {self.conv(*b, 'bool')})", "bool"
        t = _promote(a[1], b[1])
        if op == "div":
            if t == "i32" and {a[1], b[1]} <= {"i32", "wi"} and "i32" in (a[1], b[1]):
                # int32 / int32 (or a weak int): ONNX's truncating division, exact in i32
                return f"wa_idiv({self.conv(*a, t)}, {self.conv(*b, t)})", "i32"
            t = "f32"
        exponent = _constant_value(b_expr)
        if op == "pow" and t == "f32" and exponent is not None:
            special = self.const_pow(self.conv(*a, "f32"), float(exponent))
            if special is not None:
                return special, "f32"
        ca, cb = self.conv(*a, t), self.conv(*b, t)
        if op == "ne" and t == "f32":  # SwiftShader's != is false for NaN; NumPy says True
            return f"!({ca} == {cb})", "bool"
        if op in COMPARE:
            return f"({ca} {COMPARE[op]} {cb})", "bool"
        if op == "div" and t == "f32":
            return f"wa_div({ca}, {cb})", t
        if op in ("add", "sub", "mul", "div"):
            sym = {"add": "+", "sub": "-", "mul": "*", "div": "/"}[op]
            return f"({ca} {sym} {cb})", t
        if op in ("maximum", "minimum"):
            fn = ("wa_max" if op == "maximum" else "wa_min") if t == "f32" else op[:3]
            return f"{fn}({ca}, {cb})", t
        if op == "pow":
            return (f"wa_pow({ca}, {cb})" if t == "f32" else f"wa_ipow({ca}, {cb})"), t
        if op == "mod":  # NumPy's floored modulo (sign of the divisor)
            if t == "f32":
                return f"({ca} - floor({ca} / {cb}) * {cb})", t
            return f"wa_imod({ca}, {cb})", t
        raise ValueError(op)

    @staticmethod
    def const_pow(x: str, y: float) -> str | None:
        """Exact, cheaper forms of the common constant powers, with NumPy's answers for a
        scalar exponent: x ** 0.5 is NumPy's sqrt there (sqrt(-0.0) = -0.0, sqrt(-inf) = NaN,
        where pow of two arrays gives +0.0 and +inf: ``wa_pow``)."""
        return {
            1.0: f"({x})",
            2.0: f"({x} * {x})",
            3.0: f"({x} * {x} * {x})",
            0.5: f"wa_sqrt({x})",
            -1.0: f"(1.0f / {x})",
        }.get(y)


def _constant_value(e: Expr) -> float | None:
    """The value of a constant node (a Python scalar or ``("const", value, dtype)``), else
    None."""
    if isinstance(e, int | float) and not isinstance(e, bool):
        return float(e)
    if isinstance(e, tuple) and len(e) == 3 and e[0] == "const":
        return float(e[1])
    return None


def relu(code: str, t: str) -> str:
    """``max(x, 0)`` for *code* of WGSL type *t* (f32 or i32): for f32 common.wgsl's
    ``wa_relu``, which lets NaN pass as ``np.maximum(x, 0)`` does (the matmul epilogues fuse the
    same call)."""
    return f"wa_relu({code})" if t == "f32" else f"max({code}, 0i)"


def convert(code: str, src: str, dst: str) -> str:
    """WGSL converting *code* of type *src* to *dst* (``f32``, ``i32`` or ``bool``).

    f32 -> i32 truncates toward zero as NumPy does; NaN gives 0 and +-inf or values beyond
    int32 saturate (``wa_to_i32``: IEEE calls these invalid, NumPy gives INT_MIN, WGSL leaves NaN
    to the implementation); a bool is 0 or 1, a number is true where it is not 0 (NaN included).
    """
    if src == dst:
        return code
    if dst == "f32":
        return f"f32({code})" if src == "i32" else f"select(0.0f, 1.0f, {code})"
    if dst == "i32":
        if src == "f32":
            return f"wa_to_i32({code})"
        return f"select(0i, 1i, {code})"
    if dst == "bool":
        return f"!({code} == 0.0f)" if src == "f32" else f"({code} != 0i)"
    raise ValueError(f"cannot convert {src} to {dst}")


def _wgsl_type(t: str) -> str:
    return {"f32": "f32", "i32": "i32", "bool": "bool"}[t]


def compile_expr(
    expr: Expr, input_types: Sequence[str], zero: str | None = None
) -> tuple[list[str], str, str]:
    """WGSL lines computing *expr*, the variable holding the result, and its type; f32
    constants opaque to the compiler where a run-time *zero* is given (see the module doc)."""
    c = _Compiler(input_types, zero)
    code, t = c.node(expr)
    if t in ("wi", "wf"):  # a bare constant
        t = "i32" if t == "wi" else "f32"
        code = c.conv(code, "wi" if t == "i32" else "wf", t)
    return c.lines, code, t


def result_type(expr: Expr, input_types: Sequence[str]) -> str:
    return compile_expr(expr, input_types)[2]
