#!/usr/bin/env bash
# Run every example program: one per examples/<name>.c, built as
# <build-dir>/examples/<name>. Prints a header per example; fails if any
# example fails, is missing from the build, or runs longer than
# EXAMPLE_TIMEOUT seconds (default 60). An example that needs arguments to
# end by itself names them in a source line "/* example-args: ... */" (as
# examples/CMakeLists.txt does for CTest).
#
#   scripts/run-examples.sh [build-dir]     (default: build)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
case $build in
/*) ;;
*) build=$root/$build ;;
esac
timeout_s=${EXAMPLE_TIMEOUT:-60}

shopt -s nullglob
sources=("$root"/examples/*.c)
if [ ${#sources[@]} -eq 0 ]; then
    echo "run-examples: no examples yet (examples/*.c)"
    exit 0
fi

failed=()
for src in "${sources[@]}"; do
    name=$(basename "$src" .c)
    exe=$build/examples/$name
    echo "=== example: $name"
    if [ ! -x "$exe" ]; then
        echo "run-examples: $exe was not built" >&2
        failed+=("$name")
        continue
    fi
    args=()
    read -r -a args < <(sed -n 's|^/\* example-args: \(.*\) \*/$|\1|p' "$src" | head -n 1) || true
    rc=0
    timeout "$timeout_s" "$exe" "${args[@]}" </dev/null || rc=$?
    if [ "$rc" -ne 0 ]; then
        if [ "$rc" -eq 124 ]; then
            echo "--- $name: timed out after ${timeout_s}s" >&2
        else
            echo "--- $name: exit status $rc" >&2
        fi
        failed+=("$name")
    fi
done

echo
if [ ${#failed[@]} -ne 0 ]; then
    echo "run-examples: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "run-examples: all ${#sources[@]} examples passed"
