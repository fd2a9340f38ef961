#!/usr/bin/env bash
# check_layers.sh SRC_DIR — the runtime's folders form layers: no include
# cycle between folders of src/ (cycles inside one folder, e.g. src/sched,
# are its own business), and nothing outside src/diag includes diag's
# headers (diagnostics register themselves; nothing below calls them).
# Prints the folder graph and fails naming the offending edges.
set -euo pipefail
src=${1:?usage: check_layers.sh SRC_DIR}
cd "$src"

edges=$(grep -rEo '^#include "[a-z0-9_]+/[^"]+"' --include='*.c' --include='*.h' --include='*.S' . |
    sed -E 's|^\./([a-z0-9_]+)/[^:]*:#include "([a-z0-9_]+)/.*|\1 \2|' |
    awk '$1 != $2' | sort -u)

echo "folder include graph (includer included):"
echo "$edges" | sed 's/^/  /'

rc=0
if ! out=$(echo "$edges" | tsort 2>&1 >/dev/null); then
    rc=1
fi
if [ -n "$out" ]; then
    echo "FAIL: include cycle between folders of src/:" >&2
    echo "$out" >&2
    rc=1
fi
bad=$(echo "$edges" | awk '$2 == "diag" { print "  " $1 " includes diag/" }')
if [ -n "$bad" ]; then
    echo "FAIL: only src/diag may include diag's headers:" >&2
    echo "$bad" >&2
    rc=1
fi
[ "$rc" -eq 0 ] && echo "layers: no cycle between folders; diag included by no one"
exit "$rc"
