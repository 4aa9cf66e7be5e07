"""Names a package imports on first use (PEP 562), so ``import webaccel`` stays light: the
WGSL kernel library, the WebNN builders, the store and the models load when first touched."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

# name -> (submodule relative to the package, attribute of it, or None for the module itself)
LazyTable = Mapping[str, tuple[str, str | None]]


def lazy_getattr(package: str, table: LazyTable) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for *package* that imports *table*'s names when asked."""

    def __getattr__(name: str) -> Any:
        try:
            submodule, attribute = table[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        module = importlib.import_module(f"{package}.{submodule}")
        return module if attribute is None else getattr(module, attribute)

    return __getattr__
