#!/usr/bin/env bash
# The whole suite, as `make test` runs it: three passes, then one summary of what failed in any.
#   1. SQLite, the tests that may share the machine (--tier parallel), on two xdist workers;
#   2. SQLite, the rest (browsers, Celery workers, fault injections, Kafka, SQS, processes), alone;
#   3. PostgreSQL, the database-relevant tests again (POSTGRES_PYTEST_ARGS), on two workers.
# Every pass runs even when one before it failed, so one run shows every failure.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
POSTGRES_URL=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
read -r -a POSTGRES_ARGS <<< "${POSTGRES_PYTEST_ARGS:?}"
logs=$(mktemp -d)
names=()
codes=()

pass() {
  local name=$1
  shift
  echo "==== $name: $*"
  local started=$SECONDS
  "$@" 2>&1 | tee "$logs/${#names[@]}.log"
  codes+=("${PIPESTATUS[0]}")
  names+=("$name ($((SECONDS - started)) s)")
}

pass "SQLite, parallel tier" "$PY" -m pytest -n 2 --tier parallel
pass "SQLite, serial tier" "$PY" -m pytest --tier serial
pass "PostgreSQL" env DATABASE_URL="$POSTGRES_URL" "$PY" -m pytest -q "${POSTGRES_ARGS[@]}"

echo
echo "==== summary"
worst=0
for i in "${!names[@]}"; do
  result=$(grep -E '^(=+ )?[0-9]+ (passed|failed|error)' "$logs/$i.log" | tail -n 1 | tr -d '=')
  echo "${names[$i]}: exit ${codes[$i]}; ${result:-no result line}"
  grep -E '^(FAILED|ERROR) ' "$logs/$i.log" | sed 's/^/    /'
  [ "${codes[$i]}" -gt "$worst" ] && worst=${codes[$i]}
done
rm -rf "$logs"
exit "$worst"
