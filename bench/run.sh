#!/usr/bin/env bash
# bench/run.sh <builddir> — run goc's benchmark workloads against Go.
#
# Builds the Go side (bench/go) with `go build` into <builddir>/bench/go, then,
# for every workload that exists in both languages, runs BENCH_ROUNDS rounds
# alternating goc and Go, in two configurations: default processors
# (GOCMAXPROCS / GOMAXPROCS unset) and one processor (both set to 1). Prints a
# Markdown table of medians and ratios and writes it to
# <builddir>/bench-results.md (raw runs: <builddir>/bench-raw.tsv, stderr of
# every run: <builddir>/bench-log.txt).
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
#   GO=go                 the go command
set -u

usage() {
    echo "usage: $0 <builddir>" >&2
    exit 2
}
[ $# -eq 1 ] || usage
mkdir -p "$1" || exit 1
B=$(cd "$1" && pwd) || exit 1
HERE=$(cd "$(dirname "$0")" && pwd)

ALL="spawn yield pingpong buffered select skynet parked mutex mutex_yield ctx_tree ctx_cancel"
ROUNDS=${BENCH_ROUNDS:-5}
case $ROUNDS in '' | *[!0-9]* | 0) echo "BENCH_ROUNDS must be a positive integer" >&2; exit 2 ;; esac
CONFIGS=${BENCH_CONFIGS:-default 1proc}
for cfg in $CONFIGS; do
    case $cfg in default | 1proc) ;; *) echo "BENCH_CONFIGS: unknown '$cfg' (default, 1proc)" >&2; exit 2 ;; esac
done
TIMEOUT=${BENCH_TIMEOUT:-300}
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
    parked) echo 1000 ;;
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
    for d in "$B/bench" "$B" "$B/bin"; do
        if [ -x "$d/$name" ] && [ -f "$d/$name" ]; then
            echo "$d/$name"
            return 0
        fi
    done
    find "$B" -maxdepth 4 -type f -name "$name" -perm -u+x 2>/dev/null | head -n 1
}

RAW="$B/bench-raw.tsv"
LOG="$B/bench-log.txt"
SKIPPED="$B/bench-skipped.txt"
: >"$RAW"
: >"$LOG"
: >"$SKIPPED"

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

python3 - "$RAW" "$SKIPPED" "$B/bench-results.md" "$WORKLOADS" "$CONFIGS" <<'PY'
import os
import statistics
import sys

raw_path, skipped_path, out_path, workloads, configs = sys.argv[1:6]
workloads = workloads.split()
configs = configs.split()
env = os.environ.get

TARGETS = {  # goc/Go time ratio targets (BENCH.md / the issues)
    "spawn": 0.10, "yield": 0.20, "pingpong": 0.30, "buffered": 0.30,
    "select": 0.30, "skynet": 0.50, "parked": 1.0, "mutex": 0.65,
    "mutex_yield": 0.7, "ctx_tree": 1.0, "ctx_cancel": 1.0,
}
RSS_TARGETS = {"skynet": 1.0}  # goc/Go peak RSS ratio targets

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


def fmt_num(v):
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 100:
        return f"{v:.1f}"
    return f"{v:.2f}"


def fmt_mib(kb):
    return f"{kb / 1024:.1f} MiB"


def cell(d):
    if d is None:
        return "—", None
    if not d["ok"]:
        return "FAIL (" + ", ".join(sorted(set(d["bad"]))) + ")", None
    m = statistics.median(d["ok"])
    s = fmt_num(m)
    if d["bad"]:
        s += f" ({len(d['bad'])} of {len(d['bad']) + len(d['ok'])} runs failed)"
    return s, m


CFG_TITLE = {
    "default": "Default processors (GOCMAXPROCS and GOMAXPROCS unset: {} CPUs)".format(
        env("BENCH_META_NCPU", "?")),
    "1proc": "One processor (GOCMAXPROCS=1, GOMAXPROCS=1)",
}

out = []
out.append("# goc vs Go benchmarks")
out.append("")
out.append(f"- date: {env('BENCH_META_DATE', '')}; machine: {env('BENCH_META_NCPU', '?')} x "
           f"{env('BENCH_META_CPU', '?')}, {env('BENCH_META_KERNEL', '')}")
out.append(f"- Go: {env('BENCH_META_GO', '?')}; goc: {env('BENCH_META_CC') or '?'}, "
           f"build type {env('BENCH_META_BUILD_TYPE') or '?'}")
out.append(f"- median of {env('BENCH_META_ROUNDS', '?')} rounds per cell, goc and Go alternating; "
           f"total run time {env('BENCH_META_ELAPSED', '?')} s")
if env("BENCH_META_SMOKE") == "1":
    out.append("- **BENCH_SMOKE=1: tiny N, these numbers mean nothing**")
out.append("- goc/Go < 1 means goc is faster (or smaller); target is the goc/Go ratio to reach; "
           "`yield` runs on one processor in both configurations by design")
for cfg in configs:
    out.append("")
    out.append("## " + CFG_TITLE.get(cfg, cfg))
    out.append("")
    out.append("| workload | unit | goc (median) | Go (median) | goc/Go | target | "
               "goc peak RSS | Go peak RSS | RSS goc/Go |")
    out.append("|---|---|---:|---:|---:|---|---:|---:|---:|")
    for w in workloads:
        if w in skipped:
            continue
        dc = runs.get((cfg, w, "goc"))
        dg = runs.get((cfg, w, "go"))
        if dc is None and dg is None:
            continue
        unit = (dc and dc["unit"]) or (dg and dg["unit"]) or "?"
        sc, mc = cell(dc)
        sg, mg = cell(dg)
        ratio = mc / mg if mc is not None and mg else None
        rc = statistics.median(dc["rss"]) if dc and dc["rss"] else None
        rg = statistics.median(dg["rss"]) if dg and dg["rss"] else None
        rratio = rc / rg if rc is not None and rg else None
        t = TARGETS.get(w)
        target = ""
        if t is not None:
            target = f"≤{t:.2f}"
            met = ratio is not None and ratio <= t
            if w in RSS_TARGETS:
                target += f", RSS ≤{RSS_TARGETS[w]:.1f}"
                met = met and rratio is not None and rratio <= RSS_TARGETS[w]
            if ratio is not None:
                target += " met" if met else " **missed**"
        out.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            w, unit, sc, sg,
            f"{ratio:.3f}" if ratio is not None else "—",
            target,
            fmt_mib(rc) if rc is not None else "—",
            fmt_mib(rg) if rg is not None else "—",
            f"{rratio:.2f}" if rratio is not None else "—"))
if skipped:
    out.append("")
    out.append("Skipped (no C program built): " + ", ".join(skipped) + ".")
out.append("")
text = "\n".join(out)
with open(out_path, "w") as fh:
    fh.write(text)
print(text)
PY
status=$?
echo "bench: table written to $B/bench-results.md (raw runs: $RAW, stderr: $LOG)" >&2
exit $status
