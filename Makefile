# Two entry points on a fresh machine: `make run` (the main job) and `make test`.
# Both create .venv and install into it what they need when it is missing or stale: `run` the
# runtime set only, `test` the test extras on top. Versions come from constraints.txt (`make lock`).
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
ARGS ?=
PIP := $(PY) -m pip install -q --disable-pip-version-check -c constraints.txt

.PHONY: run test test-fast lint gen lock bench-quick bench-continuous clean-venv

$(PY):
	@echo "make: creating $(VENV) ($(PYTHON) -m venv)"
	@$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: pyproject.toml constraints.txt | $(PY)
	@echo "make: installing aranya-perf and its runtime dependencies into $(VENV) (constraints.txt)"
	@$(PIP) -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed-run
	@echo "make: installing the test extras into $(VENV) (pytest, ruff, mypy, Helm and chart checks, kubernetes, asv, Otava, pyarrow)"
	@$(PIP) -e '.[test]'
	@# The chart test validates against Kubernetes 1.19 too: kubernetes-validate dropped its schemas
	@# after 1.24.0, which needs pkg_resources, so that release lives apart with its own setuptools.
	@echo "make: installing kubernetes-validate 1.24.0 apart, into $(VENV)/kubernetes-validate-1.24"
	@$(PY) -m pip install -q --disable-pip-version-check --upgrade --no-warn-conflicts \
		--target $(VENV)/kubernetes-validate-1.24 kubernetes-validate==1.24.0 'setuptools<81'
	@touch $@

run: $(VENV)/.installed-run
	$(VENV)/bin/aranya-perf run $(ARGS)

# Each gate stops `make test` with one line naming it. pytest runs both halves at once on
# TEST_WORKERS xdist workers (most integration tests wait on fixed-length runs, so they overlap well
# even on 2 cores): a module's tests share a worker, and tests/conftest.py spreads the independent
# ones and starts the slowest first. Coverage counts every Python process the tests start
# ([tool.coverage.run] patch); scripts/coverage_gate.py prints it per package and holds the floor of
# loadtests/ and analysis/. --durations names the slowest tests each time.
# With ARGS (test paths or flags), one pytest run of just those, without coverage.
TEST_WORKERS ?= 4
test: $(VENV)/.installed-test
	@$(VENV)/bin/ruff check . || { echo "make test: FAILED ruff lint (make lint fixes most)"; exit 1; }
	@$(VENV)/bin/ruff format --check . || { echo "make test: FAILED ruff format (make lint formats)"; exit 1; }
	@$(VENV)/bin/mypy || { echo "make test: FAILED mypy ([tool.mypy] in pyproject.toml)"; exit 1; }
	@$(PY) scripts/check_links.py || { echo "make test: FAILED Markdown link check"; exit 1; }
ifeq ($(strip $(ARGS)),)
	@$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder --durations=25 \
		--cov --cov-report=term:skip-covered || { echo "make test: FAILED pytest (see above)"; exit 1; }
	@$(PY) scripts/coverage_gate.py \
		|| { echo "make test: FAILED the coverage floor ([tool.aranya-perf.coverage-gate])"; exit 1; }
else
	@$(PY) -m pytest -q $(ARGS) || { echo "make test: FAILED pytest (see above)"; exit 1; }
endif

# The unit half (tests/conftest.py marks each module unit or integration), without coverage; add
# ARGS="-n 4" to spread it over xdist workers.
test-fast: $(VENV)/.installed-test
	$(PY) -m pytest -q -m unit $(ARGS)

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

gen: $(VENV)/.installed-run
	$(PY) -m aranya_perf.protocol.generate

# asv benchmarks (docs/benchmarks.md). bench-quick runs every benchmark once in .venv against the
# working tree and saves no results; bench-continuous builds BENCH_BASE and HEAD (committed code only)
# into .asv/ and exits non-zero when a benchmark got slower by more than BENCH_FACTOR. Local runs
# use machine "local", whose results stay out of git (results/asv/.gitignore).
BENCH_MACHINE ?= local
BENCH_BASE ?= main
BENCH_FACTOR ?= 1.2

$(VENV)/.installed-bench: $(VENV)/.installed-run
	@echo "make: installing the bench extra (asv) into $(VENV)"
	@$(PIP) -e '.[bench]'
	@touch $@

bench-quick: $(VENV)/.installed-bench
	$(VENV)/bin/asv machine --machine $(BENCH_MACHINE) --yes
	$(VENV)/bin/asv run --quick --dry-run --show-stderr -E existing:$(PY) --machine $(BENCH_MACHINE) $(ARGS)

bench-continuous: $(VENV)/.installed-bench
	$(VENV)/bin/asv machine --machine $(BENCH_MACHINE) --yes
	$(VENV)/bin/asv continuous $(BENCH_BASE) HEAD --factor $(BENCH_FACTOR) --show-stderr --machine $(BENCH_MACHINE) $(ARGS)

# constraints.txt: every package of the runtime set and all extras, resolved afresh in a scratch
# venv from pyproject.toml's ranges. Run after changing a dependency, review the diff, commit both.
lock:
	scripts/lock.sh

clean-venv:
	rm -rf $(VENV)
