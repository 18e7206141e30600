# credit-hub — the two commands are `make demo` and `make test` (both call `make up`).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up down demo test test-unit test-reliability lint bench venv status clean-local cluster-up cluster-down

venv: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found (Python 3.11 is required)" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install -q --upgrade pip >/dev/null
	@$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

up: venv
	@bash deploy/local/up.sh

down:
	@bash deploy/local/down.sh

status: up
	@$(BIN)/hub status

lint: venv
	$(BIN)/ruff check hub producers consumers tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy hub

test-unit: venv
	$(BIN)/pytest -m unit -q

test: up lint
	$(BIN)/pytest -m "not reliability" -q

test-reliability: up
	$(BIN)/pytest -m reliability -q

demo: up
	$(BIN)/python -m hub.demo

bench: up
	$(BIN)/python -m bench.run

clean-local: down
	rm -rf .local

# A 3-broker KRaft cluster on this machine (fault-injection tests, benchmarks).
cluster-up: up
	@bash deploy/cluster/cluster.sh start

cluster-down:
	@bash deploy/cluster/cluster.sh stop
