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

.PHONY: run test setup lint typecheck unit unit-postgres bench clean ui web-deps web-test chromium wrk engines e2e

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,postgres,redis]'
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

# Debian's PostgreSQL and Redis servers for the team-deployment tests: the tests start their own throw-away
# instances on free ports in temp dirs (tests/engines.py), never the machine's default ones.
engines:
	@(ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && command -v redis-server >/dev/null) || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server)

run: setup ui
	$(BIN)/rubberduck serve --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

lint: setup web-deps
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	cd $(WEB) && npm run --silent format:check

typecheck: setup
	$(BIN)/mypy

# Tests wait on sockets far more than they compute: a few workers per core keep both cores busy.
PYTEST_WORKERS ?= 3

unit: setup wrk engines
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup --ignore=tests/e2e
	$(MAKE) --no-print-directory unit-postgres

# The integration modules that matter (proxies, cache, logs, accounts, isolation) once more, each server on
# Postgres and Redis as a node of a team deployment (tests/support.py starts throw-away engines).
unit-postgres: setup engines
	RUBBERDUCK_TEST_DATABASE=postgres RUBBERDUCK_TEST_REDIS=1 $(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) $$(cat tests/postgres_modules.txt)

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
