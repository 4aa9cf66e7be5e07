"""The README's examples that name a browser backend run unchanged on it, in the headless shell.

``tests/test_readme.py`` runs every README python block on the host's cpu backend; the blocks
naming ``webnn`` or ``webgpu`` (their ``EXAMPLES`` entry's ``devices``) run here as written, in
a page served by ``webaccel serve`` (so ``models/all-MiniLM-L6-v2/`` is the lab's copy of the
model, the URL the README's pipeline example loads), through the same ``run_example``, with the
inputs made in the page by the entry's ``page_setup`` (the model's files fetched from that URL,
stores in the page's IndexedDB, ...), and checked by the same ``check`` (the sentence vectors
against sentence-transformers on the host).
"""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path

import pytest

from webaccel_lab import lab
from webaccel_lab.serve import serving

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import test_readme as readme  # tests/, beside the host tests

pytestmark = pytest.mark.lanes("headless-shell")

BROWSER_EXAMPLES = [e for e in readme.EXAMPLES if e.devices]

# In the served page (after its own run): a second Pyodide with the runtime wheel, through the
# pages' library, holding run_example.
LOAD = """
const [source, done] = arguments;
import(new URL("page.js", location.href).href)
  .then((page) => page.loadWebaccel({ pages: false }))
  .then((py) => { py.runPython(source); window.readmePyodide = py; done(null); })
  .catch((e) => done(String((e && e.stack) || e)));
"""
RUN = """
const [block, collect, setup, done] = arguments;
const py = window.readmePyodide;
py.globals.set("readme_args", py.toPy([block, collect, setup]));
py.runPythonAsync(
  "import json\\nb, c, s = readme_args\\njson.dumps(await run_example(b, c, setup=s))"
).then((text) => done({ result: text }), (e) => done({ error: String(e) }));
"""


@pytest.fixture(scope="module")
def page(lane):
    with serving(pyodide_version=lane.pyodide) as base_url:
        driver = lab.start_driver(lane)
        try:
            driver.get(lab.page_url(base_url, lane))
            lab.read_page_report(driver)  # the page's own run (detect()) is over
            driver.set_script_timeout(900)
            source = "from __future__ import annotations\n" + inspect.getsource(readme.run_example)
            error = driver.execute_async_script(LOAD, source)
            assert error is None, error
            yield driver
        finally:
            driver.quit()


@pytest.fixture(scope="module")
def reference():
    return readme.sentence_transformers_reference()


def test_the_browser_examples_are_the_ones_naming_browser_backends():
    assert [e.name for e in BROWSER_EXAMPLES] == ["embedder", "pipeline", "store"]
    for example in BROWSER_EXAMPLES:
        assert set(example.devices) <= {"webnn", "webgpu"}


@pytest.mark.parametrize("example", BROWSER_EXAMPLES, ids=[e.name for e in BROWSER_EXAMPLES])
def test_readme_example_runs_as_written_in_the_page(page, reference, example):
    block = readme.block_of(example)
    out = page.execute_async_script(RUN, block, example.collect, example.page_setup)
    assert "error" not in out, out["error"]
    result = json.loads(out["result"])
    assert result["device"] == example.devices[0]  # the backend the README names
    example.check(result, reference)
