"""Build the WebAssembly embedded in ``js_glue/idb_glue.js`` from its text source.

``js_glue/xxh32x4.wat`` is compiled with wasmtime's ``wat2wasm`` (``tools/requirements-dev.txt``),
its custom sections (debug names) dropped, and the base64 of the module written into the
``const WASM_ROUNDS = "...";`` string of ``idb_glue.js``, 88 characters a line.

    python tools/build_wasm.py           # rewrite the string
    python tools/build_wasm.py --check   # exit 1 when the string is not this build
"""

from __future__ import annotations

import base64
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WAT = ROOT / "js_glue" / "xxh32x4.wat"
GLUE = ROOT / "js_glue" / "idb_glue.js"
STRING = re.compile(r'(  const WASM_ROUNDS =\n)((?:    "[A-Za-z0-9+/=]*"(?: \+|;)\n)+)')
WIDTH = 88


def _leb128(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def strip_custom_sections(module: bytes) -> bytes:
    """*module* without its custom sections (id 0: names, producers)."""
    out, pos = bytearray(module[:8]), 8  # magic and version
    while pos < len(module):
        start = pos
        section = module[pos]
        size, body = _leb128(module, pos + 1)
        pos = body + size
        if section != 0:
            out += module[start:pos]
    return bytes(out)


def build() -> bytes:
    import wasmtime

    return strip_custom_sections(bytes(wasmtime.wat2wasm(WAT.read_text())))


def embedded(glue: str) -> bytes:
    match = STRING.search(glue)
    if match is None:
        raise SystemExit(f'{GLUE}: no `const WASM_ROUNDS = "...";` string found')
    return base64.b64decode("".join(re.findall(r'"([^"]*)"', match.group(2))))


def as_js(module: bytes) -> str:
    text = base64.b64encode(module).decode()
    parts = [text[i : i + WIDTH] for i in range(0, len(text), WIDTH)]
    return " +\n".join(f'    "{p}"' for p in parts) + ";\n"


def main(argv: list[str]) -> int:
    module = build()
    glue = GLUE.read_text()
    if "--check" in argv:
        if embedded(glue) != module:
            print(f"{GLUE.name}: WASM_ROUNDS is not the build of {WAT.name}; run {__file__}")
            return 1
        print(f"{GLUE.name}: WASM_ROUNDS is the build of {WAT.name} ({len(module)} bytes)")
        return 0
    new = STRING.sub(lambda m: m.group(1) + as_js(module), glue, count=1)
    GLUE.write_text(new)
    print(f"wrote {len(module)} bytes of WebAssembly into {GLUE.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
