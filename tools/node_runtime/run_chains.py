# Runs inside Pyodide under Node + Dawn (run.mjs), for the node lane (tests/node): the random op
# chains of PAYLOAD through the public API on the webgpu device (tests/chain_exec.py, shipped as
# source beside the payload), each stepwise and whole (see tests/chains.py).
#   run.mjs run_chains.py PAYLOAD.pickle RESULTS.pickle
# PAYLOAD: a pickled {"source": chain_exec.py's text, "chains": [chain payload, ...]}.
# RESULTS: {"adapter": adapter info, "seconds": total, "results": [(stepwise, whole), ...]}.
# No adapter is an exception here (exit status 1): the lane fails, it never skips.
import pickle
import sys
import time

import webaccel as wa

payload_path, results_path = sys.argv[1], sys.argv[2]
with open(payload_path, "rb") as f:
    payload = pickle.load(f)
device = await wa.init_async("webgpu", calibrate=False)
info = dict(device.ctx.info)
print("adapter:", info.get("vendor"), info.get("architecture"), info.get("description"), flush=True)
namespace = {}
exec(payload["source"], namespace)
t0 = time.perf_counter()
results = namespace["run_chains"](wa, payload["chains"], device)
seconds = time.perf_counter() - t0
with open(results_path, "wb") as f:
    pickle.dump({"adapter": info, "seconds": seconds, "results": results}, f)
print(f"ran {len(results)} chains in {seconds:.1f} s", flush=True)
