# Two entry points on a fresh machine: `make run` (the main job) and `make test`.
# Both create .venv and install into it what they need when it is missing or stale: `run` the
# runtime set only, `test` the test extras on top. Versions come from constraints.txt (`make lock`).
# The installer is uv (pinned in constraints.txt, bootstrapped into .venv by pip): pip took minutes
# for what uv installs in seconds. INSTALLER=pip, or a uv that pip cannot install, installs with pip.
# docs/troubleshooting.md: mirrors, proxies, no network.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
ARGS ?=
INSTALLER ?= uv
PIP_QUIET := -q --disable-pip-version-check
# $(call INSTALL,WHAT[,UV-ONLY]): WHAT (pip's arguments) at the versions of constraints.txt, with uv
# (and its options UV-ONLY) when .venv has it.
INSTALL = if [ "$(INSTALLER)" = uv ] && [ -x $(VENV)/bin/uv ]; then \
	$(VENV)/bin/uv pip install -q --python $(PY) -c constraints.txt $(2) $(1); \
	else $(PY) -m pip install $(PIP_QUIET) -c constraints.txt $(1); fi

.PHONY: run test test-fast chaos lint gen lock bench-quick bench-continuous clean-venv

# Without pip: ensurepip's pip and setuptools took twice the CPU of the way below.
$(PY):
	@echo "make: creating $(VENV) ($(PYTHON) -m venv --without-pip; pip comes with the installer)"
	@$(PYTHON) -m venv --without-pip $(VENV)

# The installer: uv at constraints.txt's version, put into .venv by $(PYTHON)'s own pip (`--python`),
# else by ensurepip's; then pip beside it (users' `pip install`, pip-audit), by uv when there is one.
# Stale with constraints.txt so that `make lock`'s newer uv replaces it. Not retried after a failure
# (each try would wait on the network): `make clean-venv` starts afresh.
$(VENV)/.installer: constraints.txt | $(PY)
	@if [ "$(INSTALLER)" != uv ]; then echo "make: INSTALLER=$(INSTALLER): installing with pip (minutes, not seconds)"; \
	else echo "make: installing the installer, uv $$(sed -n 's/^uv==//p' constraints.txt), into $(VENV) (pip)"; \
		$(PYTHON) -m pip --python $(PY) install $(PIP_QUIET) -c constraints.txt uv 2>/dev/null \
			|| { $(PY) -m ensurepip --default-pip >/dev/null && $(PY) -m pip install $(PIP_QUIET) -c constraints.txt uv; } \
			|| echo "make: uv could not be installed (above): installing with pip (minutes, not seconds)"; fi
	@if [ -x $(VENV)/bin/pip ]; then :; elif [ -x $(VENV)/bin/uv ]; then $(VENV)/bin/uv pip install -q --python $(PY) pip; \
	else $(PY) -m ensurepip --default-pip >/dev/null; fi
	@touch $@

$(VENV)/.installed-run: pyproject.toml constraints.txt $(VENV)/.installer
	@echo "make: installing aranya-perf and its runtime dependencies into $(VENV) (constraints.txt)"
	@$(call INSTALL,-e .)
	@touch $@

# uv leaves bytecode to the first import, which is what the first report wants; the tests start
# many interpreters, and where PYTHONDONTWRITEBYTECODE is set each would compile the imports
# afresh, so `test` compiles the whole .venv once (as pip does whatever it installs).
$(VENV)/.installed-test: $(VENV)/.installed-run
	@echo "make: installing the test extras into $(VENV) (pytest, ruff, mypy, Helm and chart checks, kubernetes, asv, Otava, pyarrow)"
	@$(call INSTALL,-e '.[test]',--compile-bytecode)
	@# The chart test validates against Kubernetes 1.19 too: kubernetes-validate dropped its schemas
	@# after 1.24.0, which needs pkg_resources, so that release lives apart with its own setuptools.
	@echo "make: installing kubernetes-validate 1.24.0 apart, into $(VENV)/kubernetes-validate-1.24"
	@if [ "$(INSTALLER)" = uv ] && [ -x $(VENV)/bin/uv ]; then $(VENV)/bin/uv pip install -q --python $(PY) \
		--compile-bytecode --target $(VENV)/kubernetes-validate-1.24 kubernetes-validate==1.24.0 'setuptools<81'; \
	else $(PY) -m pip install $(PIP_QUIET) --upgrade --no-warn-conflicts \
		--target $(VENV)/kubernetes-validate-1.24 kubernetes-validate==1.24.0 'setuptools<81'; fi
	@touch $@

run: $(VENV)/.installed-run
	$(VENV)/bin/aranya-perf run $(ARGS)

# Each gate stops `make test` with one line naming it. pytest runs the unit half, then the integration
# half, each on TEST_WORKERS xdist workers (most integration tests wait on fixed-length runs, so they
# overlap on 2 cores): a module's tests share a worker, and tests/conftest.py spreads the independent
# ones and starts the slowest first. Coverage is measured over the unit half: in-process (the load
# engine's thread included) and in the analysis verbs its tests start (tests/helpers.py run_cli);
# scripts/coverage_gate.py prints it per package and holds the floor of loadtests/ and analysis/.
# Tracing the integration half and every process it starts doubled a CLI run's CPU and broke the
# timing checks of the link tests, so it runs untraced. --durations names the slowest tests each time.
# With ARGS (test paths or flags), one pytest run of just those, without coverage.
TEST_WORKERS ?= 2
test: $(VENV)/.installed-test
	@$(VENV)/bin/ruff check . || { echo "make test: FAILED ruff lint (make lint fixes most)"; exit 1; }
	@$(VENV)/bin/ruff format --check . || { echo "make test: FAILED ruff format (make lint formats)"; exit 1; }
	@$(VENV)/bin/mypy || { echo "make test: FAILED mypy ([tool.mypy] in pyproject.toml)"; exit 1; }
	@$(PY) scripts/check_links.py || { echo "make test: FAILED Markdown link check"; exit 1; }
ifeq ($(strip $(ARGS)),)
	@$(PY) -m pytest -q -m unit -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder --durations=10 \
		--cov --cov-report=term:skip-covered || { echo "make test: FAILED pytest, unit half (see above)"; exit 1; }
	@$(PY) scripts/coverage_gate.py \
		|| { echo "make test: FAILED the coverage floor ([tool.aranya-perf.coverage-gate])"; exit 1; }
	@$(PY) -m pytest -q -m integration -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder --durations=25 \
		|| { echo "make test: FAILED pytest, integration half (see above)"; exit 1; }
else
	@$(PY) -m pytest -q $(ARGS) || { echo "make test: FAILED pytest (see above)"; exit 1; }
endif

# The unit half (tests/conftest.py marks each module unit or integration), without coverage; add
# ARGS="-n 4" to spread it over xdist workers.
test-fast: $(VENV)/.installed-test
	$(PY) -m pytest -q -m unit $(ARGS)

# The fault suite (docs/chaos.md): each fault a small real run against the embedded gateway, one table,
# exit 1 when a row is wrong. Two runs at a time, each starting alone; the runs stay under
# results/chaos-<UTC timestamp>/. ARGS adds flags (e.g. --faults sigterm-mid,streams-reset).
chaos: $(VENV)/.installed-run
	$(VENV)/bin/aranya-perf chaos --duration 15s --jobs 2 $(ARGS)

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
	@$(call INSTALL,-e '.[bench]')
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
