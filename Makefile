# The two commands users need: `make run` (serve the demo dataset) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# `make run` installs the server, the demo and what the README's client snippets import;
# `make test` adds every extra and the test and benchmark tools (dependency groups).
RUN_INSTALLED := $(VENV)/.installed-run
INSTALLED := $(VENV)/.installed
AZURITE := .tools/node_modules/.bin/azurite-blob
DEMO_DIR ?= demo-data
HOST ?= 127.0.0.1
PORT ?= 32010
# 0 picks a free port (logged at start), so a busy 9090 (Prometheus's default) is no obstacle.
OPS_PORT ?= 0

.PHONY: run test lint bench proto clean

# Every install goes through constraints.txt, and the packages in one pip call (boto3 and
# aiobotocore pins break when installed in several steps). pip itself comes first: `--group`
# (PEP 735) needs pip 25.1 or later.
define venv_with_pip
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -U pip
endef

$(RUN_INSTALLED): pyproject.toml constraints.txt
	$(venv_with_pip)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[client,dataframes,demo]'
	touch $@

$(INSTALLED): pyproject.toml constraints.txt
	$(venv_with_pip)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[all]' \
		--group test --group bench
	touch $@

$(AZURITE):
	npm install --prefix .tools --no-audit --no-fund --loglevel=error azurite@3.35.0

# Spark (tests/e2e/test_client_examples.py) needs Java 17+; installed only where `java` is missing
# (CI runs as root on Debian).
JAVA := java-runtime
.PHONY: $(JAVA)
$(JAVA):
	@command -v java >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless; }

# SQLAlchemy 2 beside the venv's 1.4 (flightsql-dbapi, a test client, requires < 2): the
# docs' snippets and tests/e2e/test_sqlalchemy.py run pandas.read_sql with it, as notebooks do.
SQLALCHEMY2 := .tools/sqlalchemy2
$(SQLALCHEMY2): | $(INSTALLED)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --target $@ SQLAlchemy==2.1.9

run: $(RUN_INSTALLED)
	$(BIN)/python -m flight_server.demo $(DEMO_DIR)/proj1
	$(BIN)/fw-flight-sql serve --host $(HOST) --port $(PORT) --ops-port $(OPS_PORT) \
		--dataset proj1=$(DEMO_DIR)/proj1

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

test: $(INSTALLED) $(AZURITE) $(JAVA) $(SQLALCHEMY2) lint
	$(BIN)/pytest

bench: $(INSTALLED)
	$(BIN)/python -m benchmarks

proto: $(INSTALLED)
	$(BIN)/python -m flight_server.flightsql.generate

clean:
	rm -rf $(VENV) .tools $(DEMO_DIR) .pytest_cache .ruff_cache
