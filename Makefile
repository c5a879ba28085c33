# `make run` and `make test` work on a fresh machine: each sets up .venv first if needed, and
# again when pyproject.toml or constraints.txt change.
#
# constraints.txt pins every package the venv gets (`pip install -e '.[test]'`, direct and
# transitive, and pip itself) to the versions chathub is tested and measured with; pyproject.toml
# keeps only lower bounds. chathub/internals.py reads private parts of Twisted and Autobahn, so an
# upgrade goes through tests/test_internals.py. To refresh the pins, in a fresh venv:
#   python3 -m venv /tmp/pins && /tmp/pins/bin/pip install --upgrade pip && \
#   /tmp/pins/bin/pip install -e '.[test]' && \
#   { sed '/^[^#]/,$d' constraints.txt; /tmp/pins/bin/pip freeze --all --exclude-editable \
#     | grep -v -e '^setuptools==' -e '^wheel=='; } > constraints.new && mv constraints.new constraints.txt
# then `make clean test lint`, and rerun `chathub bench` before trusting README's figures.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: run test lint conformance clean

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/chathub $(ARGS)

test: $(BIN)/.installed
	$(BIN)/ruff check chathub tests
	$(BIN)/pytest $(PYTEST_ARGS)

# What CI runs first (.ci/run): ruff's lint and format check, and mypy --strict
# (settings in pyproject.toml's [tool.mypy], with the mypy-zope plugin).
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
