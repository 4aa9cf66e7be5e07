"""A page's configuration: what the caller gives (None, a dict, a JSON string or a JS object
from the page) over the module's defaults. Shared by the embed page and the benchmarks."""

from __future__ import annotations

import json
from typing import Any


def merge_config(config: Any, defaults: dict[str, Any]) -> dict[str, Any]:
    """*config* over a deep copy of *defaults*: nested dicts merge, unknown keys are an error
    naming the known ones."""
    if config is None or config == "":
        given: dict[str, Any] = {}
    elif isinstance(config, str):
        given = json.loads(config)
    elif isinstance(config, dict):
        given = dict(config)
    elif hasattr(config, "to_py"):  # a JS object from the page
        given = config.to_py()
    else:
        raise TypeError(f"config: give a dict or a JSON string, not {type(config).__name__}")
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"config: unknown keys {unknown}; known: {sorted(defaults)}")
    out = json.loads(json.dumps(defaults))  # a deep copy
    for key, value in given.items():
        if isinstance(out[key], dict) and isinstance(value, dict):
            out[key].update(value)
        else:
            out[key] = value
    return out
