#!/usr/bin/env bash
# The API fuzzing behind `make fuzz`: schemathesis against the release binary,
# checking that the service does exactly what /openapi.json says.
#
# 1. builds the release binary (FUZZ_BIN skips this and runs that binary);
# 2. starts it on free local ports, with a fresh database of its own on the
#    local PostgreSQL (created by DATABASE_MIGRATE_ON_START) and a Redis key
#    prefix of its own;
# 3. waits (bounded) for /startupz to answer 200;
# 4. runs every schemathesis check over the phases examples, coverage,
#    fuzzing and stateful, with a fixed seed, and prints how many cases ran;
# 5. stops the server and drops the database on every exit, failure included.
#
# The exit code is schemathesis's: non-zero on any failure. Settings come from
# the environment (mk/fuzz.mk passes them): ST (the schemathesis CLI),
# PG_SERVER, REDIS_URL_LOCAL, FUZZ_SEED, FUZZ_MAX_EXAMPLES, FUZZ_WORKERS,
# CARGO, and FUZZ_ARGS: more `st run` options, e.g.
# FUZZ_ARGS='--include-path-regex users/\{id\}'.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

ST=${ST:?ST must name the schemathesis CLI (make fuzz installs it)}
# schemathesis runs in another directory (below): make the path absolute.
[[ "$ST" == */* ]] && ST="$(cd "$(dirname "$ST")" && pwd)/$(basename "$ST")"
CARGO=${CARGO:-cargo}
PG_SERVER=${PG_SERVER:-postgres://postgres@127.0.0.1:5432}
REDIS=${REDIS_URL_LOCAL:-redis://127.0.0.1:6379}
SEED=${FUZZ_SEED:-20261123}
MAX_EXAMPLES=${FUZZ_MAX_EXAMPLES:-500}
WORKERS=${FUZZ_WORKERS:-1}
OUT=target/fuzz
mkdir -p "$OUT"

command -v psql >/dev/null 2>&1 ||
    { echo "make fuzz needs psql (postgresql-client) to drop its database" >&2; exit 1; }

if [[ -z "${FUZZ_BIN:-}" ]]; then
    echo "==> building the release binary"
    $CARGO build --release --locked -p bulkhead
    FUZZ_BIN=target/release/bulkhead
fi

# Two ports nothing listens on now. Another process could take one before
# the server binds it; the server then fails to start and says so.
read -r HTTP_PORT ADMIN_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
')
SUFFIX=$(python3 -c 'import uuid; print(uuid.uuid4().hex)')
DATABASE=bulkhead_fuzz_$SUFFIX
BASE=http://127.0.0.1:$HTTP_PORT
LOG=$OUT/server.log

cleanup() {
    local status=$?
    if [[ -n "${SERVER_PID:-}" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    PGOPTIONS='--client-min-messages=warning' psql "$PG_SERVER/postgres" -q -v ON_ERROR_STOP=1 \
        -c "DROP DATABASE IF EXISTS \"$DATABASE\" WITH (FORCE)" >/dev/null ||
        echo "could not drop database $DATABASE" >&2
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "==> starting $FUZZ_BIN on $BASE (database $DATABASE; log in $LOG)"
env DATABASE_URL="$PG_SERVER/$DATABASE" \
    DATABASE_MIGRATE_ON_START=true \
    HTTP_ADDR="127.0.0.1:$HTTP_PORT" \
    ADMIN_ADDR="127.0.0.1:$ADMIN_PORT" \
    REDIS_URL="$REDIS" \
    CACHE_KEY_PREFIX="bulkhead-fuzz-$SUFFIX" \
    SHUTDOWN_DELAY=0s \
    LOG_LEVEL="${FUZZ_LOG_LEVEL:-warn}" \
    "$FUZZ_BIN" serve >"$LOG" 2>&1 &
SERVER_PID=$!

# At most 30 s: start-up reaches the database and runs the migrations.
started=
for _ in $(seq 1 300); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "the server exited during start-up:" >&2
        tail -n 20 "$LOG" >&2
        exit 1
    fi
    if [[ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/startupz" || true)" == 200 ]]; then
        started=1
        break
    fi
    sleep 0.1
done
[[ -n "$started" ]] || { echo "/startupz did not answer 200 within 30 s" >&2; exit 1; }

echo "==> schemathesis $("$ST" --version | awk '{print $NF}'), seed $SEED, up to $MAX_EXAMPLES examples per operation and phase"
# schemathesis keeps the failures it found under .schemathesis/ in its
# working directory (for `st replay`): run it in $OUT.
status=0
# FUZZ_ARGS is split into words on purpose.
# scripts/fuzz_hooks.py keeps idempotency keys to one body each.
(cd "$OUT" && PYTHONPATH="$ROOT/scripts${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=fuzz_hooks \
    "$ST" run "$BASE/openapi.json" \
    --checks all \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "$MAX_EXAMPLES" \
    --seed "$SEED" \
    --workers "$WORKERS" \
    --generation-database none \
    --no-color \
    --report junit --report-junit-path junit.xml \
    ${FUZZ_ARGS:-}) 2>&1 | tee "$OUT/schemathesis.txt" || status=$?

cases=$(grep -Eo '[0-9]+ generated' "$OUT/schemathesis.txt" | tail -n1 | awk '{print $1}' || true)
echo "==> $((cases + 0)) test cases generated (report in $OUT/)"
exit "$status"
