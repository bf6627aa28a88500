# orm_kit — `make help` lists the targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python

.DEFAULT_GOAL := help
.PHONY: help demo test test-sqlite test-pg test-mariadb fuzz lint typecheck docs bench bench-check clean

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-12s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# The quickstart needs only the package itself (no dev tools): a first `make demo` stays quick.
$(BIN)/.package-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e .
	touch $@

demo: $(BIN)/.package-installed ## Create .venv, install the package, and run the quickstart on embedded SQLite
	cd examples && ../$(PY) quickstart.py

test: $(BIN)/.installed ## Run the whole suite on SQLite, PostgreSQL, and MariaDB when ORM_KIT_TEST_MYSQL_URL is set (CI sets it)
	$(BIN)/pytest

test-sqlite: $(BIN)/.installed ## Run the suite on SQLite only
	$(BIN)/pytest -k "not postgresql and not mariadb"

test-pg: $(BIN)/.installed ## Run the suite on PostgreSQL only
	$(BIN)/pytest -k "not sqlite and not mariadb"

test-mariadb: $(BIN)/.installed ## Run the suite on MariaDB only (ORM_KIT_TEST_MYSQL_URL=mysql+asyncmy://root@127.0.0.1:3306/test)
	$(BIN)/pytest -k "not sqlite and not postgresql"

fuzz: $(BIN)/.installed ## Long randomized oracle run on every backend (replay: ORM_KIT_FUZZ_SEED=...; size: ORM_KIT_FUZZ_EXAMPLES=...)
	ORM_KIT_FUZZ=1 $(BIN)/pytest -m fuzz -p no:cacheprovider

lint: $(BIN)/.installed ## Ruff, and the import contracts (layers, no cycles) of pyproject.toml
	$(BIN)/ruff check orm_kit tests examples benchmarks
	$(BIN)/ruff format --check orm_kit tests examples benchmarks
	$(BIN)/lint-imports --no-cache

typecheck: $(BIN)/.installed ## mypy --strict on the package and the typing tests
	$(BIN)/mypy orm_kit tests/typing

docs: $(BIN)/.installed ## Build the documentation site (strict)
	$(BIN)/mkdocs build --strict --site-dir site

bench: $(BIN)/.installed ## Run W1-W10 on PostgreSQL (ORM_KIT_BENCH_POSTGRES_URL or the local server), SQLite and MariaDB (ORM_KIT_BENCH_MYSQL_URL or the local server; skipped with a note when none answers) against the peers, and R1
	$(PY) -m benchmarks.run --sqlite --mysql
	$(PY) -m benchmarks.relations

bench-check: $(BIN)/.installed ## Quick guard (1-2 min): orm_kit vs SA Core on both backends; fails below a floor
	$(PY) -m benchmarks.check

clean: ## Remove the virtualenv and build outputs
	rm -rf $(VENV) site .pytest_cache .mypy_cache .ruff_cache
