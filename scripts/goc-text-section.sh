#!/bin/sh
# scripts/goc-text-section.sh — compiler launcher for libgoc's objects.
#
#   goc-text-section.sh <objcopy> <compiler> <args...>
#
# Compiles, then moves the object's code from .text into the section
# goc_text. The linker bounds it with __start_goc_text / __stop_goc_text,
# which is how the preemption signal handler (src/sched/preempt.c) tells
# goc's own code, where it must never switch goroutines, from the
# program's. The objects are compiled so that all code is in .text
# (-fno-reorder-functions, -fno-reorder-blocks-and-partition: no
# .text.hot/.text.unlikely/.text.startup); tests/check_symbols.sh checks
# that no other code section is left.
set -e
objcopy=$1
shift
"$@"
out=
prev=
for a in "$@"; do
    if [ "$prev" = "-o" ]; then out=$a; fi
    prev=$a
done
if [ -n "$out" ] && [ -f "$out" ]; then
    "$objcopy" --rename-section .text=goc_text "$out"
fi
