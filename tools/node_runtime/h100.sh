#!/usr/bin/env bash
# On the device machine (repo root; carry .node_pack and .gl, made by pack.sh): the Vulkan loader,
# the Node route unpacked, a smoke test, the whole WebGPU op-set suite (recorded by pack.sh,
# checked back home with ops_payload.py check), bench_gpu.py (autotuned matmul 1024-8192, conv2d,
# softmax, layer_norm, attention; GPU timestamps), bench_minilm.py (MiniLM-L6 shapes, random
# weights, batch 64 x 128) and cublas_bench.py (PyTorch CUDA fp32, TF32 off: the same cases) in
# the same run, merged into $OUT/<date>-h100.json, bench/results' format.
# WEBACCEL_LOCAL_TEST=1 runs the same steps here on lavapipe (no loader install); make them small:
#   WEBACCEL_LOCAL_TEST=1 SIZES=128 SCALE=0.02 MINILM="2 16" OUT=/tmp/o bash tools/node_runtime/h100.sh
set -u
OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
log="$OUT/run.log"
sizes="${SIZES:-1024,2048,4096,8192}"; scale="${SCALE:-1}"
if [ -z "${WEBACCEL_LOCAL_TEST:-}" ]; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
  echo "libvulkan: $(ldconfig -p | grep -c libvulkan)" | tee -a "$log"
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv | tee -a "$log"
  gpu="$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)"
else
  eval "$(tools/node_runtime/lavapipe.sh)"; gpu="local lavapipe test"
fi
R=/tmp/rt; rm -rf "$R"; xz -dc .node_pack/rt.tar.xz | tar -C /tmp -xf -
whl=$(ls "$PWD"/.node_pack/webaccel-*.whl)
run() { local t=$1; shift
  timeout "$t" $R/node/node tools/node_runtime/run.mjs --pyodide $R/pyodide --webgpu $R/webgpu \
    --wheel "$whl" --cache "$OUT/cache" --mount "$OUT" --mount "$PWD/.node_pack" "$@" 2>&1 |
    grep -v "artificially reduced" | tee -a "$log"; }
node_version=$($R/node/node --version)
run 90 tools/node_runtime/smoke.py
if ! grep -q "SMOKE OK" "$log"; then
  echo "== retry with VK_DRIVER_FILES" | tee -a "$log"
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  run 90 tools/node_runtime/smoke.py
fi
run 150 tools/node_runtime/run_programs.py "$PWD/.node_pack/ops_all.pickle" "$OUT/ops_results.pickle"
if [ -z "${WEBACCEL_LOCAL_TEST:-}" ]; then  # SM / memory clocks and P-state while the bench runs
  nvidia-smi --query-gpu=timestamp,pstate,clocks.sm,clocks.mem,power.draw --format=csv \
    -lms 250 > "$OUT/clocks.csv" & sampler=$!
fi
run 270 tools/node_runtime/bench_gpu.py "$OUT/webgpu.json" "$sizes" "$scale"
[ -n "${sampler:-}" ] && kill "$sampler"
run 200 tools/node_runtime/bench_minilm.py "$OUT/minilm.json" ${MINILM:-64 128}
timeout 150 python3 tools/node_runtime/cublas_bench.py "$OUT/torch.json" "$sizes" 2>&1 | tee -a "$log"
[ -s "$OUT/torch.json" ] || echo '{}' > "$OUT/torch.json"
torch=$(python3 -c 'import torch; print(torch.__version__)' 2>/dev/null || echo none)
device="$gpu; WebGPU via Dawn (webgpu@0.6.2, Vulkan) in Node $node_version + Pyodide 314.0.7"
device="$device; PyTorch $torch CUDA fp32 (TF32 off) in the same run"
python3 tools/node_runtime/merge_results.py "$OUT/webgpu.json" "$OUT/torch.json" \
  "$OUT/$(date +%F)-h100.json" "$device" "$(date +%F)" "$OUT/minilm.json" | tee -a "$log"
[ -z "${WEBACCEL_LOCAL_TEST:-}" ] && nvidia-smi --query-gpu=clocks.sm,temperature.gpu,power.draw --format=csv | tee -a "$log"
exit 0
