# Each target sets up its own virtual environment in .venv on first use, with exactly the
# versions in requirements.lock (hashes checked). `make lock` refreshes the lock; `make
# test-latest` runs the suite on the newest versions pyproject.toml allows, in .venv-latest.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock
EXTRAS := dev,bench,sim,dask
ARGS   ?=
# The suite runs on every core (one worker per core, each test file on one worker, so a
# file's shared fixtures start once); `make test JOBS=0` runs it in this process.
JOBS   ?= logical
PYTEST := -m pytest -n $(JOBS) --dist loadfile

.PHONY: demo test test-latest lint bench soak sim clean schemas lock

# The venv is made anew whenever the lock or pyproject.toml changes, so nothing from an
# earlier install lingers beside the locked versions.
$(STAMP): $(LOCK) pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=python3 ...'"; exit 2; }
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install -qq --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# Two locks from one resolution's inputs: everything for development (requirements.lock), and
# what the container images install (requirements-image.lock: the runtime dependencies and the
# build backend). Both carry hashes and hold for every platform, on Python 3.11 and later.
UV_COMPILE := $(BIN)/uv pip compile pyproject.toml - --universal --python-version 3.11 \
	  --generate-hashes --quiet --custom-compile-command 'make lock'
lock: $(STAMP)
	printf 'setuptools>=77\n' | $(UV_COMPILE) --extra dev --extra bench --extra sim --extra dask -o $(LOCK)
	printf 'setuptools>=77\n' | $(UV_COMPILE) -o requirements-image.lock
	@echo "refreshed $(LOCK) and requirements-image.lock; run make test, then commit them with pyproject.toml"

test-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install -qq --upgrade pip
	.venv-latest/bin/python -m pip install -qq --upgrade --upgrade-strategy eager 'setuptools>=77' -e '.[$(EXTRAS)]'
	.venv-latest/bin/python -m pip freeze --exclude-editable > .venv-latest/versions.txt
	@echo "newest allowed versions: .venv-latest/versions.txt"
	.venv-latest/bin/python $(PYTEST) $(ARGS)

demo: $(STAMP)
	$(BIN)/python demo/run_demo.py

test: $(STAMP)
	$(BIN)/python $(PYTEST) $(ARGS)

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
	rm -rf $(VENV) .venv-latest .mypy_cache .ruff_cache bench-results.json bench-results.png
