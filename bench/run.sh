#!/usr/bin/env bash
# The benchmark behind `make bench`: the release service against a bare axum
# server built in the same workspace, on the same machine, in the same run.
# Then outbox delivery (bench/delivery: latency from a create's 201 to its
# webhook, and deliveries per second with two replicas sharing the table).
# Prints the tables and writes them to target/bench/report.md.
#
# Client and servers share the machine's cores, so compare the rows with
# each other (ratios), not with numbers from another machine.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${BENCH_DURATION:-10s}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-1}
PG_SERVER=${PG_SERVER:-postgres://postgres@127.0.0.1:5432}
REDIS=${REDIS_URL_LOCAL:-redis://127.0.0.1:6379}
APP_ADDR=127.0.0.1:18080
ADMIN_ADDR=127.0.0.1:19090
BARE_ADDR=127.0.0.1:18081
OUT=target/bench
mkdir -p "$OUT"

if ! command -v wrk >/dev/null 2>&1; then
    echo "installing wrk (Debian package)"
    if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get install -y wrk >/dev/null 2>&1 || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y wrk >/dev/null; }
fi

echo "building release binaries"
cargo build --release --locked -p bulkhead -p bench-bare -p bench-delivery

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

wait_for() { # url
    for _ in $(seq 1 100); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "$1 did not answer" >&2
    return 1
}

# Runs wrk against a URL; prints "rps p50 p99" with latencies in ms.
load() { # url pid
    local url=$1 pid=$2 peak=0 report
    report=$(mktemp)
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url" >"$report" &
    local wrk_pid=$!
    while kill -0 "$wrk_pid" 2>/dev/null; do
        local now
        now=$(rss_kib "$pid")
        [ "$now" -gt "$peak" ] && peak=$now
        sleep 0.5
    done
    wait "$wrk_pid"
    local rps p50 p99
    rps=$(awk '/^Requests\/sec/ {print $2}' "$report")
    p50=$(awk '$1 == "50%" {print $2}' "$report")
    p99=$(awk '$1 == "99%" {print $2}' "$report")
    if grep -q "Non-2xx" "$report"; then
        echo "non-2xx answers from $url:" >&2
        cat "$report" >&2
        exit 1
    fi
    rm -f "$report"
    echo "$rps $(to_ms "$p50") $(to_ms "$p99") $peak"
}

to_ms() { # wrk latency like 1.23ms, 850.00us, 1.10s
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
        else print v }'
}

stop() { # pid: SIGTERM, then wait for it
    [ -n "${1:-}" ] || return 0
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

cleanup() {
    # The delivery driver kills the service processes it started on SIGTERM.
    stop "${DELIVERY_PID:-}"
    stop "${APP_PID:-}"
    stop "${BARE_PID:-}"
}
trap cleanup EXIT

echo "starting the bare axum server"
BARE_ADDR=$BARE_ADDR target/release/bench-bare &
BARE_PID=$!
wait_for "http://$BARE_ADDR/healthz"
sleep 1
BARE_IDLE=$(rss_kib "$BARE_PID")

echo "starting the service (full middleware stack, JSON logs at info to /dev/null)"
DATABASE_URL="$PG_SERVER/bulkhead_bench" DATABASE_MIGRATE_ON_START=true REDIS_URL="$REDIS" \
    CACHE_KEY_PREFIX="bench-$$" HTTP_ADDR=$APP_ADDR ADMIN_ADDR=$ADMIN_ADDR LOG_LEVEL=info \
    MAX_CONCURRENT_REQUESTS=4096 SHUTDOWN_DELAY=0s target/release/bulkhead >/dev/null &
APP_PID=$!
wait_for "http://$APP_ADDR/startupz"
sleep 1
APP_IDLE=$(rss_kib "$APP_PID")

USER_ID=$(curl -fsS "http://$APP_ADDR/api/v1/users" -H 'content-type: application/json' \
    -d "{\"email\":\"bench-$$-$RANDOM@example.com\",\"name\":\"Bench\"}" | sed -E 's/.*"id":"([^"]+)".*/\1/')
curl -fsS -o /dev/null "http://$APP_ADDR/api/v1/users/$USER_ID" # warm the cache

echo "load: $DURATION per run, $CONNECTIONS connections, $THREADS wrk thread(s)"
read -r BARE_RPS BARE_P50 BARE_P99 BARE_PEAK < <(load "http://$BARE_ADDR/healthz" "$BARE_PID")
read -r FULL_RPS FULL_P50 FULL_P99 FULL_PEAK < <(load "http://$APP_ADDR/healthz" "$APP_PID")
read -r USER_RPS USER_P50 USER_P99 USER_PEAK < <(load "http://$APP_ADDR/api/v1/users/$USER_ID" "$APP_PID")

RATIO=$(awk -v a="$FULL_RPS" -v b="$BARE_RPS" 'BEGIN { printf "%.1f", 100 * a / b }')
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

REPORT="$OUT/report.md"
{
    echo "# Benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, wrk -t$THREADS -c$CONNECTIONS -d$DURATION)"
    echo
    echo "| Run | Requests/s | p50 ms | p99 ms | Peak RSS MiB |"
    echo "|---|---:|---:|---:|---:|"
    echo "| bare axum, GET /healthz | $BARE_RPS | $BARE_P50 | $BARE_P99 | $(mib "$BARE_PEAK") |"
    echo "| full stack, GET /healthz | $FULL_RPS | $FULL_P50 | $FULL_P99 | $(mib "$FULL_PEAK") |"
    echo "| full stack, GET /api/v1/users/{id} (warm cache) | $USER_RPS | $USER_P50 | $USER_P99 | $(mib "$USER_PEAK") |"
    echo
    echo "- Full stack keeps **$RATIO%** of bare axum's throughput on the trivial route (aim: at least 90%)."
    echo "- Idle RSS: service **$(mib "$APP_IDLE") MiB** (aim: under 20 MiB), bare axum $(mib "$BARE_IDLE") MiB."
} | tee "$REPORT"

# Free the cores for the delivery runs.
stop "$APP_PID"
stop "$BARE_PID"
APP_PID= BARE_PID=

echo
echo "outbox delivery: latency (one replica), then throughput (two replicas)"
# Services on CPU 0, the driver (client and webhook receiver) on CPU 1 when
# the machine has two cores and taskset; unpinned otherwise.
DRIVER=()
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
    DRIVER=(taskset -c 1)
    export BENCH_SERVER_CPUS=0
fi
DELIVERY_OUT="$OUT/delivery.md"
PG_SERVER=$PG_SERVER BENCH_SERVICE_BIN=target/release/bulkhead \
    "${DRIVER[@]}" target/release/bench-delivery >"$DELIVERY_OUT" &
DELIVERY_PID=$!
DELIVERY_STATUS=0
wait "$DELIVERY_PID" || DELIVERY_STATUS=$?
DELIVERY_PID=
tee -a "$REPORT" <"$DELIVERY_OUT"
echo
echo "written to $REPORT"
if [ "$DELIVERY_STATUS" -ne 0 ]; then
    echo "the delivery bench failed (events missing, repeated or badly signed; see above)" >&2
    exit "$DELIVERY_STATUS"
fi
