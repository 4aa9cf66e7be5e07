"""The node lane fails loudly, never skips, when Dawn finds no adapter."""

from __future__ import annotations

import json

from webaccel_lab import lab


def test_no_adapter_fails_the_run(lane, wheel, tmp_path, monkeypatch):
    # A lab cache whose lavapipe ICD names a driver that is not there: the Vulkan loader has
    # no device, Dawn offers no adapter, and the runner must exit non-zero saying so.
    icd = tmp_path / "lavapipe" / "lvp_icd.abs.json"
    icd.parent.mkdir()
    icd.write_text(
        json.dumps(
            {
                "file_format_version": "1.0.1",
                "ICD": {"library_path": str(tmp_path / "missing.so"), "api_version": "1.4.305"},
            }
        )
    )
    monkeypatch.setenv("WEBACCEL_CACHE", str(tmp_path))
    code = "from webaccel.backends.webgpu import GPUContext\nawait GPUContext.create_async()"
    out = lab.run_node(lane, ["-c", code], timeout=300, wheel=wheel)
    assert out.returncode != 0, out.stdout
    assert "requestAdapter() returned null" in out.stderr, out.stderr[-2000:]
