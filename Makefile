# The two commands users need: `make run` (serve the demo dataset) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
AZURITE := .tools/node_modules/.bin/azurite-blob
DEMO_DIR ?= demo-data
HOST ?= 127.0.0.1
PORT ?= 32010

.PHONY: run test lint bench proto clean

# One pip call installs everything, pinned by constraints.txt (boto3/aiobotocore pins break
# when installed in several steps).
$(INSTALLED): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test,bench]'
	touch $@

$(AZURITE):
	npm install --prefix .tools --no-audit --no-fund --loglevel=error azurite@3.35.0

run: $(INSTALLED)
	$(BIN)/python -m flight_server.demo $(DEMO_DIR)/proj1
	$(BIN)/fw-flight-sql serve --host $(HOST) --port $(PORT) --dataset proj1=$(DEMO_DIR)/proj1

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(INSTALLED) $(AZURITE) lint
	$(BIN)/pytest

bench: $(INSTALLED)
	$(BIN)/python -m benchmarks

proto: $(INSTALLED)
	$(BIN)/python -m flight_server.flightsql.generate

clean:
	rm -rf $(VENV) .tools $(DEMO_DIR) .pytest_cache .ruff_cache
