"""The Python of webaccel's static pages, run inside Pyodide (or on CPython by the host tools).

``embed``: the sentence-similarity demo (``static_site/embed.html``, ``webaccel embed``);
``benchmarks``: the in-page halves of ``webaccel bench`` (ops, webnn, store, bert) and the chart;
``sources``: the model files as lazy URL fetches. The pages install this wheel beside webaccel's
with micropip; the host halves (browser drivers, tables) are in webaccel-lab.
"""

__version__ = "0.1.0"
