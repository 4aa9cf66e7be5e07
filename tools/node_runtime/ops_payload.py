"""The op-set suite for a Node + Dawn run elsewhere (the H100): record here, check here.

    .venv/bin/python tools/node_runtime/ops_payload.py write PAYLOAD.pickle [--all]
    .venv/bin/python tools/node_runtime/ops_payload.py check PAYLOAD.pickle RESULTS.pickle

``write`` records the node lane's cases (or, with --all, every case the WebGPU lanes run) as
run_programs.py takes them; ``check`` compares run_programs.py's results against the float64
NumPy reference with each case's tolerance and prints "N passed, M failed".
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "node"))
import node_cases
from recorded_ops import check, flush_subnormals, record


def cases(every: bool) -> list:
    if not every:
        return node_cases.lane_cases()
    chosen = [c for c in node_cases.op_cases.CASES if node_cases.runs_on_webgpu(c)]
    return [flush_subnormals(c) for c in chosen]


def main(argv: list[str]) -> int:
    if argv[0] == "write":
        chosen = cases("--all" in argv)
        recorded = [record(c) for c in chosen]
        payload = [r[:3] for r in recorded]
        Path(argv[1]).write_bytes(pickle.dumps(payload))
        print(f"wrote {len(payload)} programs to {argv[1]}")
        return 0
    payload = pickle.loads(Path(argv[1]).read_bytes())
    run = pickle.loads(Path(argv[2]).read_bytes())
    chosen = cases(len(payload) != len(node_cases.lane_cases()))
    failed = []
    for case, result in zip(chosen, run["results"], strict=True):
        try:
            check(case, (result, record(case)[3]))
        except AssertionError as exc:
            failed.append(f"{case.id}: {str(exc)[:300]}")
    print("\n".join(failed))
    print(f"adapter: {run['adapter'].get('description')}; {run['seconds']:.1f} s")
    print(f"{len(chosen) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
