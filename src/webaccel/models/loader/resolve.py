"""What a ``model=`` argument names: a dict of files, a directory or URL, or a store model."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ... import _compat
from ...store import Store
from . import stored


@dataclass
class Resolved:
    """Where a model comes from: *source* (files; ``{}`` for the store alone), its *name*
    in the store, and the *store* (None: none)."""

    source: Any
    name: str
    store: Store | None


def _looks_like_directory(text: str) -> bool:
    if "://" in text or text.endswith("/") or text.startswith(("./", "../", "/")):
        return True
    return not _compat.host().in_pyodide and Path(text).is_dir()


def directory_name(location: str | os.PathLike[str]) -> str:
    """The last part of a directory path or URL: the model's name in a store."""
    text = os.fspath(location).rstrip("/")
    last = text.rsplit("/", 1)[-1]
    if not last or last in (".", "..") or last.endswith(":"):
        raise ValueError(f"cannot name a model after {os.fspath(location)!r}: give name=")
    return last


async def resolve_model(
    model: Mapping[str, Any] | str | os.PathLike[str],
    store: Store | None = None,
    name: str | None = None,
    who: str = "pipeline",
) -> Resolved:
    """*model* as a ``Resolved``: a mapping of files; a directory path or URL (a string with
    ``://``, or ending with ``/``, or starting ``./`` ``../`` ``/``, or on the host an existing
    directory), named in the store after its last part; else a store model name (in *store*,
    or the default store where none is given)."""
    if isinstance(model, Mapping):
        if store is not None and name is None:
            raise ValueError(f"{who}: give name= to keep a dict of files in the store")
        return Resolved(model, name or "model", store)
    if isinstance(model, os.PathLike):
        return Resolved(model, name or directory_name(model), store)
    if not isinstance(model, str):
        raise TypeError(
            f"{who}: model is a dict of files, a directory or URL, or a store model name, "
            f"not {type(model).__name__}"
        )
    if store is not None and stored.has(store, model, None):
        return Resolved({}, model, store)
    if _looks_like_directory(model):
        return Resolved(model, name or directory_name(model), store)
    store = store or await stored.open_default()
    if not stored.has(store, model, None):
        raise FileNotFoundError(
            f"{who}: {model!r} is not a model in the store, nor a directory; a directory's "
            f"URL or path ends with '/' (or starts with './' or '/')"
        )
    return Resolved({}, model, store)
