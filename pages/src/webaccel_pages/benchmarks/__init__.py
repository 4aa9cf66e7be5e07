"""The in-page halves of ``webaccel bench``: each runs inside Pyodide or on CPython.

``ops`` (matmul, conv2d, Python overhead per op; ``static_site/bench.html`` times TF.js beside
it on the same adapter), ``webnn`` (ops and a transformer block on WebNN vs WebGPU vs CPU, and
against plain-JS WebNN), ``store`` (model store MB/s, sharing), ``bert`` (all-MiniLM-L6-v2 vs
onnxruntime-web) and ``chart`` (its SVG). They use webaccel's API; the host drivers that open the
pages and shape their results are ``webaccel_lab.benchmarks``.
"""
