# Two entry points, each doing all set-up on a fresh machine (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/scalinglab: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(BIN)/scalinglab

demo: $(BIN)/scalinglab
	$(BIN)/scalinglab demo

test: $(BIN)/scalinglab
	command -v chromium >/dev/null || ((apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 || true)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

lint: $(BIN)/scalinglab
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
