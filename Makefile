# Everything a fresh machine needs, in three targets: `make setup`, `make up`, `make test`.
# `make setup` is idempotent: it does nothing when .venv is newer than pyproject.toml and this Makefile.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.scriptorium-setup
PYTEST_ARGS ?=

.PHONY: setup up test lint screenshots system-deps clean-data

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip wheel
	$(BIN)/pip install -q -e '.[test]'
	@# resemblyzer's metadata asks for the old `webrtcvad` (imports pkg_resources, gone from setuptools>=81);
	@# webrtcvad-wheels (a pyproject dependency) provides the same module, so take resemblyzer without deps.
	$(BIN)/pip install -q --no-deps resemblyzer==0.1.4
	$(BIN)/scriptorium models install
	@touch $(STAMP)

# Debian packages the tests use to make speech with known words (espeak-ng, sox). Installed only when missing.
system-deps:
	@if ! command -v espeak-ng >/dev/null || ! command -v sox >/dev/null || ! command -v chromium >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng sox chromium >/dev/null; \
	  else echo "please install espeak-ng, sox and chromium (sudo apt-get install espeak-ng sox chromium)"; exit 1; fi; fi

up: setup
	$(BIN)/scriptorium up

# Lint first (ruff, rules in pyproject.toml): a finding fails the run before the slow tests start.
test: setup system-deps
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .

# Refresh the README's screenshots in docs/screenshots from the browser tests.
screenshots: setup system-deps
	SCRIPTORIUM_SCREENSHOTS=1 $(BIN)/python -m pytest tests/browser $(PYTEST_ARGS)

clean-data:
	rm -rf scriptorium-data
