"""``webaccel serve``: the static pages, a local Pyodide and the freshly built wheels on 127.0.0.1.

Routes: ``/`` is ``static_site/``; ``/pyodide/<version>/`` the lab's Pyodide distributions;
``/wheels/`` the built wheels (the runtime's and the pages'); ``/peers/`` the lab's peer
libraries (TF.js, ONNX Runtime Web, for the benchmark pages); ``/models/<name>/`` the lab's model
files (all-MiniLM-L6-v2: safetensors, tokenizer, configs, and its ONNX export for the peers);
``/webaccel-config.json`` tells the page where they are.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

from . import lab, wheels

MIME_TYPES = {
    ".wasm": "application/wasm",
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".json": "application/json",
    ".whl": "application/zip",
    ".zip": "application/zip",
    ".wgsl": "text/plain",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".safetensors": "application/octet-stream",
    ".onnx": "application/octet-stream",
    ".txt": "text/plain; charset=utf-8",
}


class _Handler(SimpleHTTPRequestHandler):
    extensions_map: ClassVar[dict[str, str]] = {
        **SimpleHTTPRequestHandler.extensions_map,
        **MIME_TYPES,
    }

    def __init__(
        self,
        *args: Any,
        site: Path,
        wheel: Path,
        pages_wheel: Path,
        pyodide_source: str,
        pyodide_version: str,
        **kwargs: Any,
    ) -> None:
        self.site, self.wheel, self.pages_wheel = site, wheel, pages_wheel
        self.pyodide_source, self.pyodide_version = pyodide_source, pyodide_version
        super().__init__(*args, directory=str(site), **kwargs)

    def do_GET(self) -> None:
        if urlsplit(self.path).path == "/webaccel-config.json":
            body = json.dumps(
                {
                    "pyodide_source": self.pyodide_source,
                    "pyodide_version": self.pyodide_version,
                    "wheel": f"wheels/{self.wheel.name}",
                    "pages_wheel": f"wheels/{self.pages_wheel.name}",
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def translate_path(self, path: str) -> str:
        parts = [p for p in unquote(urlsplit(path).path).split("/") if p and p not in (".", "..")]
        if len(parts) >= 2 and parts[0] == "pyodide":
            return str(lab.pyodide_dist(parts[1]).joinpath(*parts[2:]))
        if parts and parts[0] == "peers":  # peer libraries for the benchmark page (build_lab)
            return str(lab.lab_dir().joinpath("peers", *parts[1:]))
        if parts and parts[0] == "models":  # model files (build_lab's build_models)
            return str(lab.lab_dir().joinpath("models", *parts[1:]))
        if len(parts) == 2 and parts[0] == "wheels":
            for wheel in (self.wheel, self.pages_wheel):
                if parts[1] == wheel.name:
                    return str(wheel)
        return super().translate_path(path)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read stdout
        pass


def make_server(
    port: int = 0,
    *,
    pyodide_source: str = "local",
    pyodide_version: str = lab.PYODIDE_VERSIONS[0],
    wheel: Path | None = None,
    pages_wheel: Path | None = None,
) -> ThreadingHTTPServer:
    """A server bound to 127.0.0.1:*port* (0 picks a free port); the runtime's and the pages'
    wheels are built from the checkout unless given."""
    if pyodide_source not in ("local", "cdn"):
        raise ValueError(f"pyodide source must be 'local' or 'cdn', not {pyodide_source!r}")
    site = lab.repo_root() / "static_site"
    wheel = wheel or wheels.build_wheel(project=wheels.RUNTIME)
    pages_wheel = pages_wheel or wheels.build_wheel(project=wheels.PAGES)
    handler = functools.partial(
        _Handler,
        site=site,
        wheel=wheel,
        pages_wheel=pages_wheel,
        pyodide_source=pyodide_source,
        pyodide_version=pyodide_version,
    )
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    return server


@contextlib.contextmanager
def serving(**kwargs: Any) -> Iterator[str]:
    """Serve in a background thread; yields the base URL."""
    server = make_server(**kwargs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
