#!/usr/bin/env bash
# The benchmark behind `make bench`: each route of the release service
# against a baseline (bench/bare) doing the same work and nothing else,
# on the same machine in the same run, with the cores pinned (see
# bench/lib.sh; BENCH_PIN=0 runs unpinned).
# The example's rows are in bench/users.sh.
# Then outbox delivery (bench/delivery: latency from a create's 201 to its
# webhook, and deliveries per second with two replicas sharing the table).
# Prints the tables and writes them to target/bench/report.md.
#
# Compare the rows with each other (ratios), not with numbers from another
# machine. Knobs: BENCH_DURATION (5s), BENCH_RUNS (3), BENCH_CONNECTIONS
# (32), BENCH_PIN (1), PG_SERVER, REDIS_URL_LOCAL.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

PG_SERVER=${PG_SERVER:-postgres://postgres@127.0.0.1:5432}
REDIS=${REDIS_URL_LOCAL:-redis://127.0.0.1:6379}
DATABASE=bulkhead_bench
TARGET=${CARGO_TARGET_DIR:-target}
BIN=$TARGET/release
OUT=$TARGET/bench
BARE_ADDR=127.0.0.1:18081
APP_ADDR=127.0.0.1:18080
mkdir -p "$OUT"

if ! command -v wrk >/dev/null 2>&1; then
    echo "installing wrk (Debian package)"
    if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get install -y wrk >/dev/null 2>&1 || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y wrk >/dev/null; }
fi

echo "building release binaries"
cargo build --release --locked -p bulkhead -p bench-bare -p bench-delivery

PIDS=()
cleanup() {
    # The delivery driver kills the service processes it started on SIGTERM.
    stop "${DELIVERY_PID:-}"
    local pid
    for pid in "${PIDS[@]}"; do stop "$pid"; done
    "$BIN/bench-bare" drop-database "$PG_SERVER/postgres" "$DATABASE" || true
}
trap cleanup EXIT
# Every run starts from an empty database.
"$BIN/bench-bare" drop-database "$PG_SERVER/postgres" "$DATABASE"

# Starts the service on 127.0.0.1:HTTP_PORT with the bench's settings and
# any VAR=value given; sets SERVICE_PID and SERVICE_LOG (its JSON log).
# The delivery worker is off: the baselines deliver nothing either.
#   start_service NAME HTTP_PORT ADMIN_PORT [VAR=value...]
start_service() {
    local name=$1 http=$2 admin=$3
    shift 3
    SERVICE_LOG=$OUT/$name.log
    : >"$SERVICE_LOG"
    env DATABASE_URL="$PG_SERVER/$DATABASE" DATABASE_MIGRATE_ON_START=true \
        CACHE_KEY_PREFIX="bench-$$" HTTP_ADDR="127.0.0.1:$http" ADMIN_ADDR="127.0.0.1:$admin" \
        LOG_LEVEL=info MAX_CONCURRENT_REQUESTS=4096 SHUTDOWN_DELAY=0s OUTBOX_WORKER_ENABLED=false \
        "$@" "${SERVER_CPU[@]}" "$BIN/bulkhead" >>"$SERVICE_LOG" 2>"$OUT/$name.stderr" &
    SERVICE_PID=$!
    PIDS+=("$SERVICE_PID")
    wait_for "http://127.0.0.1:$http/startupz"
}

echo "starting the service (the whole stack, JSON logs at info to a file)"
start_service service 18080 19090 REDIS_URL="$REDIS"
APP_PID=$SERVICE_PID APP_LOG=$SERVICE_LOG
sleep 1
APP_IDLE=$(rss_kib "$APP_PID")

echo "starting the baselines (bench/bare)"
env BARE_ADDR=$BARE_ADDR DATABASE_URL="$PG_SERVER/$DATABASE" REDIS_URL="$REDIS" CACHE_KEY_PREFIX="bench-$$" \
    "${SERVER_CPU[@]}" "$BIN/bench-bare" serve &
BARE_PID=$!
PIDS+=("$BARE_PID")
wait_for "http://$BARE_ADDR/healthz"
sleep 1
BARE_IDLE=$(rss_kib "$BARE_PID")

echo "load: wrk -t$THREADS -c$CONNECTIONS, $RUNS runs of $DURATION per server, $PINNED"
compare "GET /healthz" "axum, one static route" \
    "$BARE_PID" "http://$BARE_ADDR/healthz" "$APP_PID" "http://$APP_ADDR/healthz" "$APP_LOG"
goal "GET /healthz throughput over the baseline's" "$RATIO" ">=" 0.90
p99_goal "GET /healthz"
# The route whose memory under 64 connections is reported.
# The example's rows set it to the cached read.
LOADED_LABEL="GET /healthz"
LOADED_URL="http://$APP_ADDR/healthz"
. bench/users.sh

echo "  memory: $LOADED_LABEL at 64 connections"
LOADED=$(wrk_run "$APP_PID" "$LOADED_URL" "$DURATION" 64)
read -r _ _ _ LOADED_PEAK _ <<<"$LOADED"
goal "idle RSS, MiB" "$(mib "$APP_IDLE")" "<=" 12
goal "peak RSS at 64 connections ($LOADED_LABEL), MiB" "$(mib "$LOADED_PEAK")" "<=" 32

REPORT="$OUT/report.md"
{
    echo "# Benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $PINNED)"
    echo
    echo "wrk -t$THREADS -c$CONNECTIONS; medians of $RUNS runs of $DURATION per server, alternating;"
    echo "release builds, LOG_LEVEL=info to a file. p50, p99 and peak RSS: bulkhead / baseline."
    echo
    echo "| Route | bulkhead req/s | Baseline | baseline req/s | Ratio | p50 ms | p99 ms | Peak RSS MiB | Log bytes/req |"
    echo "|---|---:|---|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "Idle RSS: bulkhead $(mib "$APP_IDLE") MiB, baseline $(mib "$BARE_IDLE") MiB;" \
        "bulkhead at 64 connections ($LOADED_LABEL): $(mib "$LOADED_PEAK") MiB."
    echo
    printf '%s\n' "${GOALS[@]}"
} | tee "$REPORT"

# Free the cores for the delivery runs.
for pid in "${PIDS[@]}"; do stop "$pid"; done
PIDS=()

echo
echo "outbox delivery: latency (one replica), then throughput (two replicas)"
# Services on CPU 0, the driver (client and webhook receiver) on CPU 1
# when pinned; unpinned otherwise.
if [ ${#SERVER_CPU[@]} -gt 0 ]; then
    export BENCH_SERVER_CPUS=0
fi
DELIVERY_OUT="$OUT/delivery.md"
PG_SERVER=$PG_SERVER BENCH_SERVICE_BIN=$BIN/bulkhead \
    "${CLIENT_CPU[@]}" "$BIN/bench-delivery" >"$DELIVERY_OUT" &
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
