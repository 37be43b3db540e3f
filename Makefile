# Audiens - every command a developer or CI needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The Lambda runtime's Python (template.yaml: Runtime python3.12). Found on PATH, else under pyenv, so a fresh
# machine whose default python3 is another version still builds the same venv; `make PYTHON=/path/python3.12` wins.
PYTHON_VERSION := 3.12
comma := ,
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell for p in python$(PYTHON_VERSION) $$(pyenv root 2>/dev/null)/versions/$(PYTHON_VERSION).*/bin/python$(PYTHON_VERSION) \
	$${PYENV_ROOT:-$$HOME/.pyenv}/versions/$(PYTHON_VERSION).*/bin/python$(PYTHON_VERSION) /usr/local/bin/python$(PYTHON_VERSION); do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == ($(subst .,$(comma),$(PYTHON_VERSION)))' 2>/dev/null \
	&& { "$$p" -c 'import sys; print(sys.executable)'; break; }; done)
endif
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements-dev.txt layers/common/requirements.txt constraints.txt | sha1sum | cut -c1-12)-py$(PYTHON_VERSION)
SAM_VENV := .venv-sam
# aws-sam-cli and checkov each pin their own boto3/botocore, so each gets a venv apart from the application's.
SAM_CLI_VERSION := 1.170.0
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .venv-checkov
SAM_STAMP := $(SAM_VENV)/.installed-$(SAM_CLI_VERSION)-py$(PYTHON_VERSION)
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)-py$(PYTHON_VERSION)
STAGE ?= dev
export PYTHONPATH := layers/common:infra:.
export SAM_CLI_TELEMETRY := 0

.PHONY: help
help: ## List the commands (coloured on a terminal, plain when piped)
	@if [ -t 1 ]; then on='\033[36m'; off='\033[0m'; else on=''; off=''; fi; \
	grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
		awk -v on="$$on" -v off="$$off" 'BEGIN {FS = ":.*?## "}; {printf "  %s%-12s%s %s\n", on, $$1, off, $$2}'

$(STAMP): requirements-dev.txt layers/common/requirements.txt constraints.txt
	@test -n "$(PYTHON)" || { echo "Python $(PYTHON_VERSION) not found (PATH, pyenv): install it or pass PYTHON=..."; exit 1; }
	@$(BIN)/python -c 'import sys; assert sys.version_info[:2] == ($(subst .,$(comma),$(PYTHON_VERSION)))' 2>/dev/null \
		|| { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	@rm -f $(VENV)/.installed-* && touch $@

.PHONY: venv
venv: $(STAMP) ## Create the virtualenv with the pinned dependencies

.PHONY: demo
demo: venv console ## Start the local runtime and run the whole story end to end, then stop
	$(BIN)/python -m demo

.PHONY: up
up: venv console ## Run the local runtime in the foreground (console and API on 127.0.0.1:3000, state kept in .audiens/state, Ctrl-C stops)
	$(BIN)/python -m local_runtime

.PHONY: reset
reset: ## Clear the local runtime's kept state (accounts, files, queues, outbox): the next `make up` starts empty
	rm -rf .audiens/state
	@echo "The local runtime's state (.audiens/state) is cleared."

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

# The contract test in `make test` runs a few examples per operation; this runs many more.
FUZZ_EXAMPLES ?= 200

.PHONY: fuzz
fuzz: venv ## Fuzz the API deeper with Schemathesis against the local runtime (FUZZ_EXAMPLES per operation and pass)
	AUDIENS_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/e2e/test_api_contract.py -q -p no:cacheprovider --timeout 0

.PHONY: test-unit
test-unit: venv ## Pure domain tests only (no network)
	$(BIN)/python -m pytest tests/unit -q

.PHONY: lint
lint: venv $(SAM_STAMP) $(CHECKOV_STAMP) ## ruff (with the complexity gate), the layer contracts, mypy --strict, cfn-lint, checkov, sam validate
	$(BIN)/ruff check .
	$(BIN)/ruff format --check layers functions infra tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml  # offline: no guideline download
	AWS_DEFAULT_REGION=us-east-1 $(SAM_VENV)/bin/sam validate --lint --template template.yaml

$(SAM_STAMP):
	@test -n "$(PYTHON)" || { echo "Python $(PYTHON_VERSION) not found (PATH, pyenv): install it or pass PYTHON=..."; exit 1; }
	rm -rf $(SAM_VENV) && $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet aws-sam-cli==$(SAM_CLI_VERSION)
	touch $@

$(CHECKOV_STAMP):
	@test -n "$(PYTHON)" || { echo "Python $(PYTHON_VERSION) not found (PATH, pyenv): install it or pass PYTHON=..."; exit 1; }
	rm -rf $(CHECKOV_VENV) && $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $@

# sam build needs the runtime's interpreter (python3.12) on PATH; it installs the layer's lock from PyPI as
# manylinux wheels for arm64 (no Docker, no AWS account), then infra/check_build.py holds the result to
# Lambda's limits: unzipped size, native code for the declared architecture, glibc and CPython ABI.
.PHONY: build
build: venv $(SAM_STAMP) ## sam build (offline) and check the built layer against Lambda's limits
	PATH="$(dir $(PYTHON)):$$PATH" $(SAM_VENV)/bin/sam build --template template.yaml
	$(BIN)/python infra/check_build.py

.PHONY: format
format: venv ## Format the code with ruff
	$(BIN)/ruff format layers functions infra tests bench
	$(BIN)/ruff check --fix .

.PHONY: openapi
openapi: venv ## Regenerate docs/openapi.json from the code (a test fails when it is stale)
	$(BIN)/python infra/export_openapi.py

# The 1M-row usage file takes about an hour on moto: `make bench BENCH_USAGE_ROWS="100000 1000000"`.
BENCH_USAGE_ROWS ?= 100000
# The memory soak's full run is an hour: `make bench BENCH_SOAK_MINUTES=60` (or bench/bench_soak.py alone).
BENCH_SOAK_MINUTES ?= 10

.PHONY: bench
bench: venv ## Run every benchmark and print its figures (BENCH_USAGE_ROWS sets the usage file sizes)
	@for b in bench/bench_*.py; do \
		echo; echo "=== $$b"; \
		case "$$b" in \
			bench/bench_usage_ingest.py) args="$(BENCH_USAGE_ROWS)" ;; \
			bench/bench_soak.py) args="--minutes $(BENCH_SOAK_MINUTES)" ;; \
			*) args="" ;; \
		esac; \
		$(BIN)/python $$b $$args || exit 1; \
	done

# samconfig.toml holds every parameter of a stage but the operator key's hash, which is given here (README:
# Deploying); the command line's --parameter-overrides replaces the file's, so both are passed together.
STAGE_PARAMETERS = $$($(BIN)/python -c 'import sys, tomllib; print(tomllib.load(open("samconfig.toml", "rb"))[sys.argv[1]]["deploy"]["parameters"]["parameter_overrides"])' $(STAGE))

.PHONY: deploy
deploy: build ## Deploy to AWS: make deploy STAGE=dev|staging|prod OPERATOR_KEY_HASH=<sha256 hex> (README: Deploying)
	@test -n "$(OPERATOR_KEY_HASH)" || { echo "OPERATOR_KEY_HASH=<sha256 hex of the stage's operator key> is required"; exit 1; }
	$(SAM_VENV)/bin/sam deploy --config-env $(STAGE) --parameter-overrides $(STAGE_PARAMETERS) OperatorKeyHash=$(OPERATOR_KEY_HASH)

.PHONY: smoke
smoke: venv ## Self-cleaning story against a deployment: make smoke URL=https://... OPERATOR_KEY=...
	@test -n "$(URL)" -a -n "$(OPERATOR_KEY)" || { echo "usage: make smoke URL=<ApiUrl output> OPERATOR_KEY=<operator key>"; exit 1; }
	$(BIN)/python infra/smoke.py --url "$(URL)" --operator-key "$(OPERATOR_KEY)"

.PHONY: clean
clean: ## Remove the virtualenvs and caches
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .aws-sam
