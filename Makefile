# The README's two commands: `make run` and `make test`. Both set everything up
# on a machine that has only Python 3.11+ and pip.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# Tests run in parallel on every core (each worker gets its own databases); a worker that
# runs out of tests takes some from the other's queue, so the run ends with both busy.
PYTEST_WORKERS ?= auto
PYTEST_DIST ?= worksteal

.PHONY: run test worker migrate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## Migrate the SQLite file under instance/, load demo data once, start a local
## Celery worker with beat, print URLs and demo logins, serve on 127.0.0.1:5000.
run: $(STAMP)
	$(BIN)/flask --app wsgi dev

## The whole test suite (SQLite by default; TEST_DATABASE_URL=postgresql://… for PostgreSQL).
test: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist $(PYTEST_DIST) $(PYTEST_ARGS)

## Apply migrations to DATABASE_URL (default: the SQLite file under instance/).
migrate: $(STAMP)
	$(BIN)/flask --app wsgi db upgrade

## A Celery worker with beat on the configured broker (production: one beat only).
worker: $(STAMP)
	$(BIN)/celery -A wsgi:celery_app worker -B --pool=solo --loglevel=INFO

clean:
	rm -rf $(VENV) instance test-artifacts .pytest_cache
