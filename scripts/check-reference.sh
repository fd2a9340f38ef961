#!/usr/bin/env bash
# check-reference.sh — docs/reference.md documents every public name.
#
# Collects every goc_/GOC_ name the public headers declare (include/goc.h and
# include/goc/*.h): functions (GOC_API declarations), macros (#define, header
# guards excepted) and types (typedef names). Each must be named in a heading
# of docs/reference.md ("### goc_chan_make", or one heading for a group such
# as "### GOC_NANOSECOND, GOC_MICROSECOND, ..."). Headings that name a
# goc_/GOC_ identifier the headers do not declare (a call renamed or removed)
# fail the check too.
#
# Usage: scripts/check-reference.sh [repository root]
# Exit status: 0 when both lists agree, 1 otherwise (the differences are
# printed), 2 when a file is missing.
set -euo pipefail

root=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
ref="$root/docs/reference.md"
shopt -s nullglob
headers=("$root/include/goc.h" "$root"/include/goc/*.h)

for f in "$ref" "${headers[@]}"; do
    if [[ ! -f $f ]]; then
        echo "check-reference: $f: no such file" >&2
        exit 2
    fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

id='[A-Za-z0-9_]'

# The headers without their comments (so that prose naming a call or
# GOC_API does not count as a declaration).
awk '
    {
        line = $0; out = ""
        while (line != "") {
            if (incomment) {
                end = index(line, "*/")
                if (!end) { line = ""; break }
                line = substr(line, end + 2); incomment = 0
            } else {
                start = index(line, "/*"); sl = index(line, "//")
                if (sl && (!start || sl < start)) { out = out substr(line, 1, sl - 1); line = ""; break }
                if (!start) { out = out line; line = ""; break }
                out = out substr(line, 1, start - 1) " "
                line = substr(line, start + 2); incomment = 1
            }
        }
        print out
    }
' "${headers[@]}" >"$tmp/code"

# Header guards: the names tested by #ifndef.
sed -nE "s/^[[:space:]]*#[[:space:]]*ifndef[[:space:]]+(GOC_$id*).*/\1/p" "$tmp/code" |
    sort -u >"$tmp/guards"

{
    # Functions: a declaration starts with GOC_API and ends at ";" (it may
    # span lines); its name is the first goc_ identifier followed by "(".
    awk '
        /^[[:space:]]*#/ { next }
        !decl && /(^|[^A-Za-z0-9_])GOC_API[[:space:]]/ { decl = 1; text = "" }
        decl {
            text = text " " $0
            if (index($0, ";")) {
                if (match(text, /goc_[A-Za-z0-9_]+[[:space:]]*\(/)) {
                    name = substr(text, RSTART, RLENGTH - 1)
                    sub(/[[:space:]]+$/, "", name)
                    print name
                }
                decl = 0
            }
        }
    ' "$tmp/code"
    # Macros.
    sed -nE "s/^[[:space:]]*#[[:space:]]*define[[:space:]]+(GOC_$id*).*/\1/p" "$tmp/code" |
        grep -vxF -f "$tmp/guards" || true
    # Types: "typedef ... goc_x;" and the "} goc_x;" closing a typedef struct.
    sed -nE "s/^[[:space:]]*typedef[[:space:]].*[^A-Za-z0-9_](goc_$id+)[[:space:]]*;.*/\1/p" "$tmp/code"
    sed -nE "s/^[[:space:]]*\}[[:space:]]*(goc_$id+)[[:space:]]*;.*/\1/p" "$tmp/code"
} | sort -u >"$tmp/declared"

# Every goc_/GOC_ identifier named in a heading of the reference.
{ grep -E '^#{2,6}[[:space:]]' "$ref" || true; } | { grep -oE "(goc|GOC)_$id+" || true; } |
    sort -u >"$tmp/documented"

mapfile -t missing < <(comm -23 "$tmp/declared" "$tmp/documented")
mapfile -t unknown < <(comm -13 "$tmp/declared" "$tmp/documented")

status=0
if ((${#missing[@]})); then
    echo "check-reference: declared in include/ but without a section in docs/reference.md:"
    printf '  %s\n' "${missing[@]}"
    status=1
fi
if ((${#unknown[@]})); then
    echo "check-reference: headings in docs/reference.md name what include/ does not declare:"
    printf '  %s\n' "${unknown[@]}"
    status=1
fi
if [[ $status -eq 0 ]]; then
    echo "check-reference: $(wc -l <"$tmp/declared") public names, each with a section in docs/reference.md"
fi
exit $status
