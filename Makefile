# Murmuration: `make demo` and `make test` are the two commands; everything else is optional.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install lint typecheck pytest stack-up stack-down bench clean

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

install: $(STAMP)

# `murmur demo` brings the stack up and migrates itself; DEMO_ARGS e.g. `--contacts 2000 --reset`
DEMO_ARGS ?=
demo: $(STAMP)
	$(BIN)/murmur demo $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# `make test` leaves out the tests marked `slow` so it stays under 15 minutes on 2 cores;
# `make test PYTEST_ARGS=` runs every test (that is what CI's .ci/run does).
PYTEST_ARGS ?= -m "not slow"

pytest: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

stack-up: $(STAMP)
	$(BIN)/murmur stack up

stack-down: $(STAMP)
	$(BIN)/murmur stack down

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	-$(BIN)/murmur stack down
	rm -rf .murmur dbt_project/target dbt_project/logs
