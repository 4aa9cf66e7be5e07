"""The host CLI: parser, doctor's host lane and table, and the server `webaccel serve` runs."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from webaccel_lab import doctor
from webaccel_lab.serve import serving


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "webaccel_lab", *args], capture_output=True, text=True, timeout=120
    )


def test_version_and_help():
    out = run_cli("--version")
    assert out.returncode == 0 and out.stdout.startswith("webaccel ")
    assert "doctor" in run_cli("--help").stdout


def test_doctor_json_host_lane():
    out = run_cli("doctor", "--json", "--lane", "host")
    assert out.returncode == 0, out.stderr
    (entry,) = json.loads(out.stdout)
    assert entry["lane"] == "host"
    for key in ("pyodide", "python", "jspi", "numpy", "webgpu", "webnn", "storage", "tier"):
        assert key in entry
    assert entry["tier"] == "cpu-only"


def test_doctor_table_marks_failed_lanes():
    reports = [
        {
            "lane": "host",
            "python": "3.11.7",
            "numpy": "2.4.6",
            "jspi": False,
            "webgpu": {"available": False},
            "webnn": {"available": False},
            "storage": {"indexeddb": False},
            "tier": "cpu-only",
        },
        {"lane": "headless-shell", "error": "LabError: lane 'headless-shell' is missing: x"},
    ]
    table = doctor.format_table(reports)
    assert "FAILED" in table
    assert "host            needs numpy: ok" in table
    assert "MISSING LabError" in table


def test_unknown_lane_is_rejected():
    out = run_cli("doctor", "--lane", "firefox")
    assert out.returncode == 2 and "invalid choice" in out.stderr


def _get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], b""


def test_server_routes_and_mime_types():
    with serving(pyodide_source="cdn", pyodide_version="0.27.7") as base:
        status, ctype, body = _get(base + "webaccel-config.json")
        config = json.loads(body)
        assert (status, ctype) == (200, "application/json")
        assert config["pyodide_source"] == "cdn" and config["pyodide_version"] == "0.27.7"
        status, ctype, body = _get(base + config["wheel"])
        assert status == 200 and ctype == "application/zip" and body[:2] == b"PK"
        assert _get(base + "index.html")[1].startswith("text/html")
        assert _get(base + "app.js")[1] == "text/javascript"
        status, ctype, body = _get(base + "pyodide/0.27.7/pyodide.asm.wasm")
        assert (status, ctype, body[:4]) == (200, "application/wasm", b"\0asm")
        assert _get(base + "pyodide/314.0.7/pyodide.mjs")[1] == "text/javascript"
        assert _get(base + "../pyproject.toml")[0] == 404
        assert _get(base + "pyodide/../../pyproject.toml")[0] == 404


def test_server_rejects_unknown_pyodide_source():
    with pytest.raises(ValueError, match="'local' or 'cdn'"):
        with serving(pyodide_source="somewhere"):
            pass


def test_serve_command_prints_its_url_and_serves():
    import re

    proc = subprocess.Popen(
        [sys.executable, "-m", "webaccel_lab", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
        assert match, line
        status, _, body = _get(match.group(1) + "webaccel-config.json")
        assert status == 200 and json.loads(body)["pyodide_source"] == "local"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
