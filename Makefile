# The two commands a user needs: `make book` and `make test`. Both set up a local
# virtual environment on first use (.venv, CPU torch 2.13.0, this package editable).

PYTHON  ?= python3
VENV    ?= .venv
PROFILE ?= mini
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.xsd-installed

.PHONY: book test test-fast golden results lab clean clean-all help

help:
	@echo "make book       run every study on PROFILE (default: mini) and build the book"
	@echo "make test       the whole test suite: pytest (fast and slow) + nbval on the golden notebooks"
	@echo "make test-fast  the fast tests only"
	@echo "make golden     re-execute the golden notebooks (smoke profile) that nbval checks"
	@echo "make results    run every study without building the book"
	@echo "make lab        open JupyterLab on notebooks/ (installs jupyterlab on first use)"
	@echo "make clean      remove the built book and executed notebooks (keeps caches and models)"
	@echo "make clean-all  also remove caches, worlds, models and the virtual environment"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

book: $(STAMP)
	$(BIN)/xsd book --profile $(PROFILE)

results: $(STAMP)
	$(BIN)/xsd book --profile $(PROFILE) --no-build

test: $(STAMP)
	$(BIN)/python -m pytest tests --nbval --nbval-sanitize-with tests/golden/sanitize.cfg

test-fast: $(STAMP)
	$(BIN)/python -m pytest tests -m "not slow"

golden: $(STAMP)
	$(BIN)/xsd golden

lab: $(STAMP)
	$(BIN)/python -m pip install --quiet jupyterlab
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf _build book/*.ipynb book/figures book/reproducibility.md

clean-all: clean
	rm -rf data/worlds data/models data/cache $(VENV)
