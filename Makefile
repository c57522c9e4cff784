# The commands of the README. Each installs what it needs first (idempotent, fast when done).
SHELL := /bin/sh
VENV := .venv/bin
export MIKOMI_TEST_PG_URL ?= postgresql+psycopg://postgres:postgres@127.0.0.1:5432/test
PYTEST_ARGS ?=

.PHONY: run test check bench install install-test e2e unit fmt

install:
	@deploy/install.sh

install-test:
	@deploy/install.sh --test

## make run: the whole system on this machine (coordinator, workers, Redis, demo sites and data)
run: install
	@exec env MIKOMI_DEMO=1 $(VENV)/mikomi up

## make test: every test, on SQLite and PostgreSQL, with real Redis, RQ workers and Chromium
test: install-test
	$(VENV)/pytest $(PYTEST_ARGS)

unit: install-test
	$(VENV)/pytest -m "not e2e" $(PYTEST_ARGS)

e2e: install-test
	$(VENV)/pytest -m e2e $(PYTEST_ARGS)

## make check: lint, format check, types, import contracts, no import cycle
check: install-test
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
	$(VENV)/mypy formfill shared
	$(VENV)/lint-imports
	$(VENV)/python deploy/check_import_cycles.py

fmt: install
	$(VENV)/ruff format .
	$(VENV)/ruff check --fix .

## make bench: the benchmarks (figures go to bench/results/, never into assertions)
bench: install-test
	@for b in bench/send_throughput.py bench/prospects.py bench/fleet.py; do \
		if [ -f $$b ]; then echo "== $$b"; $(VENV)/python $$b || exit 1; fi; done
