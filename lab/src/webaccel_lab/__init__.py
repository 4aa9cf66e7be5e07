"""webaccel's host tools: the test lanes and their headless browsers (``lab``), the wheels the
pages install (``wheels``), the local server (``serve``), ``doctor``, the drivers of ``embed``,
``bench`` and ``footprint``, and the ``webaccel`` command (``cli``; ``python -m webaccel_lab``).

Nothing here runs in a page: the runtime is the ``webaccel`` distribution, the pages' own Python
is ``webaccel-pages``.
"""

__version__ = "0.1.0"
