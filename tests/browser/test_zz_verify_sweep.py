import json
import sys
from pathlib import Path

import pytest
from pytest_pyodide import run_in_pyodide

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import op_cases

pytestmark = pytest.mark.lanes("pyodide-0.27")
SRC = (Path(__file__).resolve().parents[1] / "op_cases.py").read_text()


@run_in_pyodide(packages=["webaccel", "numpy"])
def sweep(selenium, src, ids):
    import json
    import sys
    import types
    import warnings

    import webaccel as wa

    mod = sys.modules.get("op_cases")
    if mod is None:
        mod = types.ModuleType("op_cases")
        sys.modules["op_cases"] = mod
        exec(compile(src, "op_cases.py", "exec"), mod.__dict__)
    wa.get_device("webgpu")
    report = wa.verify(True)
    errors = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for case in mod.CASES:
            if case.id not in ids:
                continue
            try:
                mod.run_case(case, "webgpu")
            except Exception as exc:
                errors[case.id] = repr(exc)[:200]
    out = report.as_dict()
    out["errors"] = errors
    wa.verify_report(reset=True)
    return json.dumps(out)


def test_sweep(selenium):
    ids = [c.id for c in op_cases.CASES]
    total = {"programs_checked": 0, "disagreements": [], "drifts": [], "errors": {}, "total_ms": 0, "notes": []}
    for k in range(0, len(ids), 100):
        r = json.loads(sweep(selenium, SRC, ids[k : k + 100]))
        total["programs_checked"] += r["programs_checked"]
        total["total_ms"] += r["total_ms"]
        total["disagreements"] += r["disagreements"]
        total["drifts"] += r["drifts"]
        total["notes"] += r["notes"]
        total["errors"].update(r["errors"])
    Path("/tmp/vf/sweep.json").write_text(json.dumps(total, indent=1))
    print(total["programs_checked"], len(total["disagreements"]), len(total["drifts"]), len(total["errors"]))
