"""``webaccel.pipeline(task, model=...)``: a model behind one call, in the shape of
transformers.js' and Hugging Face's ``pipeline``.

```python
import webaccel

extractor = await webaccel.pipeline_async("feature-extraction", model="models/all-MiniLM-L6-v2/",
                                          device="webgpu", quantize="int8")
vectors = await extractor.call_async(["a sentence", "another"], pooling="mean", normalize=True)
vector = extractor("one sentence", pooling="mean", normalize=True)  # sync: CPython, or JSPI
```

*model*: a ``{file name: bytes | fetcher}`` dict, a model directory's path or URL, or the name
of a model in the store. Tasks: ``TASKS``.
"""

from __future__ import annotations

import importlib
from typing import Any

from .. import _compat

# task -> (module of webaccel.pipelines, class); imported on first use, so `import webaccel`
# does not load the models and tokenizers (tens of ms in Pyodide) for a page that never asks.
TASKS: dict[str, tuple[str, str]] = {
    "feature-extraction": ("feature_extraction", "FeatureExtractionPipeline"),
}


def pipeline_class(task: str) -> Any:
    """The pipeline class of *task*; an unknown task is a ValueError listing the tasks."""
    if not isinstance(task, str) or task not in TASKS:
        raise ValueError(f"unknown task {task!r}; the tasks there are: {', '.join(TASKS)}")
    module, cls = TASKS[task]
    return getattr(importlib.import_module(f".{module}", __name__), cls)


async def pipeline_async(task: str, model: Any = None, **options: Any) -> Any:
    """The pipeline for *task* over *model* (``None``: the task's default model where one is
    installed). *options*: ``device``, ``quantize``, ``store``, ``name``, ``progress`` and the
    task's own (see its class, e.g. ``FeatureExtractionPipeline.load_async``)."""
    return await pipeline_class(task).load_async(model, **options)


def pipeline(task: str, model: Any = None, **options: Any) -> Any:
    """Sync ``pipeline_async`` (CPython; in a page it needs JSPI, else await the async form)."""
    cls = pipeline_class(task)  # an unknown task fails here, before any waiting
    return _compat.run_sync(cls.load_async(model, **options))


__all__ = ["TASKS", "pipeline", "pipeline_async", "pipeline_class"]
