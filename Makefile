# Two commands matter: `make run` and `make test`. Both set up everything they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 9000
DATA_DIR ?= ./data
# The web UI (web/) is built into the package, which serves it at `/`.
WEB := web
NODE_STAMP := $(WEB)/node_modules/.installed
UI_INDEX := src/rubberduck/static/index.html
UI_SOURCES = $(shell find $(WEB)/src $(WEB)/public -type f 2>/dev/null) \
	$(WEB)/index.html $(WEB)/vite.config.ts $(WEB)/tsconfig.json $(WEB)/package-lock.json
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test setup lint typecheck unit bench clean ui web-deps web-test chromium wrk e2e

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,postgres]'
	touch $(STAMP)

setup: $(STAMP)

$(NODE_STAMP): $(WEB)/package.json $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

web-deps: $(NODE_STAMP)

# The UI's API types are regenerated from the code's OpenAPI schema first (the file changes only when
# the API did), so the TypeScript build checks the UI against the API as it is.
ui: setup web-deps
	cd $(WEB) && PYTHON=$(CURDIR)/$(BIN)/python npm run --silent gen:api
	$(MAKE) --no-print-directory $(UI_INDEX)

$(UI_INDEX): $(UI_SOURCES)
	cd $(WEB) && npm run --silent build

# Debian's chromium for the browser tests (Playwright never downloads a browser of its own).
chromium:
	@test -x $(CHROMIUM) || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

# Debian's wrk drives bench/cache_hit.py; the suite smoke-runs every bench (tests/integration/test_benches.py).
wrk:
	@command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)

run: setup ui
	$(BIN)/rubberduck serve --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

lint: setup web-deps
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	cd $(WEB) && npm run --silent format:check

typecheck: setup
	$(BIN)/mypy

unit: setup wrk
	$(BIN)/python -m pytest -q --ignore=tests/e2e

web-test: ui
	cd $(WEB) && npm test

# A real server, a fake upstream and Debian's chromium; screenshots land in test-output/e2e/.
e2e: ui chromium
	$(BIN)/python -m pytest -q tests/e2e

test: lint typecheck unit web-test e2e

bench: setup wrk
	$(BIN)/python bench/cache_hit.py
	$(BIN)/python bench/logs_query.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info $(WEB)/node_modules src/rubberduck/static test-output
