#!/usr/bin/env bash
# Run the flagship tool, goc-sum, on a real tree (default /usr/include) with
# sha256, time it beside coreutils pipelines, and check that its output is
# byte for byte the sequential pipeline's:
#
#   goc-sum -a sha256 DIR                       (default -j: 4 x processors)
#   goc-sum -a sha256 -j 1 DIR                  (one digester: OpenSSL vs coreutils alone)
#   find DIR -xtype f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
#   find DIR -xtype f -print0 | xargs -0 -P2 -n 256 sha256sum
#
# -xtype f, not -type f: goc-sum also hashes symlinks that lead to regular
# files (as sha256sum does when given them), and /usr/include has some, so
# -xtype f is the same selection. Each command runs FLAGSHIP_RUNS times
# (default 5) after a warm-up that fills the page cache; the median elapsed
# time is reported.
#
#   scripts/run-flagship.sh [build-dir] [dir]    (defaults: build, /usr/include)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
case $build in
/*) ;;
*) build=$root/$build ;;
esac
dir=${2:-/usr/include}
runs=${FLAGSHIP_RUNS:-5}
sum=$build/tools/goc-sum

echo "=== flagship: goc-sum on $dir (sha256)"
if [ ! -x "$sum" ]; then
    echo "run-flagship: $sum was not built (is libcrypto / libssl-dev installed?)" >&2
    exit 1
fi
if [ ! -d "$dir" ]; then
    echo "run-flagship: $dir is not a directory" >&2
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/goc-flagship.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export LC_ALL=C

seq_pipeline() { find "$dir" -xtype f -print0 | sort -z | xargs -0 -r sha256sum; }
par_pipeline() { find "$dir" -xtype f -print0 | xargs -0 -r -P2 -n 256 sha256sum; }

# Warm-up: page cache, and the outputs to compare.
"$sum" -a sha256 "$dir" >"$tmp/goc.txt"
seq_pipeline >"$tmp/seq.txt"
par_pipeline >/dev/null

# median_time <command...>: run it $runs times, print the median seconds.
median_time() {
    local -a times=()
    local i t0 t1
    for ((i = 0; i < runs; i++)); do
        t0=$EPOCHREALTIME
        "$@" >/dev/null
        t1=$EPOCHREALTIME
        times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

procs=$(nproc)
t_goc=$(median_time "$sum" -a sha256 "$dir")
t_goc1=$(median_time "$sum" -a sha256 -j 1 "$dir")
t_seq=$(median_time seq_pipeline)
t_par=$(median_time par_pipeline)

files=$(wc -l <"$tmp/seq.txt")
bytes=$(find "$dir" -xtype f -print0 | xargs -0 -r stat -L -c %s | awk '{ s += $1 } END { print s + 0 }')
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fx", (b > 0 ? a / b : 0) }'; }

printf '%d files, %.1f MiB, %s CPUs, GOCMAXPROCS=%s; median of %d runs (warm cache)\n' \
    "$files" "$(awk -v b="$bytes" 'BEGIN { print b / 1048576 }')" "$procs" \
    "${GOCMAXPROCS:-default}" "$runs"
printf '  %-52s %8.3f s\n' "goc-sum -a sha256 (default -j: 4 x processors)" "$t_goc"
printf '  %-52s %8.3f s\n' "goc-sum -a sha256 -j 1" "$t_goc1"
printf '  %-52s %8.3f s   goc-sum is %s faster\n' "find | sort -z | xargs -0 sha256sum (sequential)" \
    "$t_seq" "$(ratio "$t_seq" "$t_goc")"
printf '  %-52s %8.3f s   goc-sum is %s faster\n' "find | xargs -0 -P2 -n 256 sha256sum" \
    "$t_par" "$(ratio "$t_par" "$t_goc")"
printf '  (goc-sum -j 1 vs sequential: %s: OpenSSL vs coreutils hashing on one digester)\n' \
    "$(ratio "$t_seq" "$t_goc1")"

if cmp -s "$tmp/seq.txt" "$tmp/goc.txt"; then
    echo "goc-sum output: identical to the sequential pipeline ($files lines)"
else
    echo "run-flagship: goc-sum output differs from the sequential pipeline:" >&2
    diff "$tmp/seq.txt" "$tmp/goc.txt" | head -20 >&2
    exit 1
fi
