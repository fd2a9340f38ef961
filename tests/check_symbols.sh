#!/usr/bin/env bash
# The library's symbol surface, run by CTest (symbols.static, symbols.shared).
#
#   check_symbols.sh static|shared <nm> <library>
#
# static  `nm -g --defined-only libgoc.a`: every global symbol the archive
#         defines (what a program linked with -lgoc can collide with)
# shared  `nm -D --defined-only libgoc.so`: the dynamic symbol table
#
# Fails, naming the offenders, when a defined global symbol does not start
# with goc_ or GOC_ (internal names would clash with the user's own, or bind
# to them), and when the test hook goc_failpoint_set is there at all (it
# belongs to the test programs, not to the installed library). Also fails
# when no goc_ symbol is found: an empty or unreadable library is no pass.
#
# The linker-made names _init, _fini, _edata, _end and __bss_start, which
# some toolchains put in a shared library's dynamic symbol table, are allowed.
set -euo pipefail

if [ $# -ne 3 ]; then
    echo "usage: $0 static|shared <nm> <library>" >&2
    exit 2
fi
kind=$1 nm=$2 lib=$3

[ -f "$lib" ] || { echo "FAIL: $lib does not exist" >&2; exit 1; }

case $kind in
static) nm_args=(-g --defined-only) ;;
shared) nm_args=(-D --defined-only) ;;
*) echo "unknown kind: $kind" >&2; exit 2 ;;
esac

# nm prints "<value> <type> <name>" (the value is blank for some types), and
# for an archive also "<member>:" headers and blank lines. The name is the
# last field; a dynamic symbol may carry a version (name@VER, name@@VER).
out=$("$nm" "${nm_args[@]}" "$lib")
syms=$(awk 'NF >= 2 && $NF !~ /:$/ { n = $NF; sub(/@.*/, "", n); print n }' <<<"$out" |
    LC_ALL=C sort -u)

ours=$(grep -E '^(goc_|GOC_)' <<<"$syms" || true)
others=$(grep -vE '^(goc_|GOC_)' <<<"$syms" |
    grep -vxE '_init|_fini|_edata|_end|__bss_start' || true)

status=0
if [ -z "$ours" ]; then
    echo "FAIL: $lib defines no goc_ symbol (nm output follows)" >&2
    printf '%s\n' "$out" >&2
    status=1
fi
if [ -n "$others" ]; then
    echo "FAIL: $lib defines $(wc -l <<<"$others") global symbol(s) outside goc_/GOC_:" >&2
    mapfile -t list <<<"$others"
    printf '    %s\n' "${list[@]}" >&2
    status=1
fi
if grep -qx 'goc_failpoint_set' <<<"$syms"; then
    echo "FAIL: $lib exports the test hook goc_failpoint_set" >&2
    status=1
fi
if [ $status -eq 0 ]; then
    echo "PASS: $lib: $(wc -l <<<"$ours") global symbols, all goc_/GOC_"
fi
exit $status
