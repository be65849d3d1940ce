# chatstream: the README's two commands are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
SERVICES := $(PYTHON) deploy/local/services.py
PYTEST_ARGS ?=

.PHONY: install run test unit lint services services-stop services-status clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

## Start chatstream embedded (in-process log, SQLite, offline model): no servers needed.
run: install
	$(BIN)/chatstream up

## Start real Kafka, Cassandra and Weaviate (reusing running ones), then the whole suite.
test: install services lint
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

services:
	$(SERVICES) start

services-stop:
	$(SERVICES) stop

services-status:
	$(SERVICES) status

clean:
	rm -rf $(VENV) .chatstream .mypy_cache .ruff_cache .pytest_cache
