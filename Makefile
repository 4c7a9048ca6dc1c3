# vru-risk — every target installs what it needs into .venv first.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Python 3.12: on PATH, or where pyenv keeps it (its shim refuses when 3.12 is not selected)
PYTHON ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1 && { echo "$$p"; break; }; done)
DEMO_DIR ?= data/demo
DEMO_PEOPLE ?= 30000

.PHONY: install demo test test-fast lint format bench calibrate clean help

help:
	@echo "make demo    generate a small synthetic population, build a feature snapshot, print summaries"
	@echo "make test    run the whole test suite (what CI runs)"
	@echo "make lint    ruff + mypy"
	@echo "make bench   time the generator; writes BENCHMARKS.md"
	@echo "make calibrate  check the synthetic data against every published target"

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@if [ -z "$(PYTHON)" ]; then echo "error: Python 3.12 not found (install it or set PYTHON=...)" >&2; exit 2; fi
	@echo "creating $(VENV) with $(PYTHON)"
	@test -x $(BIN)/python || "$(PYTHON)" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

demo: install
	$(BIN)/vru synth --people $(DEMO_PEOPLE) --seed 20241 --out $(DEMO_DIR) --overwrite
	$(BIN)/vru features --data $(DEMO_DIR) --as-of 2024-01-01 --out $(DEMO_DIR)/features.parquet --overwrite
	$(BIN)/vru train --data $(DEMO_DIR) --outcome victim
	$(BIN)/vru train --data $(DEMO_DIR) --outcome perpetrator
	$(BIN)/vru explain --data $(DEMO_DIR) --outcome victim --as-of 2025-01-01 --top 1
	$(BIN)/vru explain --data $(DEMO_DIR) --outcome perpetrator --as-of 2025-01-01 --top 1
	@echo "Open the experiments: $(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db (then http://127.0.0.1:5000)"

test: install
	$(BIN)/python -m pytest -n 2 --dist loadgroup

test-fast: install
	$(BIN)/python -m pytest -m "not slow" -n 2

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python benchmarks/run.py --output BENCHMARKS.md

calibrate: install
	$(BIN)/vru calibrate --people 150000 --markdown docs/calibration-table.md

clean:
	rm -rf $(VENV) data/demo .pytest_cache .mypy_cache .ruff_cache mlflow.db mlartifacts
