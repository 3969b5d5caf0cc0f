# The two commands of the README:
#   make book   build the book into _build/html (sets up .venv on first use)
#   make test   unit tests, pairing check, nbval over every notebook, strict build, browser check
# and, for authors:
#   make execute [NB=book/01-sobolev-losses.md]   re-execute notebooks in place (records times)

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# A CPU wheel of torch from the local disk; on a GPU machine install your CUDA torch into .venv first.
TORCH ?= torch==2.13.0
JOBS ?= 2
export PATH := $(abspath $(BIN)):$(PATH)
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: book test unit sync nbval build browser execute setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[book,test]"
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build --warningiserror --nitpick --keep-going .
	@echo "The book is in _build/html/index.html"

build: book

unit: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) -q tests --ignore=tests/test_site.py

# Every MyST source and its notebook are in sync (jupytext --sync changes nothing).
sync: $(STAMP)
	$(BIN)/python tools/check_pairing.py

# Re-run every notebook of the book at book scale and compare the outputs marked
# NBVAL_CHECK_OUTPUT (the Claims tables) with the committed ones.
nbval: $(STAMP)
	SOBOLEV_SCALE=book SOBOLEV_QUIET=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n $(JOBS) --dist loadfile \
	  -p no:cacheprovider --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
	  --nbval-cell-timeout 1200 $$($(BIN)/python tools/toc_notebooks.py)

browser: $(STAMP)
	$(BIN)/python -m pytest -q tests/test_site.py

test: unit sync nbval book browser
	@echo "make test: all checks passed"

execute: $(STAMP)
	SOBOLEV_SCALE=book SOBOLEV_QUIET=1 $(BIN)/python tools/execute.py $(NB)

clean:
	rm -rf _build
