# make run · make test · make bench · make lint — each sets up .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PLUGINS := plugins/local_executor plugins/celery_executor plugins/k8s_executor
PYTEST_ARGS ?=

.PHONY: setup run test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml $(addsuffix /pyproject.toml,$(PLUGINS))
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "slipstream needs Python 3.11 or newer ($(PYTHON) is older)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]' $(addprefix -e ,$(PLUGINS))
	@touch $(STAMP)

run: setup
	$(VENV)/bin/slipstream standalone

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: setup
	$(PY) benchmarks/run.py --store sqlite
	$(PY) benchmarks/run.py --store postgresql
	$(PY) benchmarks/run.py chain_100 fanout_1000 --executor sequential
	$(PY) benchmarks/run.py transfer_100k transfer_1m

clean:
	rm -rf $(VENV)
