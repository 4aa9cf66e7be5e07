"""Merge bench_gpu.py's and cublas_bench.py's JSON into bench/results' format (plain CPython).

    python3 merge_results.py WEBGPU.json TORCH.json OUT.json "DEVICE LINE" [DATE] [MINILM.json]

{"device", "date", "adapter", "matmul": [{"n", "tflops", "cublas_tflops", "ratio", "config",
"by_config"}], "conv2d" / "attention": {..., "torch_tflops", "ratio"}, "softmax" /
"layer_norm": {..., "torch_gbps", "ratio"}, "minilm": {..., "torch_sentences_per_s", "ratio"}};
ratio = webaccel / PyTorch on the same GPU.
"""

from __future__ import annotations

import datetime
import json
import sys


def ratio(ours: float | None, theirs: float | None) -> float | None:
    return round(ours / theirs, 3) if ours and theirs else None


def merge(webgpu: dict, torch: dict, device: str, date: str, minilm: dict | None = None) -> dict:
    cublas = {r["n"]: r["tflops"] for r in torch.get("matmul", [])}
    out = {"device": device, "date": date, "adapter": webgpu["adapter"], "matmul": []}
    for r in webgpu["matmul"]:
        theirs = cublas.get(r["n"])
        out["matmul"].append(
            {
                "n": r["n"],
                "tflops": round(r["tflops"], 2),
                "cublas_tflops": round(theirs, 2) if theirs else None,
                "ratio": ratio(r["tflops"], theirs),
                "config": r["config"],
                "by_config": r["by_config_tflops"],
            }
        )
    for key, unit in (("conv2d", "tflops"), ("attention", "tflops"), ("softmax", "gbps")):
        out[key] = _pair(webgpu, torch, key, unit)
    out["layer_norm"] = _pair(webgpu, torch, "layer_norm", "gbps")
    if "attention_plain" in torch:
        out["attention"]["torch_plain_tflops"] = round(torch["attention_plain"]["tflops"], 2)
    if minilm:
        theirs = torch.get("minilm", {})
        out["minilm"] = {
            **minilm,
            "torch_ms": theirs.get("ms"),
            "torch_sentences_per_s": theirs.get("sentences_per_s"),
            "ratio": ratio(minilm.get("sentences_per_s"), theirs.get("sentences_per_s")),
        }
    out["torch"] = torch.get("torch")
    return out


def _pair(webgpu: dict, torch: dict, key: str, unit: str) -> dict:
    ours = dict(webgpu.get(key, {}))
    theirs = torch.get(key, {}).get(unit)
    ours[unit] = round(ours[unit], 2) if unit in ours else None
    ours[f"torch_{unit}"] = round(theirs, 2) if theirs else None
    ours["ratio"] = ratio(ours[unit], theirs)
    return ours


if __name__ == "__main__":
    webgpu, torch = (json.load(open(p)) for p in sys.argv[1:3])
    date = sys.argv[5] if len(sys.argv) > 5 else datetime.date.today().isoformat()
    minilm = None
    if len(sys.argv) > 6:
        try:
            minilm = json.load(open(sys.argv[6]))
        except (OSError, ValueError):
            minilm = {"error": f"no result in {sys.argv[6]}"}
    with open(sys.argv[3], "w") as f:
        json.dump(merge(webgpu, torch, sys.argv[4], date, minilm), f, indent=1)
        f.write("\n")
    print(open(sys.argv[3]).read())
