#!/usr/bin/env bash
# goc's code must all be in the section goc_text, run by CTest
# (symbols.code_only_in_goc_text).
#
#   check_text.sh <objdump> <libgoc.a>
#
# The preemption signal handler (src/sched/preempt.c) tells goc's own code
# from the program's by the bounds of goc_text; a function the compiler put
# in another code section (.text.unlikely, .text.startup, ...) would look
# like the program's, and a goroutine could be switched out in the middle
# of it. Fails, naming the sections, when any non-empty code section other
# than goc_text is found, or when goc_text is missing.
set -euo pipefail
if [ $# -ne 2 ]; then
    echo "usage: $0 <objdump> <libgoc.a>" >&2
    exit 2
fi
objdump=$1 lib=$2
[ -f "$lib" ] || { echo "FAIL: $lib does not exist" >&2; exit 1; }
# objdump -h: "Idx Name Size VMA LMA File-off Algn" then a flags line.
out=$("$objdump" -h "$lib")
bad=$(awk '$1 ~ /^[0-9]+$/ { name = $2; size = $3; next }
           /CODE/ && name != "goc_text" && size !~ /^0+$/ { print name }' <<<"$out" | sort -u)
if ! grep -qE '^ *[0-9]+ goc_text ' <<<"$out"; then
    echo "FAIL: no goc_text section in $lib" >&2
    exit 1
fi
if [ -n "$bad" ]; then
    echo "FAIL: code outside goc_text in $lib:" >&2
    printf '    %s\n' $bad >&2
    exit 1
fi
echo "check_text: all of goc's code is in goc_text"
