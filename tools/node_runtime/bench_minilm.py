# all-MiniLM-L6-v2's encoder (webaccel.models.BertModel) at batch 64 x 128 tokens on WebGPU,
# through run.mjs. RANDOM weights of the model's shapes (uniform +-0.05; the fp32 checkpoint is
# 90 MB and does not travel to the device machine): a throughput figure, not an accuracy one.
#   run.mjs bench_minilm.py OUT.json [BATCH=64] [SEQ=128]
# The matmul shapes are tuned first (autotune.tune_async); then encode() (captured, replayed)
# is timed on the wall clock, each run up to reading the (B, 384) embeddings back, after ~300 ms
# of warm-up; median of RUNS.
import array
import json
import math
import random
import statistics
import sys
import time

import webaccel as wa
from webaccel.backends.webgpu import autotune
from webaccel.models.bert import BertConfig, BertModel, needed_weights

out_path = sys.argv[1]
batch = int(sys.argv[2]) if len(sys.argv) > 2 else 64
seq = int(sys.argv[3]) if len(sys.argv) > 3 else 128
RUNS, WARM_MS = 10, 300.0
config = BertConfig.from_dict(
    {
        "hidden_size": 384,
        "intermediate_size": 1536,
        "num_attention_heads": 12,
        "num_hidden_layers": 6,
        "vocab_size": 30522,
        "max_position_embeddings": 512,
        "type_vocab_size": 2,
        "layer_norm_eps": 1e-12,
        "hidden_act": "gelu",
    }
)
device = await wa.init_async("webgpu", calibrate=False)
ctx = device.ctx
h, inner, nh = config.hidden_size, config.intermediate_size, config.num_attention_heads
embeddings = {
    "embeddings.word_embeddings.weight": (config.vocab_size, h),
    "embeddings.position_embeddings.weight": (config.max_position_embeddings, h),
    "embeddings.token_type_embeddings.weight": (config.type_vocab_size, h),
}


def shape_of(name):
    if name in embeddings:
        return embeddings[name]
    if "LayerNorm" in name:
        return (h,)
    out = inner if "intermediate" in name else h
    if name.endswith(".bias"):
        return (out,)
    ffn_out = name.endswith("output.dense.weight") and "attention" not in name
    return (out, inner if ffn_out else h)


shapes = {name: shape_of(name) for name in needed_weights(config)}
rng = random.Random(0)
block = array.array("f", [rng.uniform(-0.05, 0.05) for _ in range(1 << 20)]).tobytes()


def random_bytes(n):
    reps = -(-4 * n // len(block))
    return (block * reps)[: 4 * n]


weights = {}
for name, shape in shapes.items():
    n = 1
    for d in shape:
        n *= d
    weights[name] = wa.from_buffer(random_bytes(n), shape, "float32", device="webgpu")
model = BertModel(config, weights)
tokens = batch * seq
t0 = time.perf_counter()
for m, n, k, bt, b in [
    (tokens, h, h, True, 1),  # q, k, v, attention output
    (tokens, inner, h, True, 1),  # intermediate
    (tokens, h, inner, True, 1),  # output
    (seq, seq, h // nh, True, batch * nh),  # q @ k^T
    (seq, h // nh, seq, False, batch * nh),  # p @ v
]:
    entry = await autotune.tune_async(ctx, m, n, k, b_transposed=bt, batch=b)
    print(entry["class"], entry["config"], flush=True)
tune_s = time.perf_counter() - t0
ids = array.array("i", [rng.randrange(1000, config.vocab_size) for _ in range(tokens)])
input_ids = wa.from_buffer(ids.tobytes(), (batch, seq), "int32", device="webgpu")
mask = wa.from_buffer(array.array("i", [1] * tokens).tobytes(), (batch, seq), "int32", "webgpu")


async def once():
    t = time.perf_counter()
    out = model.encode(input_ids, mask)
    await out[:1, :4].read_async()
    return (time.perf_counter() - t) * 1e3


first = await once()  # trace + compile
sample = await model.encode(input_ids, mask)[:2, :8].tolist_async()
assert all(math.isfinite(x) for row in sample for x in row), sample
t0 = time.perf_counter()
while (time.perf_counter() - t0) * 1e3 < WARM_MS:
    await once()
times = [await once() for _ in range(RUNS)]
ms = statistics.median(times)
result = {
    "model": "all-MiniLM-L6-v2 shapes, random weights (throughput only)",
    "batch": batch,
    "seq": seq,
    "ms": ms,
    "ms_min": min(times),
    "sentences_per_s": batch / ms * 1e3,
    "first_call_ms": first,
    "tune_s": tune_s,
    "sample": sample[0][:4],
}
print(json.dumps(result), flush=True)
with open(out_path, "w") as f:
    json.dump(result, f, indent=1)
