#!/usr/bin/env bash
# goc's code must lie between goc_text_begin and goc_text_end, run by CTest
# (symbols.code_bounded_by_goc_text).
#
#   check_text.sh <nm> <objdump> <libgoc.a>
#
# The preemption signal handler (src/sched/preempt.c) tells goc's own code
# from the program's by those bounds, which the partial link of libgoc's
# object sets around its one .text section (scripts/goc-text.ld). A code
# section outside it (a `section` attribute, .text.hot from a compiler
# flag) would look like the program's, and a goroutine could be switched
# out in the middle of goc. Fails, naming the sections, when libgoc's
# object has any non-empty code section but .text, or when the bounds do
# not cover .text exactly.
set -euo pipefail
if [ $# -ne 3 ]; then
    echo "usage: $0 <nm> <objdump> <libgoc.a>" >&2
    exit 2
fi
nm=$1 objdump=$2 lib=$3
[ -f "$lib" ] || { echo "FAIL: $lib does not exist" >&2; exit 1; }
# objdump -h: "Idx Name Size VMA LMA File-off Algn", then a flags line.
out=$("$objdump" -h "$lib")
bad=$(awk '$1 ~ /^[0-9]+$/ { name = $2; size = $3; next }
           /CODE/ && name != ".text" && size !~ /^0+$/ { print name }' <<<"$out" | sort -u)
if [ -n "$bad" ]; then
    echo "FAIL: code outside .text in $lib:" >&2
    printf '    %s\n' $bad >&2
    exit 1
fi
size=$(awk '$1 ~ /^[0-9]+$/ && $2 == ".text" { print $3 }' <<<"$out")
syms=$("$nm" "$lib")
begin=$(awk '$3 == "goc_text_begin" { print $1 }' <<<"$syms")
end=$(awk '$3 == "goc_text_end" { print $1 }' <<<"$syms")
if [ -z "$size" ] || [ -z "$begin" ] || [ -z "$end" ]; then
    echo "FAIL: $lib lacks .text, goc_text_begin or goc_text_end" >&2
    exit 1
fi
if (( 16#$begin != 0 || 16#$end != 16#$size )); then
    echo "FAIL: goc_text_begin..goc_text_end = $begin..$end, .text is 0..$size" >&2
    exit 1
fi
echo "check_text: goc_text_begin..goc_text_end covers all of goc's code (0x$size bytes)"
