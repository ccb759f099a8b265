# Two commands on a fresh machine (Debian/Ubuntu, run as root or with sudo available):
#   make run    set up R + a Python venv, then run the default benchmark (config/config.yaml)
#   make test   set up, lint, and run the test suite
# Other targets: setup, lint, docs, report, clean.

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
CORES ?= 2
# Where pip looks for torch besides PyPI: its CPU builds (2.13.0+cpu outranks PyPI's CUDA
# wheel of 2.13.0, several GB). For CUDA: make setup TORCH_INDEX=https://download.pytorch.org/whl/cu126
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := r-base-core r-cran-seurat r-cran-mclust

.PHONY: setup system-deps venv run run-locked test lint report clean

setup: system-deps venv

# R, Seurat and mclust from Debian's packages (R must exist before rpy2 is installed).
system-deps:
	@if command -v Rscript >/dev/null && Rscript -e 'library(Seurat); library(mclust)' >/dev/null 2>&1; then \
		echo "R with Seurat and mclust found"; \
	else \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(APT_PACKAGES); \
	fi

# torch is installed first and pinned, from TORCH_INDEX (CPU build by default); see README for CUDA.
# Where that index cannot be reached, pip warns, gives up after one retry and takes a wheel
# it finds elsewhere (PyPI, or a local wheel directory of its configuration).
venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-reference.txt pyproject.toml
	test -d $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --retries 1 --extra-index-url $(TORCH_INDEX) $$(grep '^torch==' requirements.txt)
	$(PY) -m pip install -q -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps -r requirements-reference.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

# `make run` again after an interruption resumes: --rerun-incomplete redoes the jobs that
# were running, and the lock a killed run leaves (kill -9, a reboot: Snakemake could not
# remove it, and the next run would stop at "Directory cannot be locked") is removed first.
# That lock is known to be stale when .snakemake/make-run.active (made as a `make run`
# starts, removed as it ends) is still there while no `make run` holds the directory's flock
# (waited for up to 10 s: the processes of a killed run take a moment to end).
# Without flock (macOS), a killed run needs `snakemake --unlock` once, as in the README.
SNAKEMAKE_ARGS ?=
SNAKEMAKE := $(VENV)/bin/snakemake
run: setup
	@mkdir -p .snakemake
	@if command -v flock >/dev/null; then \
		flock -w 10 -E 75 .snakemake/make-run.flock $(MAKE) --no-print-directory run-locked; \
		status=$$?; \
		if [ $$status = 75 ]; then echo "make run: another make run is using this directory" >&2; fi; \
		exit $$status; \
	else \
		$(SNAKEMAKE) --cores $(CORES) --rerun-incomplete $(SNAKEMAKE_ARGS); \
	fi

# The run itself, under run's flock (do not call it on its own).
run-locked:
	@if [ -e .snakemake/make-run.active ]; then \
		echo "make run: the last run was interrupted; removing the lock it left"; \
		$(SNAKEMAKE) --unlock --cores 1 $(SNAKEMAKE_ARGS) >/dev/null 2>&1; \
	fi
	@touch .snakemake/make-run.active
	$(SNAKEMAKE) --cores $(CORES) --rerun-incomplete $(SNAKEMAKE_ARGS); \
		status=$$?; rm -f .snakemake/make-run.active; exit $$status

# The documentation site under site/ (strict: a broken link, a failing tutorial cell or a
# public function without a docstring fails the build); `make test` builds it too.
docs: venv
	$(VENV)/bin/mkdocs build --strict

report: venv
	$(VENV)/bin/snakemake --cores $(CORES) --report results/report.html

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/snakefmt --check Snakefile workflow/
	$(VENV)/bin/snakemake --lint --cores 1
	$(VENV)/bin/lint-imports

test: setup lint
	$(VENV)/bin/pytest -p no:cacheprovider

clean:
	rm -rf results/* .snakemake logs benchmarks site
