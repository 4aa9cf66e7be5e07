"""Weights loaded from a store come back from it after a device loss (``webaccel.restore``).

``weights.load`` gives every storage it puts on a device a ``StoredTensor`` record: the store,
the model, the version and the tensor it came from, and the tensor's content key. After the
device is lost and rebuilt, the records of one model version are read back together
(``Store.read_async``, checksums verified), at most ``BATCH_BYTES`` of host memory at a time,
and written into the storages' new buffers. Nothing is kept in Python memory meanwhile: the
store is the copy. A version deleted or evicted since, or saved again with other bytes for
that tensor, gives nothing back: the storage is then lost (``DeviceLostError`` names it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Hashable, Sequence
from typing import Any

from ..restore import Restore
from ..store import ModelNotFoundError, Store, tensor_key

BATCH_BYTES = 32 << 20  # host memory one restore read holds at most (one tensor can be more)


class StoredTensor(Restore):
    """Tensor *tensor* of store model *name* at *version*, with content key *key*."""

    def __init__(self, store: Store, name: str, version: str, tensor: str, key: str) -> None:
        self.store, self.name, self.version, self.tensor, self.key = (
            store,
            name,
            version,
            tensor,
            key,
        )
        self.what = f"tensor {tensor!r} of store model {name!r} version {version!r}"

    @property
    def group(self) -> Hashable:
        return (id(self.store), self.name, self.version)

    async def read_async(self) -> Any:
        async for _, data in self.read_group([self]):
            return data
        raise AssertionError("a one-record group gave nothing")  # pragma: no cover

    @classmethod
    async def read_group(cls, records: Sequence[Restore]) -> AsyncIterator[tuple[int, Any]]:
        first = records[0]
        assert isinstance(first, StoredTensor)
        store, name, version = first.store, first.name, first.version
        try:
            manifest = store.manifest(name, version)
        except ModelNotFoundError as exc:
            raise LookupError(f"the store no longer holds {name!r} version {version!r}") from exc
        by_name = {t["name"]: t for t in manifest["tensors"]}
        batch: list[int] = []
        batch_bytes = 0
        wanted: list[int] = []
        for i, r in enumerate(records):
            assert isinstance(r, StoredTensor)
            t = by_name.get(r.tensor)
            if t is None or tensor_key(manifest, t) != r.key:
                yield (
                    i,
                    LookupError(
                        f"the store's {name!r} version {version!r} no longer holds these bytes "
                        f"for {r.tensor!r} (deleted or saved again)"
                    ),
                )
                continue
            wanted.append(i)
        for i in wanted:  # store order within the batches: chunks are read once each
            batch.append(i)
            batch_bytes += by_name[records[i].tensor]["nbytes"]  # type: ignore[attr-defined]
            if batch_bytes >= BATCH_BYTES or i == wanted[-1]:
                names = [records[j].tensor for j in batch]  # type: ignore[attr-defined]
                read = await store.read_async(name, version=version, tensors=names)
                for j in batch:
                    data, _, _ = read.pop(records[j].tensor)  # type: ignore[attr-defined]
                    yield j, data
                batch, batch_bytes = [], 0
