"""The CPU device: flat NumPy byte arrays as buffers, programs interpreted step by step.

A view is ``as_strided`` over the buffer (no copy). The op table is ``impls.IMPLS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ...device import Device, Implementation, Storage, running_devices
from ...dtypes import DType
from ...ir import Program
from . import impls
from .impls import execute, np_dtype, pack_int4, unpack_int4

np: Any = None  # NumPy, bound when the first device is made


class CPUDevice(Device):
    name = "cpu"
    ops = impls.IMPLS
    unsupported: ClassVar[Mapping[str, str]] = {}  # the reference backend runs every op

    def __init__(self) -> None:
        global np
        super().__init__()
        np = impls.load_numpy()

    def alloc(self, nbytes: int) -> Any:
        return np.empty(nbytes, np.uint8)

    def free(self, handle: Any, nbytes: int) -> None:
        pass  # NumPy's allocator pools for us

    def copy_in(self, handle: Any, data: memoryview) -> None:
        handle[: data.nbytes] = np.frombuffer(data, np.uint8)

    async def copy_out_async(self, handle: Any, nbytes: int, offset: int = 0) -> bytearray:
        return bytearray(handle[offset : offset + nbytes].tobytes())

    def copy_out(self, handle: Any, nbytes: int, offset: int = 0) -> bytearray:
        return bytearray(handle[offset : offset + nbytes].tobytes())

    def array(self, storage: Storage, view: Any, dtype: DType) -> Any:
        """The NumPy view of *storage* through *view* (no copy)."""
        if dtype.bits == 4:
            flat = unpack_int4(storage.handle, storage.numel)
        elif dtype.numpy is None:
            raise TypeError(f"{dtype.name} has no NumPy view; cast it first")
        else:
            flat = storage.handle.view(np_dtype(dtype))
        item = flat.itemsize
        lo, hi = view.span()
        if view.numel and (lo < 0 or hi >= flat.size):
            raise IndexError(f"view {view} reaches outside a {flat.size}-element storage")
        base = flat[view.offset :] if view.numel else flat[:0]
        return np.lib.stride_tricks.as_strided(
            base, view.shape, tuple(s * item for s in view.strides), writeable=False
        )

    def compile(self, program: Program) -> Program:
        return program  # NumPy interprets the steps; nothing to build

    def run(self, program: Program, inputs: list[Storage]) -> list[Storage]:
        values: list[Any] = []
        for storage in inputs:
            values.append(storage)
        n = program.n_inputs
        for step in program.steps:
            args = []
            for slot, view, dtype in step.srcs:
                if slot < n:
                    arr = self.array(values[slot], view, dtype)
                else:
                    src = values[slot]
                    if src.dtype != np_dtype(dtype):  # a bitcast view of an intermediate
                        src = src.reshape(-1).view(np_dtype(dtype))
                    arr = np.lib.stride_tricks.as_strided(
                        src.reshape(-1)[view.offset :] if src.size else src.reshape(-1),
                        view.shape,
                        tuple(s * src.itemsize for s in view.strides),
                        writeable=False,
                    )
                if arr.dtype == np.float16:
                    arr = arr.astype(np.float32)
                args.append(arr)
            with np.errstate(all="ignore"):  # the cast to the step's dtype too (NaN -> int)
                out = execute(step, args, self.ops)
                out = np.ascontiguousarray(out, dtype=np_dtype(step.dtype)).reshape(step.shape)
            if step.dtype.bits == 4:  # int4 wraps to [-8, 7] already in the graph
                out = (((out.astype(np.int16) + 8) & 0xF) - 8).astype(np.int8)
            values.append(out)
        result = []
        for index in program.outputs:
            arr = values[n + index]
            storage = self.storage(arr.size, program.steps[index].dtype)
            if program.steps[index].dtype.bits == 4:
                storage.handle[:] = pack_int4(arr)
            else:
                storage.handle[:] = arr.reshape(-1).view(np.uint8)  # reshape first: 0-d outputs
            result.append(storage)
        return result


async def create_device_async() -> Device:
    # One NumPy device per process: there is no context to acquire again, and tensors already
    # on it stay valid, so init("cpu") keeps the running one.
    return running_devices().get("cpu") or CPUDevice()


IMPLEMENTATION = Implementation(CPUDevice, CPUDevice, create_device_async)
