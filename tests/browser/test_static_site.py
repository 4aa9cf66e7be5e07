"""The page users open, served by `webaccel serve`'s server, read from the DOM."""

from __future__ import annotations

import json
import subprocess
import sys

from selenium.webdriver.common.by import By

from webaccel_lab import lab
from webaccel_lab.serve import serving


def test_page_installs_webaccel_and_shows_the_report(lane):
    with serving() as base_url:
        driver = lab.start_driver(lane)
        try:
            driver.get(lab.page_url(base_url, lane))
            report = lab.read_page_report(driver)
            tier = driver.find_element(By.ID, "tier").text
            rows = {
                row.find_element(By.TAG_NAME, "th").text: row.find_element(By.TAG_NAME, "td").text
                for row in driver.find_elements(By.CSS_SELECTOR, "#report tbody tr")
            }
            status = driver.find_element(By.ID, "status").text
        finally:
            driver.quit()
    assert tier == report["tier"]
    assert status == f"Done: tier {report['tier']}."
    assert rows["WebGPU"] == "yes"
    assert rows["Python / Pyodide"] == f"{report['python']} / {lane.pyodide}"
    assert lab.unmet_requirements(lane, report) == []


def test_doctor_json_for_this_lane(lane):
    out = subprocess.run(
        [sys.executable, "-m", "webaccel_lab", "doctor", "--json", "--lane", lane.name],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr + out.stdout
    (entry,) = json.loads(out.stdout)
    assert entry["lane"] == lane.name
    for key in ("pyodide", "python", "jspi", "numpy", "webgpu", "webnn", "storage", "tier"):
        assert key in entry
    for key in ("available", "vendor", "architecture", "is_fallback"):
        assert key in entry["webgpu"]
    for key in ("available", "error", "op_count", "preferred_layout"):
        assert key in entry["webnn"] or not entry["webnn"]["available"]
    assert {"quota", "usage", "indexeddb"} <= set(entry["storage"])
