# The two commands (README): `make run` sets up and runs the pipeline on the default config,
# `make test` sets up and runs the test suite (`make docs` builds the documentation in docs/).
# Each builds an isolated virtual environment in .venv first (only once; it is rebuilt when
# pyproject.toml changes).
#
#   make run   CONFIG=config/paper.yaml CORES=8      # another config / more cores
#   make run   TORCH_SPEC="torch==2.13.0" TORCH_INDEX=https://download.pytorch.org/whl/cu126   # CUDA build
#   make test  PYTEST_WORKERS=0 PYTEST_ARGS="-m 'not slow'"   # serial, quick tests only

PYTHON     ?= python3
VENV       ?= .venv
CONFIG     ?= config/config.yaml
CORES      ?= all
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
PYTEST_ARGS ?=
PYTEST_WORKERS ?= auto

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint docs report setup clean-venv

# Bytecode is cached in .venv/pycache for the modules actually imported (Python writes it on first
# import), so no install step compiles all of torch: PYTHONDONTWRITEBYTECODE, when the machine sets
# it, would otherwise make every job recompile torch (22 s per import here, 10 s with bytecode).
unexport PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX := $(abspath $(VENV))/pycache

# torch comes through pip (it honours the machine's pip configuration and TORCH_INDEX), uv installs
# the rest (in parallel; pip took 9 min here, this recipe about 4, benchmarks/README.md), and one
# import of the pipeline's heavy libraries writes their bytecode before any job starts.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-compile uv
	$(BIN)/python -m pip install --quiet --no-compile "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e ".[test,docs]"
	$(BIN)/python -c "import torch, sbi.inference, zuko, emcee, h5py, scipy.stats, matplotlib.pyplot, snakemake.api"
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" snakemake --workflow-profile workflow/profiles/local --configfile $(CONFIG) --cores $(CORES)
	PATH="$(abspath $(BIN)):$$PATH" snakemake --workflow-profile workflow/profiles/local --configfile $(CONFIG) --report results/report.html

# Lint first (ruff, snakefmt; `snakemake --lint` is a test), then the test suite on one pytest-xdist
# worker per core, whole files per worker in collection order (tests/conftest.py starts the long ones).
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/snakefmt --check Snakefile workflow/rules

test: lint
	PATH="$(abspath $(BIN)):$$PATH" python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest: no tests collected"; status=0; fi; exit $$status

# Warnings are errors (-W); --keep-going lists all of them before failing. Open docs/_build/html/index.html.
docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

clean-venv:
	rm -rf $(VENV)
