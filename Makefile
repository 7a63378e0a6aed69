# The two commands a new machine needs: `make run` and `make test`.
PY := .venv/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-postgres venv dev-venv services migrate lint demo bench clean

run: venv migrate  ## serve the console on http://127.0.0.1:8000 (SQLite, in-memory layer, monitor in-process)
	$(PY) manage.py ensureadmin
	$(PY) manage.py serve --host $(HOST) --port $(PORT)

# The database tests run a second time on PostgreSQL (a test database of their own, created and
# dropped by pytest-django; one per xdist worker), unless PYTEST_ARGS picks a subset.
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/postgres
# The parallel tier of tests/console and tests/messaging (tests/conftest.py): the Kafka and SQS tests
# are about their brokers, and browsers, workers and faults about timings, not the database.
POSTGRES_PYTEST_ARGS ?= -n 2 --tier parallel tests/console tests/messaging

# The whole suite runs in three passes (scripts/run-tests.sh): the tests that may share the machine
# on two workers, the others alone, then the PostgreSQL pass; it ends with what failed in any.
test: dev-venv services  ## everything the tests need, then the whole suite (and its database tests on PostgreSQL)
	$(PY) -m ruff check .
	@if [ -n "$(PYTEST_ARGS)" ]; then $(PY) -m pytest $(PYTEST_ARGS); \
	else TEST_POSTGRES_URL=$(TEST_POSTGRES_URL) POSTGRES_PYTEST_ARGS='$(POSTGRES_PYTEST_ARGS)' scripts/run-tests.sh; fi

test-postgres:  ## the database-relevant tests again, against PostgreSQL on 127.0.0.1:5432
	DATABASE_URL=$(TEST_POSTGRES_URL) $(PY) -m pytest -q $(POSTGRES_PYTEST_ARGS)

demo: venv migrate  ## a sample Celery workload (workers, producer, DLQ) plus the console, Ctrl-C stops all
	$(PY) manage.py ensureadmin
	$(PY) manage.py demo --host $(HOST) --port $(PORT)

# Side by side with Flower 2.2 (installed into bench/.venv-flower only) and the raw brokers;
# prints a table, writes bench/results/<date>.json. BENCH_ARGS=--quick for a few-minute run.
bench: dev-venv services  ## the benchmark suite (about 10 min; see bench/README.md)
	$(PY) -m bench.run $(BENCH_ARGS)

venv:
	@scripts/ensure-venv.sh

dev-venv:
	@scripts/ensure-venv.sh --dev

services:
	@scripts/ensure-services.sh

migrate: venv
	$(PY) manage.py migrate --noinput

lint: dev-venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf .venv db.sqlite3 .pytest_cache test-artifacts
