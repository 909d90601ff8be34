# ShopFeed. `make run` serves the whole product on embedded defaults; `make test` tests it.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# Test processes: most slow tests wait on other processes (workers, browsers, servers), so two
# overlap well on two cores. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
# honcho hands each process its own PORT; the web port travels as WEB_PORT.
WEB_PORT := $(PORT)
export WEB_PORT

.PHONY: run test lint typecheck format bench venv migrate seed clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(BIN)/.installed

migrate: venv
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py seed_gifts
	$(BIN)/python manage.py seed_feed_demo
	$(BIN)/python manage.py seed_live_demo
	$(BIN)/python manage.py seed_coin_packs

# Web (ASGI: HTTP + WebSocket), a real Celery worker and beat, and localstripe, under honcho.
# Ctrl-C reaches make, this shell and honcho; honcho stops the processes (SIGTERM, then SIGKILL
# after 5 s, so each one in Procfile.dev stops sooner) and exits 130: a normal stop, not an
# error. The trap keeps this shell alive to say so.
run: seed
	@echo ""
	@echo "  ShopFeed is starting on http://127.0.0.1:$(PORT)/  (Ctrl-C stops everything)"
	@echo ""
	@trap : INT; PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/honcho -f Procfile.dev start || [ $$? -eq 130 ]

# --durations: CI's log records the 25 slowest tests. worksteal: a worker that runs out takes
# half of the other's queue, so neither idles while the other still has tests (conftest.py
# puts the ones that start processes first; `-n 0` ignores --dist).
test: venv
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal --durations=25 $(PYTEST_ARGS)

# ruff, mypy (services and selectors, django-stubs), and import directions (import-linter,
# contracts in pyproject.toml).
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(MAKE) --no-print-directory typecheck

typecheck: venv
	$(BIN)/mypy

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: venv
	$(BIN)/python -m bench
	$(BIN)/python -m bench.transcode

clean:
	rm -rf $(VENV) var staticfiles
