# idsync: two set-up commands, `make demo` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo cluster-demo cluster-demo-stop test test-fast lint format bench system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/idsync demo

# Two `idsync serve` on PostgreSQL and a Kafka-protocol broker, on this machine (docs/deployment.md).
cluster-demo: $(STAMP) system-deps
	PYTHON=$(abspath $(BIN)/python) scripts/cluster-demo.sh start

cluster-demo-stop:
	scripts/cluster-demo.sh stop

# System packages the tests need (PostgreSQL, Chromium); installed once, skipped when present.
system-deps:
	scripts/ensure-system-packages.sh

# Two workers (pytest-xdist), one test file per worker at a time: the session servers start per
# worker on their own ports; the spec check and the secret scan are merged by the controller.
test: $(STAMP) system-deps
	$(BIN)/pytest -n 2 --dist loadfile

test-fast: $(STAMP)
	$(BIN)/pytest -m "not slow and not browser"

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# make bench [ONLY=s1,s4] [USERS=N | USERS=s1=N,s4=M] [TIME_SCALE=X] [QUICK=1]: see docs/benchmarks.md.
BENCH_ARGS = $(if $(ONLY),--only $(ONLY)) $(if $(USERS),--users $(USERS)) \
	$(if $(TIME_SCALE),--time-scale $(TIME_SCALE)) $(if $(QUICK),--quick)

bench: $(STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache test-artifacts
