# Quick start: `make demo` and `make test` each create .venv and install first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test bench mutation clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[models,test,dask,plots]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/rlemask demo --out demo_out

test: $(STAMP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HF_HUB_OFFLINE=1 $(PY) -m pytest

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[models,test,dask,bench]'
	OMP_WAIT_POLICY=passive $(PY) benchmarks/startup.py
	OMP_WAIT_POLICY=passive $(PY) benchmarks/rle.py
	OMP_WAIT_POLICY=passive $(PY) benchmarks/coco.py
	OMP_WAIT_POLICY=passive $(PY) benchmarks/metrics.py
	OMP_WAIT_POLICY=passive $(PY) benchmarks/folds.py
	OMP_WAIT_POLICY=passive $(PY) benchmarks/dask_recipe.py
	OMP_WAIT_POLICY=passive HF_HUB_OFFLINE=1 $(PY) benchmarks/train.py
	OMP_WAIT_POLICY=passive HF_HUB_OFFLINE=1 $(PY) benchmarks/baselines.py --model
	OMP_WAIT_POLICY=passive HF_HUB_OFFLINE=1 $(PY) benchmarks/empty_slices.py

# Mutation testing of the core (slow, not part of `test`); e.g. MUTATION_ARGS="--module rle --per-module 40"
MUTATION_ARGS ?= --jobs 2
mutation: $(STAMP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HF_HUB_OFFLINE=1 $(PY) tests/mutation/run.py $(MUTATION_ARGS)

clean:
	rm -rf $(VENV) demo_out .pytest_cache .hypothesis
