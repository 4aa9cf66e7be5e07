"""Run the test lanes (every lane of ``webaccel_lab.lab.LANES`` by default), then count their tests.

The lanes: host, the three browser lanes, and node-lavapipe (tests/node: Pyodide under Node +
Dawn on Mesa lavapipe).

Fails when a lane fails, runs no test, or skips one: a lane must have what it tests.
Usage: ``python tools/run_lanes.py [--lane NAME ...] [-- extra pytest args]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from webaccel_lab import lab


def run_lane(name: str, workdir: Path, extra: list[str]) -> dict:
    junit = workdir / f"{name}.xml"
    cmd = [sys.executable, "-m", "pytest", "--lane", name, "-q", f"--junitxml={junit}", *extra]
    print(f"\n=== lane {name}: {lab.LANES[name].description}\n$ {' '.join(cmd)}", flush=True)
    t0 = time.perf_counter()
    rc = subprocess.run(cmd, cwd=lab.repo_root()).returncode
    result = {
        "lane": name,
        "rc": rc,
        "seconds": time.perf_counter() - t0,
        "tests": 0,
        "failures": 0,
        "errors": 0,
        "skipped": 0,
    }
    if junit.is_file():
        for suite in ET.parse(junit).getroot().iter("testsuite"):
            for key in ("tests", "failures", "errors", "skipped"):
                result[key] += int(suite.get(key, 0))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lane", action="append", choices=list(lab.LANES))
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != "--"]
    lanes = args.lane or list(lab.LANES)
    with tempfile.TemporaryDirectory() as tmp:
        results = [run_lane(name, Path(tmp), extra) for name in lanes]

    print("\n=== tests per lane")
    header = ("lane", "passed", "failed", "errors", "skipped", "time")
    print("{:<15} {:>6} {:>6} {:>6} {:>7} {:>7}  verdict".format(*header))
    problems = 0
    for r in results:
        passed = r["tests"] - r["failures"] - r["errors"] - r["skipped"]
        verdict = "ok"
        if r["rc"] != 0 or r["failures"] or r["errors"]:
            verdict = f"FAILED (pytest exit {r['rc']})"
        elif r["tests"] == 0:
            verdict = "FAILED (no tests ran)"
        elif r["skipped"]:
            verdict = "FAILED (a lane must not skip)"
        problems += verdict != "ok"
        print(
            f"{r['lane']:<15} {passed:>6} {r['failures']:>6} {r['errors']:>6} {r['skipped']:>7} "
            f"{r['seconds']:>6.0f}s  {verdict}"
        )
    total = sum(r["tests"] - r["skipped"] for r in results)
    failed = sum(r["failures"] + r["errors"] for r in results)
    print(f"{total - failed} passed, {failed} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
