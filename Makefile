# The two commands a newcomer needs: `make demo` and `make test` (both set up the lab first).
.PHONY: setup demo doctor footprint test lint format serve $(addprefix test-,host chromium headless-shell pyodide-0.27 node-lavapipe)

VENV := .venv/bin

setup:
	bash tools/setup.sh

# The main job: all-MiniLM-L6-v2 sentence embeddings on WebNN and WebGPU (headless browser) and
# the CPU (host), with each backend's first values, similarity matrix and timings.
demo: setup
	$(VENV)/webaccel embed "A man is eating food." "A man is eating a piece of bread." \
		"The girl is carrying a baby." "A man is riding a horse."

doctor: setup
	$(VENV)/webaccel doctor

# The runtime wheel's size and the cold `import webaccel` time in the headless shell's Pyodide.
footprint: setup
	$(VENV)/webaccel footprint

test: setup lint
	$(VENV)/python tools/run_lanes.py

test-host test-chromium test-headless-shell test-pyodide-0.27 test-node-lavapipe: test-%: setup
	$(VENV)/python tools/run_lanes.py --lane $*

# ruff, then the import contracts of pyproject.toml's [tool.importlinter] (the runtime's layers,
# no cycles, one Pyodide boundary, no lab code in the runtime).
lint:
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
	$(VENV)/lint-imports

format:
	$(VENV)/ruff format .
	$(VENV)/ruff check --fix .

serve: setup
	$(VENV)/webaccel serve
