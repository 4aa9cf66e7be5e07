"""The generic model loader: a model's files (a ``{name: bytes | fetcher}`` dict, a directory
or a URL) or the store -> its config and weights on a device, driven by a per-architecture
``ModelSpec`` (``models/bert/spec.py`` is the first).

```python
from webaccel.models import loader

loaded = await loader.load_async("models/my-bert/", name="my-bert", device="webgpu",
                                 store=await Store.open_async(), quantize="int8")
model = loaded.build()  # the architecture's model (BertModel), weights on the device
```

``sources`` reads the files lazily, ``stored`` is the one place that talks to the store,
``quantized`` quantizes at load and reads quantized copies back.
"""

from __future__ import annotations

from .load import LoadedModel, load_async
from .quantized import INT4_GROUP, SCHEMES, check_scheme
from .resolve import Resolved, directory_name, resolve_model
from .sources import ModelFiles, Source, url_files
from .stored import FILE_PREFIX, INT4_SUFFIX, QUANTIZED_SUFFIX
from .types import Progress

__all__ = [
    "FILE_PREFIX",
    "INT4_GROUP",
    "INT4_SUFFIX",
    "QUANTIZED_SUFFIX",
    "SCHEMES",
    "LoadedModel",
    "ModelFiles",
    "Progress",
    "Resolved",
    "Source",
    "check_scheme",
    "directory_name",
    "load_async",
    "resolve_model",
    "url_files",
]
