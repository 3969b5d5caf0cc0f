# The two commands of the README:
#   make book   build the book into _build/html (sets up .venv with the book's packages on first use)
#   make test   lint, unit tests, pairing check, smoke run, nbval over every notebook, strict build,
#               browser check (adds the test packages to .venv)
# and, for authors:
#   make execute [NB=book/01-sobolev-losses.md]   re-execute notebooks in place (records times)
#   make smoke                                    execute every chapter at smoke scale, outside the tree
#   make format                                   ruff format the package, tests, tools and notebooks
#   make nbval-perturbed                          nbval under perturbed arithmetic (SOBOLEV_PERTURB=1:
#                                                 2 threads, reordered sums; one notebook at a time)
#
# On a GPU machine, `make nbval` compares the GPU's Claims tables with the committed (CPU, book scale)
# ones: the code takes `cuda` whenever torch sees a GPU, or name it with SOBOLEV_DEVICE, which
# reaches the notebooks unchanged through the environment:
#   make nbval SOBOLEV_DEVICE=cuda TORCH_INDEX=--index-url=<a PyTorch CUDA wheel index>
# TORCH_INDEX only matters when .venv has no torch yet (on Linux the public index's torch is a
# CUDA build already); a CPU torch already in .venv is kept, so start from a fresh .venv there.
# start_chapter() turns TF32 off, so the GPU differs from the CPU only in last bits (other orders
# of summation, other tanh/exp), which is what nbval-perturbed imitates on a CPU. .github/workflows/book.yml runs all of this.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BOOK_STAMP := $(VENV)/.installed-book
STAMP := $(VENV)/.installed-test
# torch is installed first, pinned. From the public index on Linux this is the CUDA build (several GB);
# on a machine without a GPU pass the CPU wheel index, e.g. TORCH_INDEX=--index-url=<PyTorch CPU index>,
# or install the torch you want into .venv beforehand (it is then kept).
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
SMOKE_DIR ?= $(or $(TMPDIR),/tmp)/sobolev-smoke
JOBS ?= 2
export PATH := $(abspath $(BIN)):$(PATH)
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: book test lint format unit sync smoke nbval nbval-perturbed build browser execute setup clean

setup: $(STAMP)

$(BOOK_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q $(TORCH_INDEX) "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[book]"
	touch $(BOOK_STAMP)

$(STAMP): $(BOOK_STAMP)
	$(BIN)/python -m pip install -q -e ".[book,test]"
	touch $(STAMP)

book: $(BOOK_STAMP)
	$(BIN)/python tools/install_cell.py
	$(BIN)/jupyter-book build --warningiserror --nitpick --keep-going .
	@echo "The book is in _build/html/index.html"

build: book

lint: $(STAMP)
	$(BIN)/ruff check sobolev tests tools book
	$(BIN)/ruff format --check sobolev tests tools book

format: $(STAMP)
	$(BIN)/ruff format sobolev tests tools book/*.ipynb
	for nb in book/[0-9][0-9]-*.ipynb; do $(BIN)/jupytext -q --to md:myst "$$nb"; done

unit: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) -q tests --ignore=tests/test_site.py

# Every MyST source and its notebook are in sync (jupytext --sync changes nothing).
sync: $(STAMP)
	$(BIN)/python tools/check_pairing.py

# Re-run every notebook of the book at book scale and compare the outputs marked
# NBVAL_CHECK_OUTPUT (the Claims tables) with the committed ones. NBVAL_ENV holds the thread
# settings (one OpenMP/BLAS thread per notebook, JOBS notebooks side by side).
NBVAL_ENV ?= OMP_NUM_THREADS=1
nbval: $(STAMP)
	SOBOLEV_SCALE=book SOBOLEV_QUIET=1 SOBOLEV_RECOMPUTE=1 $(NBVAL_ENV) $(BIN)/python -m pytest -n $(JOBS) --dist loadfile \
	  -p no:cacheprovider --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
	  --nbval-cell-timeout 1200 $$($(BIN)/python tools/toc_notebooks.py)

# The same comparison under perturbed arithmetic: 2 threads for torch and for NumPy's BLAS, torch
# free to choose non-deterministic kernels, Sobolev losses summed over the points in reverse order
# (sobolev/config.py). The checked Claims tables must not change. One notebook at a time: two
# notebooks on 2 threads each oversubscribe a 2-core machine and stall. OMP_WAIT_POLICY=PASSIVE
# lets an idle OpenMP thread sleep instead of spinning (arithmetic unchanged): on a busy 2-core
# machine the spinning made 2-thread training steps 10-20 times slower than passive waiting.
nbval-perturbed:
	$(MAKE) nbval JOBS=1 NBVAL_ENV="SOBOLEV_PERTURB=1 SOBOLEV_THREADS=2 OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE"

# Every chapter executes at smoke scale (outputs written outside the tree, not compared).
smoke: $(STAMP)
	SOBOLEV_SCALE=smoke SOBOLEV_QUIET=1 $(BIN)/python tools/execute.py --out $(SMOKE_DIR)

browser: $(STAMP)
	$(BIN)/python -m pytest -q tests/test_site.py

test: lint unit sync smoke nbval book browser
	@echo "make test: all checks passed"

execute: $(STAMP)
	SOBOLEV_SCALE=book SOBOLEV_QUIET=1 $(BIN)/python tools/execute.py $(NB)

clean:
	rm -rf _build
