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
	$(PY) -m aranya_perf.proto.generate

clean-venv:
	rm -rf $(VENV)
