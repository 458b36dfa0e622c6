# The front door. `make quickstart` sets everything up and runs the main job; `make test` runs the tests.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MANIFEST := dbt_project/target/manifest.json
DBT_SOURCES := dbt_project/dbt_project.yml dbt_project/profiles.yml $(shell find dbt_project/models dbt_project/macros -type f 2>/dev/null)
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
# XGBoost's OpenMP threads otherwise spin while waiting, starving dbt and Dagster on 2 cores.
export OMP_WAIT_POLICY ?= PASSIVE
# dagster-dbt and `dagster dev` call `dbt` by name: use the venv without activating it.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: quickstart test servers dev demo mlflow lint format bench validate clean

quickstart: $(STAMP) $(MANIFEST)  ## set up, then run the main job over the last 42 days (7 held out)
	$(BIN)/mlops-assets quickstart

test: $(STAMP) $(MANIFEST) servers  ## run the test suite
	$(BIN)/pytest

# The integration tests start real PostgreSQL and Redis servers (Debian packages) on 127.0.0.1.
# Install them when missing and we are root (CI is); otherwise those tests say what is missing.
servers:
	@if ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && command -v redis-server >/dev/null; then :; \
	elif command -v apt-get >/dev/null && { [ "$$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then \
	  echo "installing postgresql and redis-server for the integration tests"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo -n); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server >/dev/null; \
	else echo "postgresql or redis-server missing (no root): integration tests will be skipped outside CI"; fi

dev: $(STAMP) $(MANIFEST)  ## open the Dagster UI on the local instance (http://127.0.0.1:3000)
	$(BIN)/dagster dev --host 127.0.0.1

demo: $(STAMP) $(MANIFEST)  ## the UI with the landing zone as source and every sensor on (see README)
	MLOPS_SOURCE=landing MLOPS_AUTOMATION=on $(BIN)/dagster dev --host 127.0.0.1

mlflow: $(STAMP)  ## open the MLflow UI on the embedded store (http://127.0.0.1:5000)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/data/mlflow/mlflow.db --host 127.0.0.1 --port 5000

validate: $(STAMP) $(MANIFEST)  ## load the code location the way the webserver does
	$(BIN)/dagster definitions validate

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

bench: $(STAMP) $(MANIFEST)  ## measured ratios, ours vs. the naive equivalent
	$(BIN)/python bench/run.py

.PHONY: bench-forecast
bench-forecast: $(STAMP)  ## out-of-sample backtest vs. the naive forecasts, generated and real load (ARGS=--quick)
	$(BIN)/python bench/forecast_quality.py $(ARGS)

.PHONY: bench-scale
bench-scale: $(STAMP) $(MANIFEST)  ## the main job at 1 M and 10 M raw rows: seconds per stage, peak RSS (ARGS=--quick)
	$(BIN)/python bench/scale.py $(ARGS)

# Reinstall only when the declared dependencies change.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,prod]'
	@touch $@

# dagster-dbt loads the assets from the manifest; re-parse only when the dbt project changes.
$(MANIFEST): $(STAMP) $(DBT_SOURCES)
	$(BIN)/dbt parse --quiet --project-dir dbt_project --profiles-dir dbt_project
	@touch $@

clean:  ## remove generated data, the local instance and dbt artefacts (keeps the venv)
	rm -rf data .dagster_home dbt_project/target dbt_project/logs
