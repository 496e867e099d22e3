# Each target sets up its own virtual environment in .venv on first use.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: demo test lint bench soak sim clean schemas

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=python3 ...'"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --upgrade pip
	$(BIN)/python -m pip install -qq -e '.[dev,bench,sim]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python demo/run_demo.py

test: $(STAMP)
	$(BIN)/python -m pytest $(ARGS)

soak: $(STAMP)
	$(BIN)/python -m pytest -m 'soak' $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/run_bench.py $(ARGS)

sim: $(STAMP)
	$(BIN)/intentcast-sim $(if $(ARGS),$(ARGS),run adversarial)

schemas: $(STAMP)
	$(BIN)/python tools/export_contract.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache bench-results.json bench-results.png
