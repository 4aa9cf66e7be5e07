"""The sliding window conv2d (im2col) and pool2d share: its geometry over a logical NCHW view,
the uniforms declaring it and the coordinates of the output thread.

    Window.over(x, layout, kernel, stride, padding, dilation) -> Window
    conv_pads(padding, in_hw, kernel, stride, dilation) -> (top, left, bottom, right)
    window_params(name, order, before, after) -> Uniforms     # a window kernel's uniforms

Both kernels run a thread per element of a dense output whose dims are named (``order``, in
memory order, e.g. ``("n", "c", "oh", "ow")``) and read the input through its NCHW strides
(an NHWC tensor is a permuted view).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..views import StridedView
from . import shader
from .uniforms import Field, Uniforms, strided, strided_values

# The geometry as uniform fields: stride, the top / left padding, dilation, and the input's
# height and width.
WINDOW = ("stride_h", "stride_w", "pad_top", "pad_left", "dil_h", "dil_w", "h", "w")


def pair(v: int | Sequence[int]) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def conv_pads(
    padding: Any,
    in_hw: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) from an int, a pair, a 4-tuple, "same" or "valid"."""
    if padding == "valid":
        return 0, 0, 0, 0
    if padding in ("same", "same_upper", "same_lower"):
        pads = []
        for n, k, s, d in zip(in_hw, kernel, stride, dilation, strict=True):
            out = -(-n // s)
            total = max(0, (out - 1) * s + (k - 1) * d + 1 - n)
            small, big = total // 2, total - total // 2
            pads.append((big, small) if padding == "same_lower" else (small, big))
        return pads[0][0], pads[1][0], pads[0][1], pads[1][1]
    if isinstance(padding, int):
        return padding, padding, padding, padding
    if len(padding) == 2:
        return padding[0], padding[1], padding[0], padding[1]
    return tuple(int(p) for p in padding)  # type: ignore[return-value]


def out_size(n: int, k: int, s: int, d: int, p0: int, p1: int) -> int:
    return (n + p0 + p1 - d * (k - 1) - 1) // s + 1


def nchw(x: StridedView, layout: str) -> StridedView:
    if layout == "NCHW":
        return x
    if layout == "NHWC":
        return x.permute((0, 3, 1, 2))
    raise ValueError(f"layout must be NCHW or NHWC, not {layout!r}")


@dataclass(frozen=True)
class Window:
    """A *kernel* sliding over the H and W of *x* (a logical NCHW view) with *stride*,
    *dilation* and *pads* (top, left, bottom, right)."""

    x: StridedView
    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pads: tuple[int, int, int, int]

    @classmethod
    def over(
        cls,
        x: StridedView,
        layout: str,
        kernel: int | Sequence[int],
        stride: int | Sequence[int],
        padding: Any,
        dilation: int | Sequence[int],
    ) -> Window:
        """The window over *x* in *layout* ("NCHW" or "NHWC"); *padding* as ``conv_pads``."""
        xl = nchw(x, layout)
        k, s, d = pair(kernel), pair(stride), pair(dilation)
        return cls(xl, k, s, d, conv_pads(padding, xl.shape[2:], k, s, d))

    @property
    def out_hw(self) -> tuple[int, int]:
        """The output's height and width."""
        (kh, kw), (sh, sw), (dh, dw) = self.kernel, self.stride, self.dilation
        pt, pl, pb, pr = self.pads
        _, _, h, w = self.x.shape
        return out_size(h, kh, sh, dh, pt, pb), out_size(w, kw, sw, dw, pl, pr)

    def values(self, order: tuple[str, ...], dims: Sequence[int]) -> dict[str, Any]:
        """The values of the fields ``window_params`` declares for an output of *dims* in
        *order*, but for ``total``, ``per_row`` (``launch.run_1d``'s) and the kernel's own."""
        geometry = (*self.stride, *self.pads[:2], *self.dilation, *self.x.shape[2:])
        return {
            **{f"size_{name}": size for name, size in zip(order, dims, strict=True)},
            **dict(zip(WINDOW, geometry, strict=True)),
            **strided_values("x", self.x.offset, self.x.strides),
        }


def window_params(
    name: str, order: tuple[str, ...], before: dict[str, Field], after: dict[str, Field]
) -> Uniforms:
    """A window kernel's uniforms: the output's element count (``total``), threads per grid
    row, its dims in memory *order* (``size_<dim>``), the kernel's own fields *before* the
    geometry (``WINDOW``) and *after* it, then the input's offset and NCHW strides."""
    return Uniforms(
        name,
        total="u32",
        per_row="u32",
        unused0="pad",
        unused1="pad",
        **{f"size_{dim}": "u32" for dim in order},
        **before,
        **dict.fromkeys(WINDOW, "u32"),
        **after,
        **strided("x", 4),
    )


def output_index(params: Uniforms, order: tuple[str, ...]) -> str:
    """The thread's output coordinates ``v_<dim>`` from its id ``t`` (``shader.named_index``)."""
    return shader.named_index(order, [params.u(f"size_{dim}") for dim in order])
