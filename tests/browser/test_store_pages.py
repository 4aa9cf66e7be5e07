"""webaccel.store across pages of one browser profile (IndexedDB + Web Locks): a page closed in
the middle of a save, and two pages saving the same model at once.

The tests drive extra windows of the lane's browser (``selenium.driver``), each loading Pyodide
and webaccel, and always come back to the fixture's own window. A save is held at a chosen point
by a JS promise (a "gate") so that the page is closed, or the other page starts, exactly there.
"""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.driver_timeout(180)

DB = "wa-pages"
MiB = 1 << 20

# Every page builds the same weights from seeds: 8 MiB shared by all versions (an embedding),
# 8 MiB per version. 1 MiB chunks: 16 chunk transactions per save.
WEIGHTS = f"""
import random
MiB = 1 << 20
def weights(seed):
    return {{
        "emb": (random.Random(0).randbytes(8 * MiB), "float32", (2 * MiB,)),
        "layer": (random.Random(seed).randbytes(8 * MiB), "float32", (2 * MiB,)),
    }}
def open_store():
    from webaccel.store import Store
    return Store.open_async({DB!r}, allow_small_chunks=True, chunk_size=MiB)
"""

SAVE_V1 = (
    WEIGHTS
    + f"""
from pyodide.code import run_js
await run_js("(n) => new Promise((r) => {{ indexedDB.deleteDatabase(n).onsuccess = r; }})")({DB!r})
s = await open_store()
await s.save_async("m", weights(1), version="1")
info = s.info("m")
await s.close_async()
[info["version"], info["chunks"]]
"""
)

# In the background of this page: open the store ("ready"), wait for window.go(), then save
# *version*; the save waits at the gate (before its manifest, or before its first chunk) until
# window.openGate() is called.
START_SAVE = (
    WEIGHTS
    + """
import js
from pyodide.code import run_js
run_js("globalThis.gate = new Promise((r) => { globalThis.openGate = r; }); 0")
run_js("globalThis.started = new Promise((r) => { globalThis.go = r; }); 0")
js.globalThis.saveState = "opening"
s = await open_store()
js.globalThis.saveState = "ready"
await js.globalThis.started
original = s.backend.put_many
landed = []
gated_once = []

async def gated(ns, items):
    if ns == GATE_NS and not gated_once:
        gated_once.append(ns)
        js.globalThis.saveState = "at-gate"
        await js.globalThis.gate
    await original(ns, items)
    if ns == "chunks":
        landed.extend(items)
        js.globalThis.chunksLanded = len(landed)

s.backend.put_many = gated
js.globalThis.saveState = "saving"
info = await s.save_async("m", weights(SEED), version=VERSION)
js.globalThis.saveState = "saved " + info["version"]
"""
)


def start_save(selenium, version: str, seed: int, gate_ns: str) -> None:
    code = START_SAVE.replace("GATE_NS", repr(gate_ns)).replace("SEED", str(seed))
    code = code.replace("VERSION", repr(version))
    selenium.run_js(
        f"""
        globalThis.saveState = "starting";
        globalThis.chunksLanded = 0;
        pyodide.runPythonAsync({code!r}).catch((e) => {{
            globalThis.saveState = "error " + e;
        }});
        """
    )


def state(selenium) -> str:
    return str(selenium.run_js("return String(globalThis.saveState)"))


def wait_for(selenium, predicate, what: str, timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    current = state(selenium)
    while time.monotonic() < deadline:
        current = state(selenium)
        if predicate(current):
            return current
        assert not current.startswith(("error", "saved")), f"waiting for {what}: {current}"
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; save state {current!r}")


def wait_for_saved(selenium, timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    current = state(selenium)
    while time.monotonic() < deadline and not current.startswith(("saved", "error")):
        time.sleep(0.05)
        current = state(selenium)
    return current


def new_page(selenium) -> str:
    """A new window of the same browser profile with Pyodide and webaccel loaded."""
    selenium.driver.switch_to.new_window("window")
    selenium.prepare_driver()
    selenium.javascript_setup()
    selenium.load_pyodide()
    selenium.initialize_pyodide()
    selenium.load_package(["webaccel"])
    return selenium.driver.current_window_handle


def chunk_keys(selenium) -> list[str]:
    return selenium.run_js(
        f"""
        const db = await new Promise((ok, no) => {{
            const r = indexedDB.open({DB!r}); r.onsuccess = () => ok(r.result); r.onerror = no;
        }});
        const tx = db.transaction(["chunks"], "readonly");
        const keys = await new Promise((ok) => {{
            const r = tx.objectStore("chunks").getAllKeys(); r.onsuccess = () => ok(r.result);
        }});
        db.close();
        return keys.map(String).sort();
        """
    )


def reload_home(selenium, home: str) -> None:
    """Back to the fixture's window, reloaded: a fresh page and Pyodide in the same profile."""
    selenium.driver.switch_to.window(home)
    selenium.refresh()
    selenium.load_pyodide()
    selenium.initialize_pyodide()
    selenium.save_state()
    selenium.load_package(["webaccel"])


CHECK = (
    WEIGHTS
    + """
import asyncio
from webaccel.weights import load_async as load_weights_async
s = await asyncio.wait_for(open_store(), 30)  # the lock of a closed page is free again
m = s.manifest("m")
out = await load_weights_async(s, "m", "webgpu")  # onto the device
ok = [
    bytes(await out[name].read_async()) == weights(int(m["version"][-1]))[name][0]
    for name in ("emb", "layer")
]
keys = sorted(await s.backend.keys("chunks"))
result = {
    "versions": s.info("m")["versions"],
    "loaded_ok": ok,
    "verify": await s.verify_async("m"),
    "orphans": sorted(set(keys) - {c["key"] for c in m["chunks"]}),
    "chunks": len(keys),
}
await s.clear_async()
await s.close_async()
result
"""
)


def test_a_page_closed_mid_save_leaves_the_previous_version(selenium):
    home = selenium.driver.current_window_handle
    selenium.load_package(["webaccel"])
    assert selenium.run_async(SAVE_V1) == ["1", 16]
    before = chunk_keys(selenium)
    assert len(before) == 16
    writer = new_page(selenium)
    try:
        # version 2 writes all its new chunks, then waits just before its manifest (the commit)
        start_save(selenium, "2", seed=2, gate_ns="manifests")
        wait_for(selenium, lambda s: s == "ready", "the store to open")
        selenium.run_js("globalThis.go()")
        wait_for(selenium, lambda s: s == "at-gate", "the save to reach its commit")
        assert selenium.run_js("return globalThis.chunksLanded") == 8  # 8 new, 8 shared
    finally:
        selenium.driver.close()  # the page goes away with the save in flight
        selenium.driver.switch_to.window(home)
    # the new chunks are in the database, but no manifest names them
    assert len(chunk_keys(selenium)) == 16 + 8
    reload_home(selenium, home)
    result = selenium.run_async(CHECK)
    assert result["versions"] == ["1"]
    assert result["loaded_ok"] == [True, True] and result["verify"] == []
    assert result["orphans"] == [] and result["chunks"] == 16  # collected by open
    assert writer not in selenium.driver.window_handles


def test_two_pages_saving_one_model_at_once(selenium):
    home = selenium.driver.current_window_handle
    selenium.load_package(["webaccel"])
    assert selenium.run_async(SAVE_V1) == ["1", 16]
    pages = {}
    try:
        for version, seed in (("2", 2), ("3", 3)):  # both pages open the store, then wait
            pages[version] = new_page(selenium)
            start_save(selenium, version, seed=seed, gate_ns="chunks")
            wait_for(selenium, lambda s: s == "ready", "the store to open")
        for handle in pages.values():  # both saves start at once
            selenium.driver.switch_to.window(handle)
            selenium.run_js("globalThis.go()")
        # the first to take the store's lock writes until its gate; the other waits for the
        # lock and never reaches its own gate meanwhile (without the lock it would at once)
        states: dict[str, str] = {}
        deadline = time.monotonic() + 60
        while "at-gate" not in states.values() and time.monotonic() < deadline:
            for version, handle in pages.items():
                selenium.driver.switch_to.window(handle)
                states[version] = state(selenium)
        time.sleep(2.0)
        for version, handle in pages.items():
            selenium.driver.switch_to.window(handle)
            states[version] = state(selenium)
        assert sorted(states.values()) == ["at-gate", "saving"], states
        for handle in pages.values():
            selenium.driver.switch_to.window(handle)
            selenium.run_js("globalThis.openGate()")
        done = {}
        for version, handle in pages.items():
            selenium.driver.switch_to.window(handle)
            done[version] = wait_for_saved(selenium)
        assert done == {"2": "saved 2", "3": "saved 3"}
        first = next(v for v, s in states.items() if s == "at-gate")
    finally:
        for handle in pages.values():
            selenium.driver.switch_to.window(handle)
            selenium.driver.close()
        selenium.driver.switch_to.window(home)
    reload_home(selenium, home)
    result = selenium.run_async(CHECK)
    last = "3" if first == "2" else "2"  # the page that waited for the lock committed last
    assert result["versions"] == [last]  # exactly one version: whole, checksums fine
    assert result["loaded_ok"] == [True, True] and result["verify"] == []
    assert result["orphans"] == [] and result["chunks"] == 16
