# Two commands matter: `make run` and `make test`. Both set up everything they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 9000
DATA_DIR ?= ./data

.PHONY: run test setup lint typecheck unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,postgres]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/rubberduck serve --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/python -m pytest -q

test: lint typecheck unit

bench: setup
	$(BIN)/python bench/cache_hit.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info
