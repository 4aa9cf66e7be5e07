"""Weights loaded from a model's source file come back from it after a device loss.

``load_async`` gives each weight it uploads from the source (with no store in between) a
``SourceTensor`` record (``webaccel.restore``): after the device is lost and rebuilt, the file
is read again once for all of them (the directory's file, the URL fetched again, the mapping's
fetcher called again) and each weight taken from it as at load (dtype conversion, quantizing
at load, the int4 file's layout). Nothing is kept in Python memory meanwhile.

A source whose file is bytes held in a ``{name: bytes}`` mapping cannot be read again without
keeping those bytes alive (the size of the model, in Python memory): its weights get no record
and are lost with the device. Load through a store, or from a directory, a URL or a mapping of
fetchers, for weights that survive a device loss.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Hashable, Mapping, Sequence
from typing import Any

from ...device import set_restore
from ...restore import NoCopy, Restore
from ...tensor import Tensor
from .sources import ModelFiles, Source

# (the file's bytes, a memo shared by one group's records) -> the tensor's bytes
Extract = Callable[[Any, dict[Any, Any]], Any]


class SourceTensor(Restore):
    """A tensor taken by *extract* from file *file* of model source *source*."""

    def __init__(self, source: Source, file: str, extract: Extract, what: str, who: str) -> None:
        self.source, self.file, self.extract, self.who = source, file, extract, who
        self.what = what

    @property
    def group(self) -> Hashable:
        key = id(self.source) if isinstance(self.source, Mapping) else os.fspath(self.source)
        return (key, self.file)

    async def read_async(self) -> Any:
        async for _, data in self.read_group([self]):
            return data
        raise AssertionError("a one-record group gave nothing")  # pragma: no cover

    @classmethod
    async def read_group(cls, records: Sequence[Restore]) -> AsyncIterator[tuple[int, Any]]:
        first = records[0]
        assert isinstance(first, SourceTensor)
        buffer = await ModelFiles(first.source, first.who).get(first.file)
        memo: dict[Any, Any] = {}
        for i, r in enumerate(records):
            assert isinstance(r, SourceTensor)
            yield i, r.extract(buffer, memo)


def rereadable(source: Source, file: str) -> bool:
    """Whether *file* of *source* can be read again later without our keeping its bytes: a
    directory, a URL, or a mapping whose entry is a fetcher (a callable)."""
    if isinstance(source, Mapping):
        return callable(source.get(file))
    return isinstance(source, str | os.PathLike)


class SourceRecords:
    """Attaches ``SourceTensor`` records for the weights of one load from *source* (nothing
    where the source cannot be read again)."""

    def __init__(self, source: Source, who: str) -> None:
        self.source, self.who = source, who

    def attach(self, value: Any, file: str, extract: Extract, what: str) -> None:
        """Give *value*'s storage (a Tensor; a QuantizedWeight: pass its parts one by one) a
        record reading it back from *file* with *extract*."""
        storage = value._node.storage if isinstance(value, Tensor) else None
        if storage is None:
            return
        if rereadable(self.source, file):
            set_restore(storage, SourceTensor(self.source, file, extract, what, self.who))
        elif isinstance(storage.restore, NoCopy):  # a small one keeps its host copy
            storage.restore = NoCopy(f"{what}, from a mapping of bytes (not kept)")
