# make dev: run the API locally on embedded defaults. make test: the static checks, then every test.
# make test-fast: the fast tier only (the inner loop). Each sets up .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
NAME ?= alice
# Stack tools (cfn-lint, checkov, aws-sam-translator) live in their own virtualenv: checkov pins a
# boto3 that conflicts with the app's development pin.
STACK_VENV := .venv-stack
AWS_REGION ?= $(or $(AWS_DEFAULT_REGION),us-east-1)
DEPLOY_ARGS ?=
# The API flavour: rest (API Gateway REST API, the default) or http (HTTP API + JWT authorizer); docs/DEPLOY.md.
API ?= rest
CHROMIUM := /usr/bin/chromium

.PHONY: dev test test-fast check token clean help package deploy bench dead-letters replay rebuild-stats

help:
	@echo "make dev    - serve the API and the console on http://$(HOST):$(PORT)/ (chalice local, SQLite, local issuer)"
	@echo "make test   - make check, then every test: the fast tier, then the slow one (DynamoDB Local, chalice local, Chromium, stack tools)"
	@echo "make test-fast - the fast tier only: no Java, no subprocess, no stack tools (tests/support/tiers.py)"
	@echo "make check  - ruff (lint and format) and mypy, as configured in pyproject.toml"
	@echo "make token NAME=alice - print a local development token (REFRESH=<token>: of that token's sign-in)"
	@echo "make dead-letters - list the kept dead letters (python -m chalicelib.ops; docs/OPERATIONS.md, the runbook)"
	@echo "make replay [IDS='id ...'] - replay those dead letters (default: all) into the activity queue"
	@echo "make rebuild-stats [SUBS='sub ...'] - rebuild those users' STATS from their items (default: all)"
	@echo "make bench  - benchmarks: cold start, warm overhead, DynamoDB requests, scale, size (docs/PERFORMANCE.md)"
	@echo "make package [API=rest|http] - dist/template.yaml (chalice package + cloudformation/) and dist/image"
	@echo "make deploy [API=rest|http] DEPLOY_ARGS='--region eu-west-1 (or --regions us-east-1,eu-west-1) [--dry-run] [Key=Value ...]' - scripts/deploy.sh"

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required ($(PYTHON))"; exit 1; }
	rm -rf $(VENV)  # a half-made virtualenv (interrupted install) is rebuilt, not patched
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

$(STACK_VENV)/.installed: requirements-stack.txt
	rm -rf $(STACK_VENV)
	$(PYTHON) -m venv $(STACK_VENV)
	$(STACK_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-stack.txt
	@touch $@

# The console's browser tests drive Debian's Chromium (tests/console): installed here when missing, never a
# browser build downloaded by a tool. Needs root (CI runs as root), as apt-get does.
$(CHROMIUM):
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium \
	|| { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; }

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The console is then at http://$(HOST):$(PORT)/; the offline assistant paces its words so its answer streams visibly.
dev: $(VENV)/.installed
	ASSISTANT_OFFLINE_DELAY_MS=$${ASSISTANT_OFFLINE_DELAY_MS:-30} $(VENV)/bin/chalice local --host $(HOST) --port $(PORT) --stage dev

token: $(VENV)/.installed
	@$(PY) -m chalicelib.auth.local_issuer $(NAME) $(if $(REFRESH),--refresh $(REFRESH))

# The operator's commands (docs/OPERATIONS.md), on the adapters the environment names: locally $(or $(DATA_DIR),.data);
# deployed, TABLE_NAME and ACTIVITY_QUEUE_URL (and AWS credentials) in the environment.
dead-letters: $(VENV)/.installed
	@$(PY) -m chalicelib.ops dead-letters list

replay: $(VENV)/.installed
	$(PY) -m chalicelib.ops dead-letters replay $(or $(IDS),--all)

rebuild-stats: $(VENV)/.installed
	$(PY) -m chalicelib.ops stats rebuild $(or $(SUBS),--all)

check: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m mypy

# The whole suite in two runs: the fast tier on its own first, exactly as make test-fast runs it (its guard
# then fails any test the tiers plugin should have called slow), then everything else.
test: check node_modules/.installed $(STACK_VENV)/.installed $(CHROMIUM)
	$(PY) -m pytest -m "not slow"
	$(PY) -m pytest -m slow

test-fast: $(VENV)/.installed
	$(PY) -m pytest -m "not slow"

# A few minutes on two cores; prints the table and the verdict lines (docs/PERFORMANCE.md).
bench: $(VENV)/.installed node_modules/.installed
	$(PY) -m bench.run

package: $(VENV)/.installed
	rm -rf out dist
	AWS_DEFAULT_REGION=$(AWS_REGION) $(VENV)/bin/chalice package --pkg-format cloudformation --template-format yaml --stage prod out
	$(PY) -m cloudformation.build out/sam.yaml -o dist --api $(API)
	$(PY) -m container.context dist/image

deploy: package
	scripts/deploy.sh --api $(API) $(DEPLOY_ARGS)

clean:
	rm -rf $(VENV) $(STACK_VENV) node_modules .pytest_cache .hypothesis .mypy_cache .ruff_cache out dist
