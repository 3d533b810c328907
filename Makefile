# Two commands for a fresh machine (see README): `make demo` and `make test`.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.av_perception-ready
SETUP_INPUTS := tools/setup_env.sh $(wildcard requirements/*.txt) \
	$(wildcard tools/interfaces/*/msg/*.msg)

.PHONY: env demo test test-unit test-ros test-system lint bench colcon-check clean

env: $(STAMP)

$(STAMP): $(SETUP_INPUTS)
	VENV=$(VENV) PYTHON=$(PYTHON) tools/setup_env.sh
	touch $(STAMP)

demo: env
	$(PY) -m av_perception.cli demo

test: env
	VENV=$(VENV) tools/run_tests.sh

test-unit: env
	$(PY) -m pytest test/unit -q

test-ros: env
	$(PY) -m pytest test/ros -q

test-system: env
	$(PY) -m pytest test/system -q

lint: env
	$(PY) -m pytest test/unit/test_code_style.py -q

colcon-check: env
	VENV=$(VENV) tools/colcon_check.sh

bench: env
	for script in benchmarks/bench_*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf build install log .pytest_cache out
