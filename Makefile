# Everything a fresh machine needs, in three targets: `make setup`, `make up`, `make test`.
# `make setup` is idempotent: it does nothing when .venv is newer than pyproject.toml and this Makefile.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.scriptorium-setup
PYTEST_ARGS ?=

.PHONY: setup up test lint screenshots system-deps clean-data translations

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

# The interface's catalogues (README, "Languages of the interface"): gather the strings from the code and templates,
# merge them into every language's .po (new ones come out empty, to translate), then compile the .mo files the app
# reads (committed, so a checkout or an image needs no build step; tests/webapp/test_i18n.py checks both).
translations:
	$(BIN)/pybabel extract -F babel.cfg -k lazy_gettext -k _l --add-location=file --sort-output \
	  --project=Scriptorium --copyright-holder=Scriptorium -o webapp/translations/messages.pot .
	$(BIN)/pybabel update -i webapp/translations/messages.pot -d webapp/translations --width=120 --no-fuzzy-matching
	$(BIN)/pybabel compile -d webapp/translations --statistics

clean-data:
	rm -rf scriptorium-data
