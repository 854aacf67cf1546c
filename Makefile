# Two entry points on a fresh machine: `make run` (the main job) and `make test`.
# Both create .venv and install the project into it when missing or stale.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
ARGS ?=

.PHONY: run test lint gen bench-quick bench-continuous clean-venv

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	# The chart test validates against Kubernetes 1.19 too: kubernetes-validate dropped its schemas
	# after 1.24.0, which needs pkg_resources, so that release lives apart with its own setuptools.
	$(PY) -m pip install -q --upgrade --no-warn-conflicts --target $(VENV)/kubernetes-validate-1.24 kubernetes-validate==1.24.0 'setuptools<81'
	touch $@

run: $(VENV)/.installed
	$(VENV)/bin/aranya-perf run $(ARGS)

test: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q $(ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

gen: $(VENV)/.installed
	$(PY) -m aranya_perf.protocol.generate

# asv benchmarks (docs/benchmarks.md). bench-quick runs every benchmark once in .venv against the
# working tree and saves no results; bench-continuous builds BENCH_BASE and HEAD (committed code only)
# into .asv/ and exits non-zero when a benchmark got slower by more than BENCH_FACTOR. Local runs
# use machine "local", whose results stay out of git (results/asv/.gitignore).
BENCH_MACHINE ?= local
BENCH_BASE ?= main
BENCH_FACTOR ?= 1.2

bench-quick: $(VENV)/.installed
	$(VENV)/bin/asv machine --machine $(BENCH_MACHINE) --yes
	$(VENV)/bin/asv run --quick --dry-run --show-stderr -E existing:$(PY) --machine $(BENCH_MACHINE) $(ARGS)

bench-continuous: $(VENV)/.installed
	$(VENV)/bin/asv machine --machine $(BENCH_MACHINE) --yes
	$(VENV)/bin/asv continuous $(BENCH_BASE) HEAD --factor $(BENCH_FACTOR) --show-stderr --machine $(BENCH_MACHINE) $(ARGS)

clean-venv:
	rm -rf $(VENV)
