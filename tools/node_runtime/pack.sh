#!/usr/bin/env bash
# Pack the Node route for the device machine into <repo>/.node_pack/ (ignored via .git/info/exclude,
# carried with `carry: [".node_pack", ".gl"]`): node (stripped), webgpu (index.js, package.json,
# linux-x64 dawn.node), the Pyodide 314.0.7 core (+ micropip, packaging) as one rt.tar.xz (made
# once; delete it to remake it); the webaccel wheel built from the checkout; the recorded op-set
# suite (ops_all.pickle); plus the Vulkan loader .debs in <repo>/.gl (see the device README).
# Then, on the device:
#   bash tools/node_runtime/h100.sh        (results in $OUT; see h100.sh)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"; repo="$(cd "$here/../.." && pwd)"
"$here/fetch.sh" >/dev/null
"$repo/.venv/bin/python" -c "from webaccel_lab import wheels; wheels.build_wheel()"  # the checkout as it is
mkdir -p "$repo/.node_pack"
if [ ! -s "$repo/.node_pack/rt.tar.xz" ]; then  # the runtime: made once (xz -9 takes minutes)
  stage="$(mktemp -d)"; rt="$stage/rt"; mkdir -p "$rt/node" "$rt/pyodide"
  cp "$here/.rt/node/bin/node" "$rt/node/node"; strip "$rt/node/node" 2>/dev/null || true
  cp -r "$here/.rt/webgpu" "$rt/webgpu"
  dist="$repo/.lab/pyodide/314.0.7"
  cp "$dist"/{pyodide.asm.mjs,pyodide.asm.wasm,pyodide.mjs,pyodide.js,python_stdlib.zip,pyodide-lock.json,package.json} "$rt/pyodide/"
  cp "$dist"/micropip-*.whl "$dist"/packaging-*.whl "$rt/pyodide/"
  tar -C "$stage" -cf - rt | xz -T0 -9 > "$repo/.node_pack/rt.tar.xz"
  rm -rf "$stage"
fi
# the package as it is in the checkout, and the whole WebGPU op-set suite recorded here (NumPy),
# run there, checked here again (ops_payload.py check)
rm -f "$repo"/.node_pack/webaccel-*.whl
cp "$(ls "$repo"/.lab/wheels/webaccel-*.whl | sort | tail -1)" "$repo/.node_pack/"
"$repo/.venv/bin/python" "$here/ops_payload.py" write "$repo/.node_pack/ops_all.pickle" --all
if [ ! -f "$repo/.gl/libvulkan1_"*.deb ]; then
  mkdir -p "$repo/.gl" /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  apt-get $o update -qq; (cd "$repo/.gl" && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
du -sh "$repo/.node_pack" "$repo/.gl"
