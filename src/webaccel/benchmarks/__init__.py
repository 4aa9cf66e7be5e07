"""Benchmarks: ``ops`` (matmul, conv2d, Python overhead per op) runs inside Pyodide or on CPython.

``webaccel bench ops`` (``runner``) serves ``static_site/bench.html``, which times TF.js's WebGPU
backend and calls ``await webaccel.benchmarks.ops.run_async(config)`` on the same adapter in the
same page. ``ops`` uses only webaccel's public API; ``runner`` is host-only.
"""
