# Targets a physicist runs. Each one creates .venv and installs the package on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NA64   := $(BIN)/na64
JOBS   ?= 2

.PHONY: all analysis samples test bench notebooks cluster clean venv

all: analysis

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,cluster]"
	touch $(STAMP)

venv: $(STAMP)

samples: $(STAMP)
	$(NA64) samples

analysis: samples
	$(NA64) analysis --out results/na64e

test: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) tests

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]" || echo "ROOT wheel unavailable: RDataFrame peer skipped"
	$(BIN)/python benchmarks/run_all.py

notebooks: samples
	$(BIN)/python -m pytest --nbmake notebooks

cluster: $(STAMP)
	$(BIN)/dask scheduler --port 8786 & sleep 3; $(BIN)/dask worker tcp://127.0.0.1:8786 --nworkers $(JOBS)

clean:
	rm -rf results .pytest_cache
