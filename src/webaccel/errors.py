"""The package's own error types, in one module every layer may import."""

from __future__ import annotations


class WebAccelError(RuntimeError):
    """Base class of webaccel's own errors."""


class SyncUnavailableError(WebAccelError):
    """A synchronous call needs JSPI (``run_sync``), and this host cannot suspend."""


class ShapeError(ValueError):
    """An op got shapes its rule rejects; the message names the op, the shapes and the rule."""


class DTypeError(TypeError):
    """An op got dtypes its rule rejects."""


class DeviceLostError(WebAccelError):
    """A device (WebGPU GPUDevice, WebNN MLContext) was lost, and what was asked for went
    with it: a call in flight at the loss, or a storage whose bytes could not be restored
    (see ``webaccel.restore``). The device itself is rebuilt on its next call."""


class ClosedError(WebAccelError):
    """A model (``SentenceEmbedder``, a pipeline) was used after ``close()`` released its
    device weights and captured graphs; load it again to use it."""


class MemoryLimitError(WebAccelError, MemoryError):
    """An allocation does not fit a device's memory limit (``webaccel.set_memory_limit``) even
    after evicting every resident weight not in use; the message names the device, the limit,
    the request and what holds the memory."""


class LimitError(WebAccelError, ValueError):
    """A tensor beyond what a device can hold in one buffer (``Device.max_buffer_bytes``:
    WebGPU's binding and buffer limits, WebNN's ``maxTensorByteLength``) or a dimension a
    WebNN context cannot express. Not a fallback case: no backend in a page holds it either,
    so the call fails with this message, naming the op, shape, dtype and limit."""
