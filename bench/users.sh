# The users example's rows of `make bench` (sourced by bench/run.sh, with
# the service and the baselines running):
#
# - the cached read against axum + one Redis GET of the same entry;
# - the read without a cache (a second service, no REDIS_URL) against
#   axum + one sqlx row;
# - the create against axum + the same two INSERTs in one transaction
#   (bench/users_create.lua makes every email new);
# - the cached read with OTLP export on (parentbased_traceidratio at 0.1,
#   to the local receiver `bench-bare collector`) against export off.

USER_JSON=$(curl -fsS "http://$APP_ADDR/api/v1/users" -H 'content-type: application/json' \
    -d "{\"email\":\"bench-$$@example.com\",\"name\":\"Bench\"}")
USER_ID=$(sed -E 's/.*"id":"([^"]+)".*/\1/' <<<"$USER_JSON")
# The first read starts the cache's epoch, the next fills the entry: read
# until the baseline finds it.
for _ in $(seq 1 50); do
    curl -fsS -o /dev/null "http://$APP_ADDR/api/v1/users/$USER_ID"
    curl -fsS -o /dev/null "http://$BARE_ADDR/cached/users/$USER_ID" 2>/dev/null && break
    sleep 0.1
done
curl -fsS -o /dev/null "http://$BARE_ADDR/cached/users/$USER_ID"

compare "GET /api/v1/users/{id}, cached" "axum + one Redis GET" \
    "$BARE_PID" "http://$BARE_ADDR/cached/users/$USER_ID" \
    "$APP_PID" "http://$APP_ADDR/api/v1/users/$USER_ID" "$APP_LOG"
goal "cached GET throughput over the baseline's" "$RATIO" ">=" 0.80
p99_goal "cached GET"
LOADED_LABEL="cached GET /api/v1/users/{id}"
LOADED_URL="http://$APP_ADDR/api/v1/users/$USER_ID"

start_service uncached 18085 19095
compare "GET /api/v1/users/{id}, no cache" "axum + one sqlx row" \
    "$BARE_PID" "http://$BARE_ADDR/db/users/$USER_ID" \
    "$SERVICE_PID" "http://127.0.0.1:18085/api/v1/users/$USER_ID" "$SERVICE_LOG"
goal "uncached GET throughput over the baseline's" "$RATIO" ">=" 0.90
p99_goal "uncached GET"
stop "$SERVICE_PID"

compare "POST /api/v1/users" "axum + the same INSERTs in one transaction" \
    "$BARE_PID" "http://$BARE_ADDR/users" \
    "$APP_PID" "http://$APP_ADDR/api/v1/users" "$APP_LOG" -s bench/users_create.lua
goal "POST throughput over the baseline's" "$RATIO" ">=" 0.80
p99_goal "POST"

# The receiver shares the client's core: it stands for a collector on
# another machine.
COLLECTOR_ADDR=127.0.0.1:18083
env BARE_ADDR=$COLLECTOR_ADDR "${CLIENT_CPU[@]}" "$BIN/bench-bare" collector &
PIDS+=("$!")
wait_for "http://$COLLECTOR_ADDR/stats"
start_service exporting 18084 19094 REDIS_URL="$REDIS" \
    OTEL_EXPORTER_OTLP_ENDPOINT="http://$COLLECTOR_ADDR" \
    OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.1
compare "GET /api/v1/users/{id}, cached, OTLP export on" "the same, export off" \
    "$APP_PID" "http://$APP_ADDR/api/v1/users/$USER_ID" \
    "$SERVICE_PID" "http://127.0.0.1:18084/api/v1/users/$USER_ID" "$SERVICE_LOG"
goal "cached GET throughput with OTLP export on over off" "$RATIO" ">=" 0.90
stop "$SERVICE_PID" # flushes the last batch
EXPORTED=$(curl -fsS "http://$COLLECTOR_ADDR/stats")
if grep -q '"requests":0' <<<"$EXPORTED"; then
    echo "the receiver got no spans from the exporting service" >&2
    exit 1
fi
echo "  the receiver got $EXPORTED"
