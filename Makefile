# stablecore: `make run` (set up + main demo/dashboard), `make test` (set up + all tests), `make bench`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
EXTRAS := dev,notebooks,dashboard,bench,docs
PYTEST_WORKERS ?= 2
MKDOCS := NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs

.PHONY: setup run test lint format bench clean docs

setup: $(STAMP)

# Peers installed without their dependencies: curvlinops' own requirements (backpack-for-pytorch)
# pull torchvision, which is broken against this torch; curvlinops itself runs without them.
# Benchmarks and tests only (never imported by stablecore/); tests skip when it is absent.
NO_DEPS_PEERS := curvlinops-for-pytorch einops einconv linear_operator opt_einsum

# The constraints file pins every package (torch==2.13.0 from the local CPU wheel: no CUDA download).
$(STAMP): pyproject.toml constraints.txt Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	$(PIP) install --quiet --no-deps -c constraints.txt $(NO_DEPS_PEERS)
	touch $(STAMP)

# The dashboard on 127.0.0.1:8501 (prints the URL); the old quick demo is `stablecore demo`.
run: setup
	$(PY) -m stablecore.cli.main dashboard

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache --no-logo

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The docs site is built in strict mode first (broken links, missing API objects fail; the stripped
# notebooks are rendered, never executed). Notebooks run under nbval (--nbval-lax: stored without
# outputs); --dist loadscope keeps each notebook's cells on one worker, in order. Runs written by tests
# go to a throw-away store.
test: lint
	site=$$(mktemp -d) && $(MKDOCS) build --strict --site-dir $$site; rc=$$?; rm -rf $$site; exit $$rc
	STABLECORE_MODE=quick STABLECORE_HOME=$$(mktemp -d) $(VENV)/bin/pytest -n $(PYTEST_WORKERS) \
		--dist loadscope --nbval-lax tests notebooks

# The documentation site (mkdocs.yml) in site/: open site/index.html, or `.venv/bin/mkdocs serve` for a
# live preview on 127.0.0.1:8000. The chapter notebooks come from notebooks/ (stripped, no outputs);
# `make docs NOTEBOOKS=runs/reproduce/<run_id>` renders the executed quick-mode notebooks of a
# `make reproduce` run instead (docs/hooks.py reads $STABLECORE_DOCS_NOTEBOOKS; nothing is executed).
NOTEBOOKS ?=
docs: setup
	STABLECORE_DOCS_NOTEBOOKS=$(NOTEBOOKS) $(MKDOCS) build --strict --site-dir site

bench: setup
	$(PY) -m benchmarks.run_all

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis site .cache/mkdocs-jupyter

# Quick-mode reproduction of every chapter: executed notebooks + HTML and the thesis-vs-ours summary
# table under runs/reproduce/<run_id>/ (see docs/reproduce.md; full mode: stablecore reproduce --mode full).
.PHONY: reproduce
reproduce: setup
	$(PY) -m stablecore.cli.main reproduce --chapter all --mode quick
