# lstmae developer commands. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
# A CPU build of torch; override e.g. `make install TORCH_SPEC="torch==2.14.1"` for another build.
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
DEMO := demo_out

.PHONY: help install demo test test-slow lint format docs bench bench-threads bench-dask bench-memory bench-skab bench-synthetic check-torch clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

install: $(VENV)/.installed  ## create .venv and install lstmae with its dev tools (CPU torch)

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

check-torch:  ## show what installing torch would pull in (no nvidia-* packages expected)
	$(PY) -m pip install --dry-run --ignore-installed "$(TORCH_SPEC)" 2>&1 | grep -i "would install"

demo: install  ## train on sample_data/, score the test file, list what was flagged
	@mkdir -p $(DEMO)
	$(BIN)/lstmae train sample_data/machine_train.csv -o $(DEMO)/model.safetensors
	$(BIN)/lstmae score $(DEMO)/model.safetensors sample_data/machine_test.csv -o $(DEMO)/scores.csv
	$(BIN)/lstmae score $(DEMO)/model.safetensors sample_data/machine_test.csv --level event
	$(BIN)/lstmae evaluate $(DEMO)/model.safetensors sample_data/machine_test.csv --label-column anomaly

test: install  ## the default test suite (fast)
	$(PY) -m pytest -q

test-slow: install  ## the long checks (quality on SKAB, bigger data)
	$(PY) -m pytest -q -m slow

LINTED := lstmae_cli tests benchmarks sample_data scripts

lint: install  ## ruff check, ruff format --check and mypy on the package (seconds, cached)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

format: install  ## apply ruff's formatting and fixes
	$(BIN)/ruff check --fix $(LINTED)
	$(BIN)/ruff format $(LINTED)

docs:  ## rewrite the generated tables in docs/ from benchmarks/results/*.json
	$(PYTHON) scripts/make_docs.py

bench: install  ## speed, lstmae beside the tutorial loop (benchmarks/results/speed.json)
	$(PY) benchmarks/speed.py

bench-threads: install  ## thread settings on a quiet and a busy machine (benchmarks/results/threads.json)
	$(PY) benchmarks/threads.py

bench-dask: install  ## Dask scoring on 1 and 2 worker processes (benchmarks/results/dask.json)
	$(PY) benchmarks/dask_scale.py

bench-memory: install  ## peak memory of train and score on 2M rows
	$(PY) benchmarks/memory.py

bench-skab: install  ## SKAB detection quality (reads ../shared/data/skab)
	$(PY) benchmarks/skab.py

bench-synthetic: install  ## generated anomaly suite against baselines
	$(PY) benchmarks/synthetic.py

clean:  ## remove the demo output and caches
	rm -rf $(DEMO) .pytest_cache .ruff_cache .mypy_cache
