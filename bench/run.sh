#!/usr/bin/env bash
# bench/run.sh <builddir> — run goc's benchmark workloads against Go.
#
# Builds the Go side (bench/go) with `go build` into <builddir>/bench/go, then,
# for every workload that exists in both languages, runs BENCH_ROUNDS rounds
# alternating goc and Go, in two configurations: default processors
# (GOCMAXPROCS / GOMAXPROCS unset) and one processor (both set to 1). Prints a
# comparison for readers, one Markdown table per configuration (goc's median
# beside Go's, goc / Go and what it means: "3.0× faster"), writes it to
# <builddir>/bench-results.md, and draws the same as a bar chart, each
# workload's cost relative to Go, in <builddir>/bench.svg (a plain SVG
# written here: no plotting tool needed). Raw runs: <builddir>/bench-raw.tsv,
# stderr of every run: <builddir>/bench-log.txt.
#
# The C programs (bench_<name>) must already be built, e.g.
#   cmake --build <builddir> --target goc_bench
# A workload whose C program is missing is skipped, with a note.
#
# Environment:
#   BENCH_ROUNDS=5        rounds per workload and configuration
#   BENCH_ONLY="a b"      only these workloads (space- or comma-separated)
#   BENCH_CONFIGS="default 1proc"   which configurations to run
#   BENCH_SMOKE=1         tiny N for every workload (checks the plumbing only)
#   BENCH_TIMEOUT=300     seconds before a single run is killed
#   BENCH_HTTP_SECONDS=10 length of each wrk measurement of the http workload
#   BENCH_HTTP_ROUNDS     rounds of the http workload (default: BENCH_ROUNDS,
#                         at most 3)
#   GO=go                 the go command
#
# The http workload is different: four servers (goc's bench_http_hello, Go
# net/http, Go on a raw listener, nginx) each loaded by wrk at 100 and 1,000
# connections; it runs in the default configuration only, reports
# requests/s, p99 latency and server CPU per request in a table of its own,
# and adds its time per request (1 / throughput) to the main table. wrk and
# nginx are installed from Debian (apt-get) when missing.
set -u

usage() {
    echo "usage: $0 <builddir>" >&2
    exit 2
}
[ $# -eq 1 ] || usage
mkdir -p "$1" || exit 1
B=$(cd "$1" && pwd) || exit 1
HERE=$(cd "$(dirname "$0")" && pwd)

ALL="spawn yield pingpong buffered select skynet parked mutex mutex_yield ctx_tree ctx_cancel dump fairness echo idleconn http"
ROUNDS=${BENCH_ROUNDS:-5}
case $ROUNDS in '' | *[!0-9]* | 0) echo "BENCH_ROUNDS must be a positive integer" >&2; exit 2 ;; esac
CONFIGS=${BENCH_CONFIGS:-default 1proc}
for cfg in $CONFIGS; do
    case $cfg in default | 1proc) ;; *) echo "BENCH_CONFIGS: unknown '$cfg' (default, 1proc)" >&2; exit 2 ;; esac
done
TIMEOUT=${BENCH_TIMEOUT:-300}
HTTP_SECONDS=${BENCH_HTTP_SECONDS:-10}
case $HTTP_SECONDS in '' | *[!0-9]* | 0) echo "BENCH_HTTP_SECONDS must be a positive integer" >&2; exit 2 ;; esac
HTTP_ROUNDS=${BENCH_HTTP_ROUNDS:-$((ROUNDS < 3 ? ROUNDS : 3))}
case $HTTP_ROUNDS in '' | *[!0-9]* | 0) echo "BENCH_HTTP_ROUNDS must be a positive integer" >&2; exit 2 ;; esac
if [ "${BENCH_SMOKE:-0}" = 1 ]; then
    HTTP_SECONDS=1
    HTTP_ROUNDS=1
fi
GO=${GO:-go}

ONLY=$(echo "${BENCH_ONLY:-}" | tr ',' ' ')
if [ -n "$ONLY" ]; then
    for w in $ONLY; do
        case " $ALL " in *" $w "*) ;; *) echo "BENCH_ONLY: unknown workload '$w' (known: $ALL)" >&2; exit 2 ;; esac
    done
    WORKLOADS=""
    for w in $ALL; do
        case " $ONLY " in *" $w "*) WORKLOADS="$WORKLOADS $w" ;; esac
    done
else
    WORKLOADS=$ALL
fi

# N per workload for BENCH_SMOKE=1 (argv[1] of both programs); empty: full N.
smoke_n() {
    case $1 in
    spawn | pingpong | select | mutex | mutex_yield | ctx_cancel) echo 10000 ;;
    ctx_tree) echo 10 ;;
    yield | buffered) echo 100000 ;;
    skynet) echo 10000 ;;
    parked | dump) echo 1000 ;;
    fairness) echo 20 ;;
    echo) echo 2000 ;;
    idleconn) echo 200 ;;
    esac
}

# ---------------------------------------------------------------------------
# Go side

GOBIN_DIR="$B/bench/go"
GOBENCH="$GOBIN_DIR/gobench"
mkdir -p "$GOBIN_DIR" "$B/go-cache/build" "$B/go-cache/path" || exit 1
echo "bench: building the Go side ($("$GO" version 2>/dev/null || echo "no go command"))" >&2
if ! (cd "$HERE/go" &&
    env GOCACHE="$B/go-cache/build" GOPATH="$B/go-cache/path" GOFLAGS=-mod=mod \
        GO111MODULE=on GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=0 \
        "$GO" build -o "$GOBENCH" .); then
    echo "bench: go build failed" >&2
    exit 1
fi

# ---------------------------------------------------------------------------
# C side: find bench_<name>

find_c() {
    local name=bench_$1 d
    [ "$1" = http ] && name=bench_http_hello
    for d in "$B/bench" "$B" "$B/bin"; do
        if [ -x "$d/$name" ] && [ -f "$d/$name" ]; then
            echo "$d/$name"
            return 0
        fi
    done
    find "$B" -maxdepth 4 -type f -name "$name" -perm -u+x 2>/dev/null | head -n 1
}

RAW="$B/bench-raw.tsv"
HTTP_RAW="$B/bench-http-raw.tsv"
LOG="$B/bench-log.txt"
SKIPPED="$B/bench-skipped.txt"
: >"$RAW"
: >"$LOG"
: >"$SKIPPED"
: >"$HTTP_RAW"

# run_one <config> <lang> <workload> <round> <cmd...>: one run, one raw line.
run_one() {
    local cfg=$1 lang=$2 w=$3 r=$4
    shift 4
    local out rc line value unit rss status
    echo "== [$cfg] $lang $w round $r: $*" >>"$LOG"
    out=$(
        if [ "$cfg" = 1proc ]; then
            export GOCMAXPROCS=1 GOMAXPROCS=1
        else
            unset GOCMAXPROCS GOMAXPROCS
        fi
        unset GOGC GOMEMLIMIT
        timeout "$TIMEOUT" "$@" 2>>"$LOG"
    )
    rc=$?
    line=$(printf '%s\n' "$out" | grep -E "^name=$w value=" | tail -n 1)
    [ -n "$line" ] && echo "$line" >>"$LOG"
    value=$(printf '%s\n' "$line" | sed -n 's/.* value=\([^ ]*\).*/\1/p')
    unit=$(printf '%s\n' "$line" | sed -n 's/.* unit=\([^ ]*\).*/\1/p')
    rss=$(printf '%s\n' "$line" | sed -n 's/.* rss_kb=\([^ ]*\).*/\1/p')
    if [ $rc -eq 0 ] && [ -n "$value" ]; then
        status=ok
    else
        status="fail:$rc"
        [ $rc -eq 124 ] && status="timeout"
        echo "[$cfg] $lang $w round $r: exit $rc, output: ${out:-<none>}" >>"$LOG"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$cfg" "$lang" "$w" "$r" "$status" \
        "${value:--}" "${unit:--}" "${rss:--}" >>"$RAW"
    # A workload that also reports its CPU time (cpu_ns=, echo) gets a
    # second row, <name>_cpu; one that reports a 99th percentile in ms
    # (p99_ms=, fairness), a row <name>_p99.
    local cpu p99
    cpu=$(printf '%s\n' "$line" | sed -n 's/.* cpu_ns=\([^ ]*\).*/\1/p')
    if [ -n "$cpu" ] && [ "$status" = ok ]; then
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$cfg" "$lang" "${w}_cpu" "$r" ok \
            "$cpu" "ns/op" "${rss:--}" >>"$RAW"
    fi
    p99=$(printf '%s\n' "$line" | sed -n 's/.* p99_ms=\([^ ]*\).*/\1/p')
    if [ -n "$p99" ] && [ "$status" = ok ]; then
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$cfg" "$lang" "${w}_p99" "$r" ok \
            "$p99" "ms" "${rss:--}" >>"$RAW"
    fi
    if [ "$status" = ok ]; then
        printf '%s %s %s' "$lang" "$value" "$unit" >&2
    else
        printf '%s %s' "$lang" "$status" >&2
    fi
}

START=$(date +%s)
for w in $WORKLOADS; do
    if [ -z "$(find_c "$w")" ]; then
        echo "bench: skipping $w: no bench_$w under $B (not built yet?)" >&2
        echo "$w" >>"$SKIPPED"
    fi
done

for cfg in $CONFIGS; do
    for w in $WORKLOADS; do
        [ "$w" = http ] && continue # below, on its own
        cbin=$(find_c "$w")
        [ -n "$cbin" ] || continue
        n=""
        [ "${BENCH_SMOKE:-0}" = 1 ] && n=$(smoke_n "$w")
        for r in $(seq 1 "$ROUNDS"); do
            printf '[%s] %s round %d/%d: ' "$cfg" "$w" "$r" "$ROUNDS" >&2
            # Alternate which language goes first, so neither always runs
            # on a machine warmed (or heated) by the other.
            if [ $((r % 2)) -eq 1 ]; then
                run_one "$cfg" goc "$w" "$r" "$cbin" $n
                printf ', ' >&2
                run_one "$cfg" go "$w" "$r" "$GOBENCH" "$w" $n
            else
                run_one "$cfg" go "$w" "$r" "$GOBENCH" "$w" $n
                printf ', ' >&2
                run_one "$cfg" goc "$w" "$r" "$cbin" $n
            fi
            echo >&2
        done
    done
done
# ---------------------------------------------------------------------------
# http: four servers under wrk (default configuration only)

HTTP_SERVERS="goc go goraw nginx"
HTTP_CONNS="100 1000"
HTTP_TMP=""
HTTP_PID=""
HTTP_NGINX_CONF=""

http_stop() {
    [ -n "$HTTP_PID" ] || return 0
    if [ -n "$HTTP_NGINX_CONF" ]; then
        nginx -p "$HTTP_TMP/nginx" -c "$HTTP_NGINX_CONF" -s stop 2>>"$LOG" ||
            kill "$HTTP_PID" 2>/dev/null
    else
        kill "$HTTP_PID" 2>/dev/null
    fi
    local i
    for i in $(seq 1 50); do
        kill -0 "$HTTP_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$HTTP_PID" 2>/dev/null
    wait "$HTTP_PID" 2>/dev/null
    HTTP_PID=""
    HTTP_NGINX_CONF=""
}

http_cleanup() {
    http_stop
    [ -n "$HTTP_TMP" ] && rm -rf "$HTTP_TMP"
    HTTP_TMP=""
}

# Install wrk and nginx (Debian) when missing. A package install that
# starts the system's nginx service is undone: only our own nginx runs.
http_tools() {
    local missing="" p
    command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
    command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$missing nginx"
    [ -z "$missing" ] && return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "bench: http: missing$missing and no apt-get" >&2
        return 0
    fi
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo -n"
    local had_nginx
    had_nginx=$(pgrep -x nginx 2>/dev/null | head -n 1)
    echo "bench: http: installing$missing (apt-get)" >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y $missing >>"$LOG" 2>&1 ||
        echo "bench: http: apt-get install$missing failed (see $LOG)" >&2
    if [ -z "$had_nginx" ] && pgrep -x nginx >/dev/null 2>&1; then
        $sudo invoke-rc.d nginx stop >>"$LOG" 2>&1 || $sudo nginx -s quit >>"$LOG" 2>&1
    fi
    case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin" ;; esac
}

http_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# utime + stime (clock ticks) of the given processes, summed.
http_ticks() {
    local t=0 p f
    for p in "$@"; do
        f=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
        set -- $f
        # after "pid (comm) ": state is field 1, utime 12, stime 13
        t=$((t + ${12} + ${13}))
    done
    echo "$t"
}

# The server's processes: the one started, and for nginx its workers.
http_pids() {
    echo "$HTTP_PID"
    [ -n "$HTTP_NGINX_CONF" ] && pgrep -P "$HTTP_PID" 2>/dev/null
}

# Peak RSS (VmHWM, KiB) of the server's processes, summed.
http_hwm() {
    local t=0 p v
    for p in $(http_pids); do
        v=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$p/status" 2>/dev/null)
        t=$((t + ${v:-0}))
    done
    echo "$t"
}

# http_start <server> <port>: start it in the background (HTTP_PID), 0 when
# it accepts connections within 5 s.
http_start() {
    local srv=$1 port=$2
    echo "== [default] http $srv on 127.0.0.1:$port" >>"$LOG"
    case $srv in
    goc) env -u GOCMAXPROCS "$HTTP_CBIN" "$port" 2>>"$LOG" >/dev/null & ;;
    go) env -u GOMAXPROCS -u GOGC -u GOMEMLIMIT "$GOBENCH" http-nethttp "$port" 2>>"$LOG" >/dev/null & ;;
    goraw) env -u GOMAXPROCS -u GOGC -u GOMEMLIMIT "$GOBENCH" http-raw "$port" 2>>"$LOG" >/dev/null & ;;
    nginx)
        mkdir -p "$HTTP_TMP/nginx/logs" "$HTTP_TMP/nginx/tmp"
        HTTP_NGINX_CONF="$HTTP_TMP/nginx/nginx.conf"
        cat >"$HTTP_NGINX_CONF" <<EOF
# Written by bench/run.sh for one run; removed afterwards.
daemon off;
master_process on;
worker_processes 2;
pid $HTTP_TMP/nginx/nginx.pid;
error_log $HTTP_TMP/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $HTTP_TMP/nginx/tmp/body;
    proxy_temp_path $HTTP_TMP/nginx/tmp/proxy;
    fastcgi_temp_path $HTTP_TMP/nginx/tmp/fastcgi;
    uwsgi_temp_path $HTTP_TMP/nginx/tmp/uwsgi;
    scgi_temp_path $HTTP_TMP/nginx/tmp/scgi;
    server {
        listen 127.0.0.1:$port backlog=4096;
        location / {
            default_type text/plain;
            return 200 "Hello, World!\n";
        }
    }
}
EOF
        nginx -p "$HTTP_TMP/nginx" -c "$HTTP_NGINX_CONF" 2>>"$LOG" >/dev/null &
        ;;
    esac
    HTTP_PID=$!
    local i
    for i in $(seq 1 50); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        kill -0 "$HTTP_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "[default] http $srv: not serving on port $port" >>"$LOG"
    http_stop
    return 1
}

# wrk's p99 ("99%   1.23ms") in microseconds.
http_p99_us() {
    awk '$1 == "99%" {
        v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
        m = (u == "us") ? 1 : (u == "ms") ? 1000 : (u == "s") ? 1000000 : (u == "m") ? 60000000 : -1
        if (m > 0) printf "%.1f", v * m
    }'
}

# http_measure <round> <server> <conns> <port>: one wrk run, one line in
# HTTP_RAW and, for goc and go, one in RAW (time per request).
http_measure() {
    local r=$1 srv=$2 c=$3 port=$4
    local out t0 t1 rps p99 reqs errs non2xx cpu status hwm pids
    pids=$(http_pids)
    t0=$(http_ticks $pids)
    out=$(timeout $((HTTP_SECONDS + 30)) wrk -t1 -c"$c" -d"${HTTP_SECONDS}s" --timeout 10s \
        --latency "http://127.0.0.1:$port/" 2>>"$LOG")
    local rc=$?
    t1=$(http_ticks $pids)
    printf '%s\n' "$out" >>"$LOG"
    rps=$(printf '%s\n' "$out" | sed -n 's/^Requests\/sec:[[:space:]]*\([0-9.]*\).*/\1/p')
    reqs=$(printf '%s\n' "$out" | sed -n 's/^[[:space:]]*\([0-9]*\) requests in .*/\1/p')
    p99=$(printf '%s\n' "$out" | http_p99_us)
    errs=$(printf '%s\n' "$out" | sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1+\2+\3+\4/p')
    errs=$((${errs:-0}))
    non2xx=$(printf '%s\n' "$out" | sed -n 's/.*Non-2xx or 3xx responses: \([0-9]*\).*/\1/p')
    cpu="-"
    if [ -n "$reqs" ] && [ "${reqs:-0}" -gt 0 ]; then
        cpu=$(awk -v d=$((t1 - t0)) -v hz="$HTTP_HZ" -v n="$reqs" 'BEGIN { printf "%.3f", d / hz * 1e6 / n }')
    fi
    status=ok
    if [ $rc -ne 0 ] || [ -z "$rps" ] || [ -z "$p99" ] || [ -n "$non2xx" ]; then
        status="fail:$rc"
        echo "[default] http $srv c=$c round $r: exit $rc, non-2xx ${non2xx:-0}" >>"$LOG"
    fi
    hwm=$(http_hwm)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$srv" "$c" "$status" "${rps:--}" \
        "${p99:--}" "$cpu" "${reqs:--}" "$errs" >>"$HTTP_RAW"
    if [ "$srv" = goc ] || [ "$srv" = go ]; then
        local lang=$srv value="-"
        [ "$status" = ok ] && value=$(awk -v x="$rps" 'BEGIN { printf "%.3f", 1e9 / x }')
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' default "$lang" "http_c$c" "$r" "$status" \
            "$value" "ns/req" "${hwm:--}" >>"$RAW"
    fi
    if [ "$status" = ok ]; then
        printf '%s c=%s %.0f req/s p99 %s us cpu %s us/req' "$srv" "$c" "$rps" "$p99" "$cpu" >&2
    else
        printf '%s c=%s %s' "$srv" "$c" "$status" >&2
    fi
    [ "$errs" -gt 0 ] && printf ' (%s socket errors)' "$errs" >&2
}

http_run() {
    HTTP_CBIN=$(find_c http)
    [ -n "$HTTP_CBIN" ] || return 0
    case " $CONFIGS " in
    *" default "*) ;;
    *)
        echo "bench: http runs in the default configuration only; skipped" >&2
        return 0
        ;;
    esac
    http_tools
    if ! command -v wrk >/dev/null 2>&1; then
        echo "bench: skipping http: no wrk" >&2
        echo http >>"$SKIPPED"
        return 0
    fi
    local servers=$HTTP_SERVERS
    if ! command -v nginx >/dev/null 2>&1; then
        echo "bench: http: no nginx, running without it" >&2
        servers="goc go goraw"
    fi
    HTTP_HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)
    HTTP_TMP=$(mktemp -d "${TMPDIR:-/tmp}/goc-bench-http.XXXXXX") || return 1
    chmod 755 "$HTTP_TMP"
    trap 'http_cleanup; exit 130' INT TERM
    trap 'http_cleanup' EXIT
    local r srv c port order
    for r in $(seq 1 "$HTTP_ROUNDS"); do
        # Rotate the order of the servers each round.
        set -- $servers
        order=""
        local k
        for k in $(seq 1 $(((r - 1) % $#))); do
            order="$order $1"
            shift
        done
        order="$* $order"
        for srv in $order; do
            port=$(http_free_port)
            printf '[default] http round %d/%d: ' "$r" "$HTTP_ROUNDS" >&2
            if ! http_start "$srv" "$port"; then
                printf '%s failed to start\n' "$srv" >&2
                for c in $HTTP_CONNS; do
                    printf '%s\t%s\t%s\tfail:start\t-\t-\t-\t-\t0\n' "$r" "$srv" "$c" >>"$HTTP_RAW"
                done
                continue
            fi
            # Warm-up, not counted: caches, lazily built state, GC pacing.
            wrk -t1 -c100 -d1s "http://127.0.0.1:$port/" >/dev/null 2>&1
            local first=1
            for c in $HTTP_CONNS; do
                [ $first = 1 ] || printf '; ' >&2
                first=0
                http_measure "$r" "$srv" "$c" "$port"
            done
            echo >&2
            http_stop
        done
    done
    http_cleanup
    trap - INT TERM EXIT
}

case " $WORKLOADS " in *" http "*) http_run ;; esac
ELAPSED=$(($(date +%s) - START))

# ---------------------------------------------------------------------------
# Medians and the table

CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
export BENCH_META_NCPU=$(nproc 2>/dev/null || echo "?")
export BENCH_META_CPU=${CPU_MODEL:-unknown}
export BENCH_META_KERNEL=$(uname -sr)
export BENCH_META_GO=$("$GO" version 2>/dev/null)
export BENCH_META_CC=$(sed -n 's/^CMAKE_C_COMPILER:[^=]*=//p' "$B/CMakeCache.txt" 2>/dev/null | head -n 1)
export BENCH_META_BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[^=]*=//p' "$B/CMakeCache.txt" 2>/dev/null | head -n 1)
export BENCH_META_ROUNDS=$ROUNDS
export BENCH_META_SMOKE=${BENCH_SMOKE:-0}
export BENCH_META_ELAPSED=$ELAPSED
export BENCH_META_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')

export BENCH_META_HTTP_SECONDS=$HTTP_SECONDS
export BENCH_META_HTTP_ROUNDS=$HTTP_ROUNDS
python3 - "$RAW" "$SKIPPED" "$B/bench-results.md" "$B/bench.svg" "$WORKLOADS" "$CONFIGS" "$HTTP_RAW" <<'PY'
import html
import os
import statistics
import sys

raw_path, skipped_path, out_path, svg_path, workloads, configs, http_raw_path = sys.argv[1:8]
# http appears in the main table as its time per request at each load.
# echo also as its CPU time per round trip.
EXPAND = {"http": ["http_c100", "http_c1000"], "echo": ["echo", "echo_cpu"],
          "fairness": ["fairness", "fairness_p99"]}
workloads = [x for w in workloads.split() for x in EXPAND.get(w, [w])]
configs = configs.split()
env = os.environ.get

# What each workload measures, in a reader's words (bench/README.md has the
# details). Every number is a cost: lower is better.
WHAT = {
    "spawn": "start a goroutine and wait for it",
    "yield": "switch between two goroutines",
    "pingpong": "round trip over unbuffered channels",
    "buffered": "one item through a buffered channel",
    "select": "receive through a select",
    "skynet": "1.1 million goroutines in a tree",
    "parked": "memory of a blocked goroutine",
    "mutex": "contended mutex lock + unlock",
    "mutex_yield": "mutex lock + unlock, waiters park",
    "ctx_tree": "cancel a context with 1,000 children",
    "ctx_cancel": "create and cancel a context",
    "dump": "dump 10,000 parked goroutines",
    "fairness": "1 ms sleeps beside a spinner, 1 proc: worst lateness",
    "fairness_p99": "the same: 99th percentile, sleeps during the spin",
    "echo": "64-byte TCP echo round trip, 100 conns",
    "echo_cpu": "the same: CPU time (all threads) per round trip",
    "idleconn": "server memory per idle TCP connection",
    "http_c100": "HTTP hello, 100 conns: 1 / throughput (Go: net/http)",
    "http_c1000": "HTTP hello, 1,000 conns: 1 / throughput (Go: net/http)",
}

runs = {}
for line in open(raw_path):
    f = line.rstrip("\n").split("\t")
    if len(f) != 8:
        continue
    cfg, lang, w, _r, status, value, unit, rss = f
    d = runs.setdefault((cfg, w, lang), {"ok": [], "rss": [], "unit": None, "bad": []})
    if status == "ok":
        d["ok"].append(float(value))
        d["unit"] = unit
        try:
            d["rss"].append(float(rss))
        except ValueError:
            pass
    else:
        d["bad"].append(status)

skipped = [l.strip() for l in open(skipped_path) if l.strip()]
if "http" in skipped:
    skipped += ["http_c100", "http_c1000"]


def fmt_num(v):
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 100:
        return f"{v:.1f}"
    return f"{v:.2f}"


def cell(d, unit):
    if d is None:
        return "—", None
    if not d["ok"]:
        return "FAIL (" + ", ".join(sorted(set(d["bad"]))) + ")", None
    m = statistics.median(d["ok"])
    s = f"{fmt_num(m)} {unit}"
    if d["bad"]:
        s += f" ({len(d['bad'])} of {len(d['bad']) + len(d['ok'])} runs failed)"
    return s, m


def verdict(ratio, memory, late=False):
    """goc/Go as words: lower is better for every workload."""
    if ratio is None:
        return "—"
    if 0.95 <= ratio <= 1.05:
        return f"{ratio:.2f} (about the same)"
    better, worse = ("less memory", "more memory") if memory else ("faster", "slower")
    if late:  # a lateness (fairness): less late is better
        better, worse = "less late", "later"
    if ratio < 1:
        return f"{ratio:.2f} ({1 / ratio:.1f}× {better})"
    return f"{ratio:.2f} ({ratio:.1f}× {worse})"


ncpu = env("BENCH_META_NCPU", "?")
CFG_TITLE = {
    "default": f"All processors ({ncpu} CPUs: GOCMAXPROCS and GOMAXPROCS unset)",
    "1proc": "One processor (GOCMAXPROCS=1, GOMAXPROCS=1)",
}

# rows[cfg] = [(workload, unit, goc median, Go median, ratio)]
rows = {}
out = []
out.append("# goc and Go, side by side")
out.append("")
out.append("Each workload is the same program twice, in C with goc and in Go. The numbers")
rounds = env("BENCH_META_ROUNDS", "?")
of_runs = "from one run each" if rounds == "1" else f"medians of {rounds} runs each"
out.append(f"are {of_runs} (goc and Go taking turns), and every one is a cost (time")
out.append("per operation, or memory): lower is better. **goc / Go** is goc's number")
out.append("divided by Go's: below 1, goc is faster (or smaller).")
out.append("")
out.append(f"- machine: {ncpu} × {env('BENCH_META_CPU', '?')}, {env('BENCH_META_KERNEL', '')}; "
           f"{env('BENCH_META_DATE', '')}")
out.append(f"- Go: {env('BENCH_META_GO', '?')}; goc: {env('BENCH_META_CC') or '?'}, "
           f"build type {env('BENCH_META_BUILD_TYPE') or '?'}; "
           f"total run time {env('BENCH_META_ELAPSED', '?')} s")
if env("BENCH_META_SMOKE") == "1":
    out.append("- **BENCH_SMOKE=1: tiny N, these numbers mean nothing**")
if "yield" in workloads:
    out.append("- `yield` runs on one processor in both configurations, by design")
if "fairness" in workloads:
    out.append("- `fairness` runs on one processor in both configurations, by design")
for cfg in configs:
    rows[cfg] = []
    out.append("")
    out.append("## " + CFG_TITLE.get(cfg, cfg))
    out.append("")
    out.append("| workload | what it measures | goc | Go | goc / Go | peak memory, goc / Go |")
    out.append("|---|---|---:|---:|---|---:|")
    for w in workloads:
        if w in skipped:
            continue
        dc = runs.get((cfg, w, "goc"))
        dg = runs.get((cfg, w, "go"))
        if dc is None and dg is None:
            continue
        unit = (dc and dc["unit"]) or (dg and dg["unit"]) or "?"
        sc, mc = cell(dc, unit)
        sg, mg = cell(dg, unit)
        ratio = mc / mg if mc is not None and mg else None
        rc = statistics.median(dc["rss"]) if dc and dc["rss"] else None
        rg = statistics.median(dg["rss"]) if dg and dg["rss"] else None
        mem = "—"
        if rc is not None and rg is not None:
            mem = f"{rc / 1024:.1f} / {rg / 1024:.1f} MiB"
        rows[cfg].append((w, unit, mc, mg, ratio))
        out.append("| {} | {} | {} | {} | {} | {} |".format(
            w, WHAT.get(w, ""), sc, sg, verdict(ratio, unit.startswith("B/"), w.startswith("fairness")), mem))
if skipped:
    out.append("")
    out.append("Not run (no C program built, or no wrk): " + ", ".join(skipped) + ".")

# ---------------------------------------------------------------------------
# The http workload in full: every server, requests/s, p99, CPU per request.

HTTP_NAMES = {
    "goc": "goc (bench_http_hello)",
    "go": "Go net/http",
    "goraw": "Go, raw listener",
    "nginx": "nginx (2 workers)",
}
http = {}
try:
    for line in open(http_raw_path):
        f = line.rstrip("\n").split("\t")
        if len(f) != 9:
            continue
        r, srv, c, status, rps, p99, cpu, reqs, errs = f
        d = http.setdefault((int(c), srv), {"rps": [], "p99": [], "cpu": [], "bad": [], "errs": 0})
        if status == "ok":
            d["rps"].append(float(rps))
            d["p99"].append(float(p99))
            if cpu != "-":
                d["cpu"].append(float(cpu))
            d["errs"] += int(errs or 0)
        else:
            d["bad"].append(status)
except FileNotFoundError:
    pass


def med(xs):
    return statistics.median(xs) if xs else None


if http:
    hr = env("BENCH_META_HTTP_ROUNDS", "?")
    out.append("")
    out.append("## HTTP hello: requests/s, p99 latency, server CPU per request")
    out.append("")
    out.append(f"wrk -t1 -c<conns> -d{env('BENCH_META_HTTP_SECONDS', '?')}s --latency against each "
               "server on 127.0.0.1 (all processors), after a 1 s warm-up; "
               + ("one run each" if hr == "1" else f"medians of {hr} runs each") + ". "
               "CPU per request: the server's utime + stime (all its threads, and for nginx "
               "its workers) over the run, divided by the requests wrk completed. "
               "Here higher requests/s is better; goc's ratios are goc / that server.")
    for c in sorted({k[0] for k in http}):
        out.append("")
        out.append(f"### {c:,} connections")
        out.append("")
        out.append("| server | requests/s | p99 | CPU per request | goc req/s ÷ this | "
                   "goc p99 ÷ this | goc CPU ÷ this |")
        out.append("|---|---:|---:|---:|---:|---:|---:|")
        g = http.get((c, "goc"))
        grps, gp99, gcpu = (med(g["rps"]), med(g["p99"]), med(g["cpu"])) if g else (None,) * 3
        for srv in ("goc", "go", "goraw", "nginx"):
            d = http.get((c, srv))
            if d is None:
                continue
            name = HTTP_NAMES.get(srv, srv)
            if not d["rps"]:
                out.append(f"| {name} | FAIL ({', '.join(sorted(set(d['bad'])))}) | | | | | |")
                continue
            rps, p99, cpu = med(d["rps"]), med(d["p99"]), med(d["cpu"])
            p99s = f"{p99 / 1000:.2f} ms" if p99 >= 1000 else f"{p99:.0f} µs"
            cpus = f"{cpu:.1f} µs" if cpu is not None else "—"
            note = ""
            if d["errs"]:
                note += f" ({d['errs']} socket errors)"
            if d["bad"]:
                note += f" ({len(d['bad'])} runs failed)"

            def ratio(a, b):
                return f"{a / b:.2f}" if a is not None and b else "—"
            if srv == "goc":
                r1 = r2 = r3 = "1"
            else:
                r1, r2, r3 = ratio(grps, rps), ratio(gp99, p99), ratio(gcpu, cpu)
            out.append(f"| {name} | {rps:,.0f}{note} | {p99s} | {cpus} | {r1} | {r2} | {r3} |")

# ---------------------------------------------------------------------------
# The chart: per configuration, for each workload a bar for goc and one for
# Go, as goc's cost relative to Go's (Go = 1). A plain SVG, no dependency.

BAR, GAP, LABEL_W, BAR_W, RIGHT_W = 14, 3, 150, 420, 190
WIDTH = LABEL_W + BAR_W + RIGHT_W
GOC_COLOR, GO_COLOR = "#1f6fb2", "#a9b4bf"
svg = []
y = 0


def text(x, y, s, anchor="start", size=12, weight="normal", color="#222"):
    svg.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" font-weight="{weight}" '
               f'fill="{color}" text-anchor="{anchor}">{html.escape(s)}</text>')


def rect(x, y, w, h, color):
    svg.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.5):.1f}" height="{h}" '
               f'fill="{color}"/>')


y += 24
text(WIDTH / 2, y, "goc and Go: cost of each workload relative to Go (shorter is better)",
     anchor="middle", size=15, weight="bold")
y += 20
rect(LABEL_W, y - 10, 12, 10, GOC_COLOR)
text(LABEL_W + 16, y, "goc")
rect(LABEL_W + 60, y - 10, 12, 10, GO_COLOR)
text(LABEL_W + 76, y, "Go (= 1)")
text(LABEL_W + 150, y, f"{of_runs}; {ncpu} × {env('BENCH_META_CPU', '?')}"[:70],
     size=11, color="#555")
for cfg in configs:
    if not rows.get(cfg):
        continue
    y += 30
    text(8, y, CFG_TITLE.get(cfg, cfg), size=13, weight="bold")
    y += 8
    scale_max = max([1.0] + [r[4] for r in rows[cfg] if r[4] is not None])
    px = BAR_W / (scale_max * 1.05)
    top = y
    for w, unit, mc, mg, ratio in rows[cfg]:
        y += 6
        text(LABEL_W - 8, y + BAR + 1, w, anchor="end")
        if ratio is None:
            text(LABEL_W + 4, y + BAR, "failed or missing: see the table", color="#b00")
            y += 2 * BAR + GAP
            continue
        rect(LABEL_W, y, ratio * px, BAR, GOC_COLOR)
        text(LABEL_W + ratio * px + 4, y + BAR - 3,
             f"{ratio:.2f} ({fmt_num(mc)} {unit})", size=11)
        y += BAR + GAP
        rect(LABEL_W, y, px, BAR, GO_COLOR)
        text(LABEL_W + px + 4, y + BAR - 3, f"1 ({fmt_num(mg)} {unit})", size=11, color="#555")
        y += BAR
    y += 6
    # Go's mark (1.0) across the panel
    svg.append(f'<line x1="{LABEL_W + px:.1f}" y1="{top:.1f}" x2="{LABEL_W + px:.1f}" '
               f'y2="{y:.1f}" stroke="#555" stroke-dasharray="3,3"/>')
    svg.append(f'<line x1="{LABEL_W}" y1="{top:.1f}" x2="{LABEL_W}" y2="{y:.1f}" stroke="#222"/>')
y += 16
if env("BENCH_META_SMOKE") == "1":
    text(8, y, "BENCH_SMOKE=1: tiny N, these numbers mean nothing", color="#b00")
    y += 16
doc = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{y:.0f}" '
       f'viewBox="0 0 {WIDTH} {y:.0f}" font-family="sans-serif">',
       f'<rect width="100%" height="100%" fill="white"/>'] + svg + ["</svg>", ""]
with open(svg_path, "w") as fh:
    fh.write("\n".join(doc))

out.append("")
out.append(f"Chart: {svg_path} (each workload's cost relative to Go).")
out.append("")
text_out = "\n".join(out)
with open(out_path, "w") as fh:
    fh.write(text_out)
print(text_out)
PY
status=$?
echo "bench: table written to $B/bench-results.md, chart to $B/bench.svg (raw runs: $RAW, stderr: $LOG)" >&2
exit $status
