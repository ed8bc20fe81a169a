# rag-migration-harness — one entry point for people and CI.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# make test runs the suite on pytest-xdist workers, one more than the cores (at most 4: the end-to-end tests
# mostly wait on real time, and a spare worker uses the core they leave), each test file on one worker
# (module fixtures build their stores once); TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= $(shell $(PY) -c 'import os; print(min((os.cpu_count() or 1) + 1, 4))')

.PHONY: install test test-lowest check demo bench mutation planted clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): pyproject.toml Makefile | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,test,docker]"
	touch $(STAMP)

install: $(STAMP)

## make test: create .venv if missing, install the package with its dev, test and docker extras, run the suite
test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --maxprocesses=4 --dist loadfile $(PYTEST_ARGS)

## make test-lowest: the suite against the lowest direct versions pyproject.toml allows (in .venv-lowest)
test-lowest: $(STAMP)
	.ci/lowest-direct $(PYTEST_ARGS)

## make check: ruff check, ruff format --check, mypy harness
check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy harness

## make demo: the main job on the embedded default, ending with the paths of its reports
demo: $(STAMP)
	$(BIN)/ragmig demo --out-dir reports

## make bench: the benchmark table (ratios against their limits)
bench: $(STAMP)
	$(BIN)/ragmig bench --json reports/bench.json

MUTATION_STAMP := $(VENV)/.mutation-installed
MODULES ?=
MUTATION_ARGS ?=

$(MUTATION_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,test,docker,mutation]"
	touch $(MUTATION_STAMP)

## make mutation: mutmut over the judging modules of tests/mutation/config.toml (MODULES="a.py b.py" for some;
## MUTATION_ARGS="--survivors --keep" to re-test survivors only after editing tests); writes reports/mutation/REPORT.md. Not in CI.
mutation: $(MUTATION_STAMP)
	$(BIN)/python -m tests.mutation.run $(MODULES) $(MUTATION_ARGS)

## make planted: the bugs of issue 16 planted one at a time (tests/mutation/planted/index.toml), each in a
## temporary copy, against the tests that must catch it (NAMES="a b" for some; PLANTED_ARGS="--each"). Not in CI.
NAMES ?=
PLANTED_ARGS ?=
planted: $(STAMP)
	$(BIN)/python -m tests.mutation.planted $(NAMES) $(PLANTED_ARGS)

clean:
	rm -rf $(VENV) .venv-lowest build *.egg-info .mypy_cache .ruff_cache
