"""``webaccel bench``, host side: open a benchmark page in a lane's headless browser, wait for
its result and shape it (``runner``: ops, ops on WebNN, bert; ``store_runner``: the model store).
The in-page halves are ``webaccel_pages.benchmarks``."""
