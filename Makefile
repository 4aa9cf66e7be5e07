# The two commands a newcomer needs: `make demo` and `make test` (both set up the lab first).
.PHONY: setup demo test lint format serve $(addprefix test-,host chromium headless-shell pyodide-0.27)

VENV := .venv/bin

setup:
	bash tools/setup.sh

demo: setup
	$(VENV)/webaccel doctor

test: setup lint
	$(VENV)/python tools/run_lanes.py

test-host test-chromium test-headless-shell test-pyodide-0.27: test-%: setup
	$(VENV)/python tools/run_lanes.py --lane $*

lint:
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .

format:
	$(VENV)/ruff format .
	$(VENV)/ruff check --fix .

serve: setup
	$(VENV)/webaccel serve
