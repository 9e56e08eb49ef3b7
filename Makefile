# One entry point for people and CI. Everything installs itself on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)

.PHONY: run up down infra tools test test-unit lint format contracts bench simulate clean

$(VENV)/.installed: requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	touch $@

deps: $(VENV)/.installed

run: deps ## whole system in the foreground; Ctrl-C stops all of it
	deploy/stack.sh run

up: deps ## whole system in the background
	deploy/stack.sh up

down:
	deploy/stack.sh down

infra: deps ## PostgreSQL + Kafka + topics only
	deploy/stack.sh infra

tools: deps ## helm, kubeconform, promtool and their schemas, into .cache (tests/deploy)
	deploy/tools.sh

test: deps infra tools ## the whole suite against real Kafka and PostgreSQL
	deploy/chromium.sh
	deploy/axe.sh
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: deps
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

lint: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy services contracts reference tools tests bench

format: deps
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

contracts: deps ## re-export JSON Schema / OpenAPI / AsyncAPI files
	$(PY) -m tools.contracts_export

bench: deps infra
	$(PY) -m bench.run

SIMULATE_ARGS ?= --scale 0.002 --days 91 --rate 3000
simulate: deps infra ## a province's year (a scaled slice) in accelerated time: SLA's reports vs the seed
	$(PY) -m bench.province_year $(SIMULATE_ARGS)

clean: down
	rm -rf .local
