# Runs inside Pyodide under Node + Dawn (run.mjs), for the node lane (tests/node): the recorded
# op-case programs of PAYLOAD on a fresh webgpu device, in order, each output read back as bytes.
#   run.mjs run_programs.py PAYLOAD.pickle RESULTS.pickle
# PAYLOAD: a pickled list of (program, [(input bytes, numel, dtype)], output positions).
# RESULTS: {"adapter": adapter info, "seconds": total, "times": seconds per program (compile,
#           run, read back), "results": [("ok", [output bytes]) | ("error", message)]}.
# No adapter is an exception here (exit status 1): the lane fails, it never skips.
import pickle
import sys
import time

from webaccel.backends.webgpu.device import WebGPUDevice
from webaccel.dtypes import DTYPES

payload_path, results_path = sys.argv[1], sys.argv[2]
with open(payload_path, "rb") as f:
    payload = pickle.load(f)
device = await WebGPUDevice.create_async()
info = dict(device.ctx.info)
print("adapter:", info.get("vendor"), info.get("architecture"), info.get("description"), flush=True)
results, times = [], []
t0 = time.perf_counter()
for program, inputs, positions in payload:
    t1 = time.perf_counter()
    storages = []
    try:
        storages = [
            device.upload(memoryview(data), numel, DTYPES[dtype]) for data, numel, dtype in inputs
        ]
        outs = device.run(device.compile(program), storages)
        storages += outs
        got = []
        for p in positions:
            got.append(bytes(await device.copy_out_async(outs[p].handle, outs[p].nbytes)))
        results.append(("ok", got))
    except Exception as exc:
        results.append(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        for s in storages:
            s.release()
    times.append(time.perf_counter() - t1)
seconds = time.perf_counter() - t0
with open(results_path, "wb") as f:
    pickle.dump({"adapter": info, "seconds": seconds, "results": results, "times": times}, f)
print(f"ran {len(results)} programs in {seconds:.1f} s", flush=True)
