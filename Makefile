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

.PHONY: install demo test test-fast lint format bench bench-large calibrate clean help

help:
	@echo "make demo    synthetic population → features → train → explain → fairness gate → promote → panel packs → monitoring → drivers report → impact evaluation; prints how to serve"
	@echo "make test    run the whole test suite (what CI runs)"
	@echo "make lint    ruff + mypy + import-linter (the layers of DESIGN.md)"
	@echo "make bench   generator, features, training, explanations, serving, scoring, monitoring, drivers, evaluation; writes BENCHMARKS.md"
	@echo "make bench-large  0.3, 1 and 2 million people end to end: time and memory per stage, the cost curve (about an hour)"
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
	$(BIN)/vru features --data $(DEMO_DIR) --as-of 2025-01-01 --out $(DEMO_DIR)/features.parquet --overwrite
	@# last month's features: the service says what changed since (--previous-snapshot)
	$(BIN)/vru features --data $(DEMO_DIR) --as-of 2024-12-01 --out $(DEMO_DIR)/features-2024-12-01.parquet --overwrite
	$(BIN)/vru train --data $(DEMO_DIR) --outcome victim
	$(BIN)/vru train --data $(DEMO_DIR) --outcome perpetrator
	$(BIN)/vru explain --data $(DEMO_DIR) --outcome victim --as-of 2025-01-01 --top 1
	$(BIN)/vru explain --data $(DEMO_DIR) --outcome perpetrator --as-of 2025-01-01 --top 1
	@# the fairness gate: exit 1 is a verdict (shown, then handled below); exit 2 stops the demo
	$(BIN)/vru fairness gate --outcome victim --against truth || [ $$? -eq 1 ]
	$(BIN)/vru fairness gate --outcome perpetrator --against truth || [ $$? -eq 1 ]
	@# champion only after a pass; a failed gate is released here by a recorded override
	@for outcome in victim perpetrator; do \
	  $(BIN)/vru promote --outcome $$outcome 2>/dev/null || $(BIN)/vru promote --outcome $$outcome --override \
	    --approver "make demo" --reason "synthetic demonstration data: released so the service and panel packs can be shown; not for use with real people" || exit 2; \
	done
	$(BIN)/vru score --data $(DEMO_DIR) --as-of 2024-12-01 --out $(DEMO_DIR)/panels --outcome both
	$(BIN)/vru score --data $(DEMO_DIR) --as-of 2025-01-01 --out $(DEMO_DIR)/panels --outcome both
	@# after release: each month of 2025 as it would have been checked, the last with the
	@# outcomes of January's lists (red on an enforced check would switch a model off)
	$(BIN)/vru monitor --data $(DEMO_DIR) --as-of 2025-02-01 --until 2026-01-01
	@# the partnership's view: what drives serious violence in each area over five years
	$(BIN)/vru drivers --data $(DEMO_DIR) --as-of 2026-01-01 --years 5 --out reports/drivers
	@# does the panels' help work? the historic panels' capacity cut as a natural experiment
	$(BIN)/vru evaluate --data $(DEMO_DIR) --out reports/evaluation
	@$(BIN)/vru tokens revoke demo >/dev/null 2>&1 || true
	@# the demo token: readable by its owner alone (0600), whatever the umask
	@(umask 077; $(BIN)/vru tokens add demo --role practitioner --la Bristol > $(DEMO_DIR)/demo-token.txt)
	@echo
	@echo "Fairness reports: reports/fairness/victim-v*-truth/report.html, reports/fairness/perpetrator-v*-truth/report.html"
	@echo "Panel packs: $(DEMO_DIR)/panels/panel_*.html"
	@echo "Monitoring report: reports/monitoring/report.html (history: reports/monitoring/history.parquet)"
	@echo "Drivers reports: reports/drivers/force_area/report.html and one folder per local authority (report.html and its tables)"
	@echo "Impact evaluation: reports/evaluation/report.html (tables beside it)"
	@echo "Experiments: $(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db (then the address 'vru train' printed, or http://127.0.0.1:5000 and choose 'Model training', then Views → Headline metrics)"
	@$(BIN)/python -c "import pandas as pd; f = pd.read_csv('$(DEMO_DIR)/panels/panel_bristol.csv'); print('Top of the Bristol panel lists, to look up:', f.loc[0, 'person_id'], '(' + f.loc[0, 'outcome'] + ', ' + f.loc[0, 'list'] + ' list)')"
	@echo "Start the service: $(BIN)/vru serve --snapshot $(DEMO_DIR)/features.parquet --previous-snapshot $(DEMO_DIR)/features-2024-12-01.parquet"
	@echo "Then open http://127.0.0.1:3000/ui/ and sign in with the demo token (practitioner, Bristol): $$(cat $(DEMO_DIR)/demo-token.txt)"

test: install
	$(BIN)/python -m pytest -n 2 --dist loadgroup --durations=25

test-fast: install
	$(BIN)/python -m pytest -m "not slow" -n 2

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	@command -v wrk >/dev/null || { [ "$$(id -u)" -eq 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; } || echo "wrk not installed: the serving section will say so"
	$(BIN)/python -m benchmarks.run --output BENCHMARKS.md

bench-large: install
	@command -v wrk >/dev/null || { [ "$$(id -u)" -eq 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; } || echo "wrk not installed: the service is started and measured without load"
	$(BIN)/python -m benchmarks.large --output BENCHMARKS.md

calibrate: install
	$(BIN)/vru calibrate --people 150000 --markdown docs/calibration-table.md

clean:
	rm -rf $(VENV) data/demo data/serving reports .pytest_cache .mypy_cache .ruff_cache mlflow.db release-ledger.* mlartifacts
