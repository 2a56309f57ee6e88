# Two commands for a newcomer: `make run` (embedded exchange) and `make test` (the whole suite
# against a real Kafka broker and a real PostgreSQL, both started here if not already running).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-12)
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: install run test test-unit faults lint services services-stop bench clean browser

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

run: install
	$(BIN)/shuyuan run --host $(HOST) --port $(PORT)

services:
	deploy/services.sh start

# Debian's chromium for the browser tests (Playwright drives it; `playwright install` is never used).
browser:
	deploy/browser.sh

services-stop:
	deploy/services.sh stop

# The static checks: lint, formatting, the import arrows of DESIGN.md §3 ([tool.importlinter]) and
# types over every product package ([tool.mypy]). Any violation fails `make test`.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# Everything but the `nightly` faults (docs/reliability.md): those run with `make faults`.
test: lint services browser
	eval "$$(deploy/services.sh env)" && SHUYUAN_REQUIRE_SERVICES=1 $(BIN)/python -m pytest -m "not nightly"

# The whole fault suite (tests/faults) on a private broker and PostgreSQL of its own: ~4 minutes.
faults: install
	SHUYUAN_REQUIRE_SERVICES=1 $(BIN)/python -m pytest tests/faults -m faults

test-unit: install
	$(BIN)/python -m pytest -m "not integration and not e2e and not browser"

bench: install services
	eval "$$(deploy/services.sh env)" && $(BIN)/python bench/query_bench.py

clean:
	rm -rf var .pytest_cache tests/artifacts
