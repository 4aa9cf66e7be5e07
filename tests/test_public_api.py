"""Every public name of webaccel 0.1.0 (each module's ``__all__`` at the release, recorded in
``tests/data/public_api_0.1.0.json``) still resolves: at its old path, or through an alias kept
for one release. The host tools that left the runtime for ``webaccel-lab`` are not public names
of the runtime package and are not in the record."""

from __future__ import annotations

import importlib
import json
import warnings
from pathlib import Path

import pytest

RECORD = json.loads((Path(__file__).parent / "data" / "public_api_0.1.0.json").read_text())
NAMES = [(module, name) for module, names in sorted(RECORD.items()) for name in names]


@pytest.mark.parametrize(("module", "name"), NAMES, ids=[f"{m}.{n}" for m, n in NAMES])
def test_public_name_still_resolves(module, name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # an alias may say where it went
        mod = importlib.import_module(module)
        assert getattr(mod, name) is not None


def test_the_record_is_the_release():
    assert len(NAMES) == 131 and "SentenceEmbedder" in RECORD["webaccel.models"]
