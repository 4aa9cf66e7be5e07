"""Names a package imports on first use (PEP 562), so ``import webaccel`` stays light: the
WGSL kernel library, the WebNN builders, the store and the models load when first touched."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_getattr(
    package: str, names: Mapping[str, Iterable[str]], modules: Iterable[str] = ()
) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for *package*: each of ``names[submodule]`` is imported
    from that submodule when first asked for, and each of *modules* is the submodule itself."""
    table: dict[str, tuple[str, str | None]] = {m: (m, None) for m in modules}
    table.update({name: (sub, name) for sub, attrs in names.items() for name in attrs})

    def __getattr__(name: str) -> Any:
        try:
            submodule, attribute = table[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        module = importlib.import_module(f"{package}.{submodule}")
        return module if attribute is None else getattr(module, attribute)

    return __getattr__
