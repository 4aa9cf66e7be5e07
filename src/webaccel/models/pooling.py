"""Token states (B, S, H) to one vector per text, as sentence-transformers' ``Pooling`` and
``Normalize`` modules (and transformers.js' ``pooling`` / ``normalize`` options) do it.

Masks are right-padded (1 for real tokens, then 0), as the tokenizers here make them.
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import functional as F
from ..tensor import Tensor

# "none" keeps the token states; the others pool over the real tokens. sentence-transformers
# also has "weightedmean" and "lasttoken": named in the error, not read yet.
POOLING = ("none", "mean", "cls", "max", "mean_sqrt_len_tokens")
# Below every float32 activation, finite (WGSL has no infinity literal), the fill for max.
_BELOW_ALL = -3.0e38

Pooling = str | tuple[str, ...]


def check_pooling(mode: str | Sequence[str]) -> Pooling:
    """*mode* checked: one name of ``POOLING``, or a tuple of them (their results concatenated,
    as sentence-transformers does for several modes; "none" only alone)."""
    if not isinstance(mode, str | Sequence):
        raise TypeError(f"pooling must be a str or a tuple of str, not {type(mode).__name__}")
    modes = (mode,) if isinstance(mode, str) else tuple(mode)
    bad = [m for m in modes if m not in POOLING]
    if bad or not modes or ("none" in modes and len(modes) > 1):
        raise ValueError(
            f"pooling {mode!r} is not supported: give one of {', '.join(POOLING)} "
            f"(or a tuple of the pooling ones)"
        )
    return modes[0] if len(modes) == 1 else modes


def pooled_width(mode: Pooling, hidden_size: int) -> int:
    """The width of ``pool``'s result for token states of *hidden_size*."""
    return hidden_size * (1 if isinstance(mode, str) else len(mode))


def pool(states: Tensor, attention_mask: Tensor, mode: Pooling) -> Tensor:
    """(B, S, H) token states and their (B, S) mask -> (B, H) (or (B, n * H) for n modes);
    ``"none"`` gives the states back."""
    modes = (mode,) if isinstance(mode, str) else mode
    if modes == ("none",):
        return states
    keep = attention_mask.cast("float32")
    out = []
    for m in modes:
        if m == "cls":  # the first token ([CLS]); right padding puts it at position 0
            out.append(states[:, 0])
        elif m in ("mean", "mean_sqrt_len_tokens"):
            summed = (states * keep.reshape(*keep.shape, 1)).sum(1)
            count = F.maximum(keep.sum(1, keepdims=True), 1e-9)  # torch.clamp(min=1e-9)
            out.append(summed / (count if m == "mean" else count.sqrt()))
        elif m == "max":
            b, s = attention_mask.shape
            real = attention_mask.reshape(b, s, 1)
            out.append(F.where(real, states, _BELOW_ALL).max(1))
        else:
            raise ValueError(f"pooling {m!r} is not supported (one of {', '.join(POOLING)})")
    return out[0] if len(out) == 1 else F.concat(out, -1)


def l2_normalize(x: Tensor) -> Tensor:
    """*x* over its last axis scaled to unit length (torch.nn.functional.normalize's eps)."""
    norm = (x * x).sum(-1, keepdims=True).sqrt()
    return x / F.maximum(norm, 1e-12)
