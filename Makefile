# Targets a physicist runs. Each one creates .venv and installs the package on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NA64   := $(BIN)/na64
JOBS   ?= 2

.PHONY: all analysis analysis-h analysis-mu samples test bench notebooks cluster clean venv physics

all: analysis

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,cluster]"
	touch $(STAMP)

venv: $(STAMP)

samples: $(STAMP)
	$(NA64) samples

# The main analysis, blind first (expected limits), then the box of the pseudo-data is
# opened on purpose (`na64 unblind`) and the limits are recomputed with the observed count.
analysis: samples
	$(NA64) analysis analyses/na64e_2023.yaml --out results/na64e
	$(NA64) unblind results/na64e

# NA64h (50 GeV pi-): Br(eta -> invisible) and Br(eta' -> invisible) on the built-in hadron
# sample, blind first, then the pseudo-data box is opened (docs/na64h.md).
analysis-h: samples
	$(NA64) analysis analyses/na64h_eta_2023.yaml --out results/na64h/eta
	$(NA64) unblind results/na64h/eta
	$(NA64) analysis analyses/na64h_eta_prime_2023.yaml --out results/na64h/eta-prime
	$(NA64) unblind results/na64h/eta-prime

# NA64mu (160 GeV mu, 2022): missing-momentum search for the Lmu-Ltau Z' (g_Z' vs m_Z' with
# the (g-2)_mu band) on the built-in muon sample, blind first, then the pseudo-data box is
# opened (docs/na64mu.md).
analysis-mu: samples
	$(NA64) analysis analyses/na64mu_2022.yaml --out results/na64mu
	$(NA64) unblind results/na64mu
	$(NA64) analysis analyses/na64mu_2022_dark_photon.yaml --out results/na64mu/dark-photon
	$(NA64) unblind results/na64mu/dark-photon
	$(NA64) analysis analyses/na64mu_2022_scalar.yaml --out results/na64mu/scalar
	$(NA64) unblind results/na64mu/scalar

# WW / IWW / ETL production cross sections vs mass, electrons and muons (figure + table)
physics: $(STAMP)
	$(NA64) xsec-compare --out results/physics

test: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) tests

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]" || echo "ROOT wheel unavailable: RDataFrame peer skipped"
	$(BIN)/python benchmarks/run_all.py

# the study notebooks (docs/notebooks.md); NA64_SCHEDULER=tcp://host:port processes on dask
notebooks: samples
	$(BIN)/python -m pytest --nbmake --nbmake-timeout=600 notebooks

# a local dask scheduler + $(JOBS) worker processes for notebooks and `na64 run --scheduler`;
# Ctrl-C stops both. Override the port with `make cluster PORT=8790`.
PORT ?= 8786
cluster: $(STAMP)
	@echo "dask scheduler: tcp://127.0.0.1:$(PORT)  (na64 run ... --scheduler tcp://127.0.0.1:$(PORT); Client('tcp://127.0.0.1:$(PORT)'))"
	@trap 'kill $$SCHED 2>/dev/null' EXIT INT TERM; \
	$(BIN)/dask scheduler --host 127.0.0.1 --port $(PORT) --dashboard-address :0 & SCHED=$$!; \
	sleep 3; $(BIN)/dask worker tcp://127.0.0.1:$(PORT) --nworkers $(JOBS) --nthreads 1

clean:
	rm -rf results .pytest_cache
