"""Running one random op chain (``tests/chains.py``) through the public webaccel API.

This module needs webaccel only (no NumPy, no Hypothesis): the browser lanes ship its source
into the page and ``exec`` it there, so a chain runs in Pyodide exactly as a user's code would
(``wa.tensor`` uploads, ops recorded lazily, ``realize`` with placement, graph passes and
fusion), and the host runs the same function on the cpu device.

A chain is plain data::

    {"inputs": [(data bytes, shape, dtype name), ...],
     "steps": [(op, (arg, ...), {attr: value}), ...]}

Values are numbered: the inputs first, then one value per step. An ``arg`` is ``("v", k)``
(value k) or ``("s", python scalar)``. ``op`` names a public call (``CALLS`` below).

``run_chain(wa, chain, device, stepwise)`` returns each wanted value's shape, dtype and dense
bytes (or an error): stepwise, every step's value (all held live, so each is an output of the
one program and the passes and fusion leave them alone); otherwise only the last one (the
passes and fusion see the whole chain).
"""

from __future__ import annotations

from typing import Any


def _unary(wa: Any, args: list[Any], fn: str) -> Any:
    if fn == "gelu_tanh":
        return wa.gelu(args[0], "tanh")
    return getattr(wa, fn)(args[0])


def _slice(x: Any, slices: Any) -> Any:
    return x[tuple(slice(a, b, c) for a, b, c in slices)]


def _layer_norm(wa: Any, args: list[Any], n: int, eps: float) -> Any:
    x, w, b = [*args, None, None][:3]
    return wa.layer_norm(x, tuple(x.shape[x.ndim - n :]), w, b, eps=eps)


# op -> (wa, argument values, **attrs) -> Tensor
CALLS: dict[str, Any] = {
    "unary": lambda wa, a, fn: _unary(wa, a, fn),
    "binary": lambda wa, a, fn: getattr(wa, fn)(a[0], a[1]),
    "where": lambda wa, a: wa.where(a[0], a[1], a[2]),
    "cast": lambda wa, a, dtype: a[0].cast(dtype),
    "reduce": lambda wa, a, fn, axes, keepdims: getattr(a[0], fn)(axes, keepdims=keepdims),
    "matmul": lambda wa, a: wa.matmul(a[0], a[1]),
    "linear": lambda wa, a: wa.linear(a[0], a[1], a[2] if len(a) > 2 else None),
    "softmax": lambda wa, a, axis: wa.softmax(a[0], axis),
    "layer_norm": lambda wa, a, n, eps: _layer_norm(wa, a, n, eps),
    "reshape": lambda wa, a, shape: a[0].reshape(shape),
    "permute": lambda wa, a, axes: a[0].permute(axes),
    "slice": lambda wa, a, slices: _slice(a[0], slices),
    "expand": lambda wa, a, shape: a[0].expand(shape),
    "unsqueeze": lambda wa, a, axis: a[0].unsqueeze(axis),
    "squeeze": lambda wa, a, axis: a[0].squeeze(axis),
    "bitcast": lambda wa, a, dtype: a[0].bitcast(dtype),
    "contiguous": lambda wa, a: a[0].contiguous(),
}


def build(wa: Any, chain: dict, device: Any) -> list[Any]:
    """Every value of *chain* as a tensor on *device* (inputs first)."""
    values: list[Any] = [
        wa.from_buffer(data, shape, dtype, device=device) for data, shape, dtype in chain["inputs"]
    ]
    for op, args, attrs in chain["steps"]:
        got = [values[a[1]] if a[0] == "v" else a[1] for a in args]
        values.append(CALLS[op](wa, got, **attrs))
    return values


def run_chain(wa: Any, chain: dict, device: Any, stepwise: bool) -> tuple[str, Any]:
    """("ok", [(shape, dtype name, dense bytes) per wanted value]) or ("error", message)."""
    try:
        values = build(wa, chain, device)
        n = len(chain["inputs"])
        wanted = values[n:] if stepwise else values[-1:]
        del values  # stepwise: *wanted* holds every step live; otherwise only the last
        wanted[-1].realize()  # one program: held values are its outputs
        return "ok", [(tuple(t.shape), t.dtype.name, t.to_bytes()) for t in wanted]
    except Exception as exc:  # reported per chain, compared on the host
        return "error", f"{type(exc).__name__}: {exc}"


def run_chains(wa: Any, chains: list[dict], device: Any) -> list[tuple[Any, Any]]:
    """(stepwise result, whole-chain result) per chain."""
    return [
        (run_chain(wa, c, device, stepwise=True), run_chain(wa, c, device, stepwise=False))
        for c in chains
    ]
