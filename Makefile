# Audiens - every command a developer or CI needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements-dev.txt layers/common/requirements.txt constraints.txt | sha1sum | cut -c1-12)
SAM_VENV := .venv-sam
STAGE ?= dev
export PYTHONPATH := layers/common:infra:.
export SAM_CLI_TELEMETRY := 0

.PHONY: help
help: ## List the commands
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(STAMP): requirements-dev.txt layers/common/requirements.txt constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	@rm -f $(VENV)/.installed-* && touch $@

.PHONY: venv
venv: $(STAMP) ## Create the virtualenv with the pinned dependencies

.PHONY: demo
demo: venv console ## Start the local runtime and run the whole story end to end, then stop
	$(BIN)/python -m demo

.PHONY: up
up: venv console ## Run the local runtime in the foreground (console and API on 127.0.0.1:3000, Ctrl-C stops)
	$(BIN)/python -m local_runtime

.PHONY: test
test: venv console ## Unit, functional, end-to-end and console tests (the local runtime is started for real)
	$(BIN)/python -m pytest tests/unit tests/functional -n 2 --dist loadfile -q
	$(BIN)/python -m pytest tests/e2e -n 2 --dist loadfile -q
	cd console && npm test && npm run e2e

# The web console: `npm ci` when the lockfile changed, a build when a source or the OpenAPI document did.
CONSOLE_SOURCES := $(shell find console/src console/test -type f 2>/dev/null) console/index.html console/vite.config.ts \
	console/tsconfig.json docs/openapi.json
console/node_modules/.package-lock.json: console/package-lock.json
	cd console && npm ci --no-audit --no-fund
console/dist/index.html: console/node_modules/.package-lock.json $(CONSOLE_SOURCES)
	cd console && npm run build

.PHONY: console
console: console/dist/index.html ## Build the web console when stale (types generated from docs/openapi.json)

.PHONY: test-unit
test-unit: venv ## Pure domain tests only (no network)
	$(BIN)/python -m pytest tests/unit -q

.PHONY: lint
lint: venv $(SAM_VENV)/.installed ## ruff, mypy --strict, cfn-lint and sam validate --lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check layers functions infra tests bench
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml
	AWS_DEFAULT_REGION=us-east-1 $(SAM_VENV)/bin/sam validate --lint --template template.yaml

$(SAM_VENV)/.installed:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet aws-sam-cli==1.170.0
	touch $@

.PHONY: format
format: venv ## Format the code with ruff
	$(BIN)/ruff format layers functions infra tests bench
	$(BIN)/ruff check --fix .

.PHONY: openapi
openapi: venv ## Regenerate docs/openapi.json from the code (a test fails when it is stale)
	$(BIN)/python infra/export_openapi.py

# The 1M-row usage file takes about an hour on moto: `make bench BENCH_USAGE_ROWS="100000 1000000"`.
BENCH_USAGE_ROWS ?= 100000

.PHONY: bench
bench: venv ## Run every benchmark and print its figures (BENCH_USAGE_ROWS sets the usage file sizes)
	@for b in bench/bench_*.py; do \
		echo; echo "=== $$b"; \
		if [ "$$b" = bench/bench_usage_ingest.py ]; then args="$(BENCH_USAGE_ROWS)"; else args=""; fi; \
		$(BIN)/python $$b $$args || exit 1; \
	done

.PHONY: deploy
deploy: $(SAM_VENV)/.installed ## Build and deploy to a real AWS account: make deploy STAGE=dev|staging|prod
	$(SAM_VENV)/bin/sam build --template template.yaml
	$(SAM_VENV)/bin/sam deploy --config-env $(STAGE)

.PHONY: clean
clean: ## Remove the virtualenvs and caches
	rm -rf $(VENV) $(SAM_VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .aws-sam
