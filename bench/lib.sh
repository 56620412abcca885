# Helpers for bench/run.sh (sourced): pinning, processes, wrk runs,
# medians and the report's rows.
#
# Pinning: with two cores or more and `taskset` (util-linux), every server
# runs on CPU 0 and wrk on CPU 1, so client and server never take each
# other's core. BENCH_PIN=0 runs everything unpinned, for machines where
# pinning is not possible; the report says which mode it ran in.

DURATION=${BENCH_DURATION:-5s}
WARMUP=${BENCH_WARMUP:-1s}
RUNS=${BENCH_RUNS:-3}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-1}

SERVER_CPU=()
CLIENT_CPU=()
PINNED="unpinned"
if [ "${BENCH_PIN:-1}" != 0 ] && command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
    SERVER_CPU=(taskset -c 0)
    CLIENT_CPU=(taskset -c 1)
    PINNED="servers on CPU 0, wrk on CPU 1"
fi

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# The peak RSS since the last reset_peak (VmHWM), in KiB.
peak_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
reset_peak() { echo 5 >"/proc/$1/clear_refs"; }

wait_for() { # url
    for _ in $(seq 1 200); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "$1 did not answer" >&2
    return 1
}

stop() { # pid: SIGTERM, then wait for it
    [ -n "${1:-}" ] || return 0
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

to_ms() { # wrk latency like 1.23ms, 850.00us, 1.10s
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
        else print v }'
}

median() { # numbers...
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# One wrk run against a server. Prints "rps p50_ms p99_ms peak_kib
# requests"; fails on any non-2xx answer or socket error.
#   wrk_run PID URL DURATION CONNECTIONS [wrk arguments...]
wrk_run() {
    local pid=$1 url=$2 duration=$3 connections=$4 report
    shift 4
    report=$(mktemp)
    reset_peak "$pid"
    "${CLIENT_CPU[@]}" wrk -t"$THREADS" -c"$connections" -d"$duration" --latency "$@" "$url" >"$report"
    if grep -qE "Non-2xx|Socket errors" "$report"; then
        echo "errors from $url:" >&2
        cat "$report" >&2
        rm -f "$report"
        return 1
    fi
    awk -v peak="$(peak_kib "$pid")" '
        /^Requests\/sec/ { rps = $2 }
        $1 == "50%" { p50 = $2 }
        $1 == "99%" { p99 = $2 }
        / requests in / { requests = $1 }
        END { print rps, p50, p99, peak, requests }' "$report" | {
        read -r rps p50 p99 peak requests
        echo "$rps $(to_ms "$p50") $(to_ms "$p99") $peak $requests"
    }
    rm -f "$report"
}

ROWS=()
GOALS=()

# Measures one route against its baseline: a warm-up of each, then RUNS
# runs alternating baseline and service, and records the medians as a
# report row. The service's log (LOG_FILE, its stdout, opened to append)
# gives the log bytes per request; it is emptied before each run.
#   compare LABEL BASE_LABEL BASE_PID BASE_URL PID URL LOG_FILE [wrk arguments...]
# Sets RATIO (service over baseline throughput) and P99_RATIO.
compare() {
    local label=$1 base_label=$2 base_pid=$3 base_url=$4 pid=$5 url=$6 log=$7
    shift 7
    local base_rps=() base_p50=() base_p99=() rps=() p50=() p99=()
    local base_peak=0 peak=0 requests=0 log_bytes=0 run r a b c d e
    echo "  $label: warm-up, then $RUNS × $DURATION each, alternating with $base_label"
    wrk_run "$base_pid" "$base_url" "$WARMUP" "$CONNECTIONS" "$@" >/dev/null
    wrk_run "$pid" "$url" "$WARMUP" "$CONNECTIONS" "$@" >/dev/null
    for run in $(seq 1 "$RUNS"); do
        r=$(wrk_run "$base_pid" "$base_url" "$DURATION" "$CONNECTIONS" "$@")
        read -r a b c d e <<<"$r"
        base_rps+=("$a") base_p50+=("$b") base_p99+=("$c")
        [ "$d" -gt "$base_peak" ] && base_peak=$d
        : >"$log" # the service appends: it goes on at the new end
        r=$(wrk_run "$pid" "$url" "$DURATION" "$CONNECTIONS" "$@")
        read -r a b c d e <<<"$r"
        rps+=("$a") p50+=("$b") p99+=("$c")
        [ "$d" -gt "$peak" ] && peak=$d
        requests=$((requests + e))
        log_bytes=$((log_bytes + $(stat -c %s "$log")))
        echo "    run $run: $base_label ${base_rps[-1]} req/s, service ${rps[-1]} req/s"
    done
    local mb mp50 mp99 ms sp50 sp99
    mb=$(median "${base_rps[@]}") mp50=$(median "${base_p50[@]}") mp99=$(median "${base_p99[@]}")
    ms=$(median "${rps[@]}") sp50=$(median "${p50[@]}") sp99=$(median "${p99[@]}")
    RATIO=$(awk -v a="$ms" -v b="$mb" 'BEGIN { printf "%.2f", a / b }')
    P99_RATIO=$(awk -v a="$sp99" -v b="$mp99" 'BEGIN { printf "%.2f", a / b }')
    local per_request
    per_request=$(awk -v b="$log_bytes" -v n="$requests" 'BEGIN { printf "%.0f", n ? b / n : 0 }')
    ROWS+=("| $label | $ms | $base_label | $mb | **$RATIO** | $sp50 / $mp50 | $sp99 / $mp99 | $(mib "$peak") / $(mib "$base_peak") | $per_request |")
}

# Records a goal line: goal TEXT MEASURED OP LIMIT (OP is >= or <=).
goal() {
    local text=$1 measured=$2 op=$3 limit=$4 met
    met=$(awk -v m="$measured" -v l="$limit" -v op="$op" \
        'BEGIN { print ((op == ">=" && m >= l) || (op == "<=" && m <= l)) ? "met" : "**not met**" }')
    GOALS+=("- $text: $measured (goal $op $limit): $met")
}

# Records the p99 goal of the last compare: at most 1.5 × the baseline's.
p99_goal() { goal "$1 p99 over the baseline's" "$P99_RATIO" "<=" 1.5; }
