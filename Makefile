# `make run` and `make test` work on a fresh machine: each sets up .venv first if needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: run test lint conformance clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/chathub $(ARGS)

test: $(BIN)/.installed
	$(BIN)/ruff check chathub tests
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check chathub tests
	$(BIN)/ruff format --check chathub tests
	$(BIN)/mypy

# WebSocket conformance (Autobahn|Testsuite, on pyenv's Python 2.7) against /ws's options;
# 5 to 12 minutes on 2 cores, depending on load. See scripts/conformance.
conformance: $(BIN)/.installed
	PYTHON=$(BIN)/python scripts/conformance

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
