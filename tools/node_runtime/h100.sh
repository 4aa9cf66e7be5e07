#!/usr/bin/env bash
# On the device machine (repo root, carry .node_pack and .gl): Vulkan loader, unpack the Node
# route, smoke test, webaccel WGSL matmul bench (GPU timestamps), then cuBLAS fp32 through PyTorch.
set -u
OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
echo "libvulkan: $(ldconfig -p | grep -c libvulkan)"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv
xz -dc .node_pack/rt.tar.xz | tar -C /tmp -xf -
R=/tmp/rt; whl=$(ls $R/wheel/webaccel-*.whl)
run() { local t=$1; shift; local m=(); if [ "$1" = --mount ]; then m=(--mount "$2"); shift 2; fi
  timeout "$t" $R/node/node tools/node_runtime/run.mjs --pyodide $R/pyodide --webgpu $R/webgpu --wheel "$whl" "${m[@]}" "$@"; }
$R/node/node --version
run 120 tools/node_runtime/smoke.py 2>&1 | tee $OUT/smoke.log
if ! grep -q "SMOKE OK" $OUT/smoke.log; then
  echo "== retry with VK_DRIVER_FILES"
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  run 120 tools/node_runtime/smoke.py 2>&1 | tee $OUT/smoke2.log
fi
run 300 --mount "$OUT" tools/node_runtime/bench_matmul.py $OUT/webgpu_matmul.json 1024,2048,4096 \
  64x64x16_4x4,64x64x8_8x8,32x32x16_4x4,16x64x16_4x4,direct_16x16_8x8,direct_8x8_8x8 2>&1 | tee $OUT/bench.log
timeout 120 python3 tools/node_runtime/cublas_bench.py $OUT/cublas.json 1024,2048,4096 2>&1 | tee $OUT/cublas.log
nvidia-smi --query-gpu=clocks.sm,temperature.gpu,power.draw --format=csv
