#!/usr/bin/env bash
# test_goc_sum.sh — goc-sum against coreutils, byte for byte.
#
#   tests/test_goc_sum.sh <path-to-goc-sum>
#
# Builds a tree in a temporary directory (empty files, a 20 MiB file, names
# with spaces, a newline, a carriage return, a backslash, UTF-8, a leading
# dash, nested directories, many small files, symlinks to files and to
# directories, a fifo) and checks, for md5, sha1, sha256 and sha512, that
# goc-sum's stdout equals
#     find PATH -xtype f -print0 | LC_ALL=C sort -z | xargs -0 <algo>sum
# (the same selection: regular files and symlinks to regular files), and
# again with files read through the blocking-call handoff instead of
# io_uring (GOCDEBUG=iouring=0; -v says which way was taken). Then
# the error cases: dangling and looping symlinks, nonexistent paths with
# names that coreutils must quote, an unreadable file and an unreadable
# directory (as root, permission checks are bypassed: those run as user
# nobody through setpriv, or are skipped with a message) — stdout, stderr
# and the exit status compared with coreutils' (program name aside).
set -uo pipefail

sum=${1:?usage: test_goc_sum.sh <path-to-goc-sum>}
sum=$(cd "$(dirname "$sum")" && pwd)/$(basename "$sum")
export LC_ALL=C.UTF-8
# A TSan build of goc-sum would sleep 1 s at every exit (atexit_sleep_ms).
export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}atexit_sleep_ms=0"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/goc-sum-test.XXXXXX")
trap 'chmod -R u+rwx "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

failures=0
checks=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}
pass() {
    checks=$((checks + 1))
}

# compare <label> <expected-file> <actual-file>
compare() {
    if cmp -s "$2" "$3"; then
        pass
    else
        fail "$1: output differs"
        diff <(od -c "$2") <(od -c "$3") | head -20 >&2
    fi
}

# ---- the tree ----
mkdir -p T/a/b/c/d/e T/many 'T/dir with space' T/empty-dir T/sub
: >T/empty
: >T/a/b/c/d/e/empty-deep
printf 'deep\n' >T/a/b/c/d/e/deep
head -c $((20 * 1024 * 1024)) /dev/urandom >T/large
printf 'hello\n' >'T/with space'
printf 'x\n' >'T/dir with space/file name'
printf 'nl\n' >"T/new
line"
printf 'cr\n' >$'T/carriage\rreturn'
printf 'bs\n' >'T/back\slash'
printf 'both\n' >$'T/both\\and\nnewline'
printf 'utf\n' >'T/caf\xc3\xa9'
printf 'dash\n' >T/-dash
printf 'quote\n' >"T/it's"
for i in $(seq 0 499); do printf '%d\n' "$i" >"T/many/f$i"; done
ln -s ../large T/sub/link-to-large
ln -s empty T/link-to-empty
ln -s a T/link-to-dir      # not followed
mkfifo T/fifo              # skipped by both (not a regular file)
ln -s fifo T/link-to-fifo  # skipped by both

reference() { # <algo> <find args...>
    local algo=$1
    shift
    find "$@" -xtype f -print0 | LC_ALL=C sort -z | xargs -0 -r "${algo}sum"
}

for algo in md5 sha1 sha256 sha512; do
    reference "$algo" T >"ref.$algo"
    for jobs in "" "-j 1" "-j 3" "-j 64"; do
        # shellcheck disable=SC2086
        timeout 120 "$sum" -a "$algo" $jobs T >"out.$algo" 2>"err.$algo"
        rc=$?
        [ "$rc" -eq 0 ] || fail "-a $algo $jobs T: exit status $rc ($(head -3 "err.$algo"))"
        [ -s "err.$algo" ] && fail "-a $algo $jobs T: unexpected stderr: $(head -3 "err.$algo")"
        compare "-a $algo $jobs T" "ref.$algo" "out.$algo"
    done
done
for procs in 1 2; do
    GOCMAXPROCS=$procs timeout 120 "$sum" T >out.procs 2>/dev/null || fail "GOCMAXPROCS=$procs: exit status"
    compare "GOCMAXPROCS=$procs" ref.sha256 out.procs
done
# Files are read through io_uring where the kernel allows it, else through
# the blocking-call handoff (forced by GOCDEBUG=iouring=0): the same bytes
# either way. -v names the way on stderr and changes nothing else.
for mode in "" iouring=0; do
    for procs in 1 2; do
        GOCDEBUG=$mode GOCMAXPROCS=$procs timeout 120 "$sum" -v T >out.mode 2>err.mode ||
            fail "GOCDEBUG=$mode -v: exit status"
        compare "GOCDEBUG=$mode GOCMAXPROCS=$procs -v" ref.sha256 out.mode
        case $mode in
        iouring=0) want='^goc-sum: reading files with the blocking-call handoff$' ;;
        *) want='^goc-sum: reading files with (io_uring|the blocking-call handoff)$' ;;
        esac
        if [ "$(wc -l <err.mode)" -ne 1 ] || ! grep -Eq "$want" err.mode; then
            fail "GOCDEBUG=$mode -v: stderr: $(head -3 err.mode)"
        fi
    done
done
GOCDEBUG=iouring=0 timeout 120 "$sum" -a md5 -j 3 T >out.mode 2>err.mode || fail "handoff md5: exit status"
compare "GOCDEBUG=iouring=0 -a md5 -j 3" ref.md5 out.mode
echo "note: $("$sum" -v T/empty 2>&1 >/dev/null)"

lines=$(wc -l <ref.sha256)
[ "$lines" -ge 510 ] || fail "reference has only $lines lines"
grep -q '^\\.*T/new\\nline$' out.sha256 || fail "newline name not escaped"
grep -q '^\\.*T/back\\\\slash$' out.sha256 || fail "backslash name not escaped"

# Several paths, a trailing slash, files (given in sorted order: goc-sum
# sorts, coreutils keeps argument order), a symlink to a directory named on
# the command line (followed, as find -H), and standard input.
"$sum" T/many T/a 'T/dir with space' >out.multi || fail "several paths: exit status"
reference sha256 T/many T/a 'T/dir with space' >ref.multi
compare "several paths" ref.multi out.multi
"$sum" T/ >out.slash || fail "trailing slash: exit status"
reference sha256 T/ >ref.slash
compare "trailing slash" ref.slash out.slash
"$sum" T/large T/link-to-empty 'T/with space' >out.files || fail "files: exit status"
sha256sum T/large T/link-to-empty 'T/with space' >ref.files
compare "files named directly" ref.files out.files
"$sum" T/link-to-dir >out.ldir || fail "symlink to dir on the command line: exit status"
find -H T/link-to-dir -xtype f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum >ref.ldir
compare "symlink to a directory on the command line" ref.ldir out.ldir
printf 'abc' | "$sum" >out.stdin || fail "stdin: exit status"
printf 'abc' | sha256sum >ref.stdin
compare "standard input" ref.stdin out.stdin
printf 'abc' | "$sum" -a md5 - >out.stdin2 || fail "stdin '-': exit status"
printf 'abc' | md5sum - >ref.stdin2
compare "standard input as -" ref.stdin2 out.stdin2
"$sum" T/empty-dir >out.emptydir 2>&1 || fail "empty directory: exit status"
[ -s out.emptydir ] && fail "empty directory: output: $(cat out.emptydir)"

# ---- errors: stdout, stderr and exit status as coreutils ----
# error_case <label> <paths...>: goc-sum PATHS vs <algo>sum over the same
# selection (regular files, symlinks to regular files, and symlinks that
# cannot be followed; walked in directories).
select_paths() {
    find "$@" -print0 | while IFS= read -r -d '' p; do
        if [ -L "$p" ]; then
            if [ -f "$p" ] || [ ! -e "$p" ]; then printf '%s\0' "$p"; fi
        elif [ -f "$p" ]; then
            printf '%s\0' "$p"
        fi
    done | LC_ALL=C sort -z
}

error_case() {
    local label=$1
    shift
    "$sum" "$@" >out.e 2>err.e
    local rc=$?
    select_paths "$@" | xargs -0 sha256sum >ref.e 2>ref.err.e
    sed -i 's/^sha256sum: /goc-sum: /' ref.err.e
    [ "$rc" -eq 1 ] || fail "$label: exit status $rc, want 1"
    compare "$label (stdout)" ref.e out.e
    compare "$label (stderr)" ref.err.e err.e
}

mkdir E
printf 'good\n' >E/good
ln -s nowhere E/dangling
ln -s loop E/loop
ln -s ../E/good E/link-good
error_case "dangling and looping symlinks" E

# Nonexistent paths: the names in the messages are quoted as coreutils does.
names=('no such' 'plain' "it's" 'a"b' 'a$b' 'x=y' '#hash' 'mid#hash' '~tilde' '{' 'a{b}'
    'colon:name' 'tab	name' "new
line" 'back\slash' $'ctrl\001x' $'caf\xc3\xa9' $'bad\xffbyte' "it's \$both" '-dash' '')
"$sum" -- "${names[@]}" >out.n 2>err.n
rc=$?
sha256sum -- "${names[@]}" >ref.n 2>ref.err.n
sed -i 's/^sha256sum: /goc-sum: /' ref.err.n
# goc-sum sorts by path; coreutils keeps argument order.
LC_ALL=C sort ref.err.n >ref.err.sorted
LC_ALL=C sort err.n >err.sorted
[ "$rc" -eq 1 ] || fail "nonexistent paths: exit status $rc, want 1"
compare "nonexistent paths (stderr)" ref.err.sorted err.sorted
[ -s out.n ] && fail "nonexistent paths: stdout not empty"
LC_ALL=C "$sum" $'caf\xc3\xa9' 2>err.c
LC_ALL=C sha256sum $'caf\xc3\xa9' 2>&1 | sed 's/^sha256sum: /goc-sum: /' >ref.err.c
compare "quoting in the C locale" ref.err.c err.c

# Unreadable file and directory: needs a user the permission checks apply to.
run_as=()
if [ "$(id -u)" -eq 0 ]; then
    if command -v setpriv >/dev/null 2>&1; then
        run_as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
    fi
fi
if [ "$(id -u)" -ne 0 ] || [ ${#run_as[@]} -ne 0 ]; then
    chmod 755 "$tmp"
    cp "$sum" "$tmp/goc-sum-copy" && chmod 755 "$tmp/goc-sum-copy"
    mkdir -p P/locked
    printf 'ok\n' >P/ok
    printf 'secret\n' >P/secret
    printf 'hidden\n' >P/locked/hidden
    chmod 644 P/ok
    chmod 000 P/secret
    chmod 000 P/locked
    chmod 755 P
    "${run_as[@]}" "$tmp/goc-sum-copy" P/ok P/secret >out.p 2>err.p
    rc=$?
    "${run_as[@]}" sha256sum P/ok P/secret >ref.p 2>ref.err.p
    sed -i 's/^sha256sum: /goc-sum: /' ref.err.p
    [ "$rc" -eq 1 ] || fail "unreadable file: exit status $rc, want 1"
    compare "unreadable file (stdout)" ref.p out.p
    compare "unreadable file (stderr)" ref.err.p err.p
    grep -q 'Permission denied' err.p || fail "unreadable file: no 'Permission denied'"
    "${run_as[@]}" "$tmp/goc-sum-copy" P >out.pd 2>err.pd
    rc=$?
    [ "$rc" -eq 1 ] || fail "unreadable directory: exit status $rc, want 1"
    printf 'goc-sum: P/locked: Permission denied\ngoc-sum: P/secret: Permission denied\n' >ref.err.pd
    compare "unreadable directory (stderr)" ref.err.pd err.pd
    compare "unreadable directory (stdout)" ref.p out.pd
    chmod 700 P/locked P/secret
else
    echo "note: running as root without setpriv: permission-denied cases skipped"
fi

# ---- usage errors ----
"$sum" -a nope T >/dev/null 2>&1
[ $? -eq 2 ] || fail "-a nope: want exit status 2"
"$sum" -j 0 T >/dev/null 2>&1
[ $? -eq 2 ] || fail "-j 0: want exit status 2"
"$sum" --help | grep -q '^usage: goc-sum' || fail "--help"

if [ "$failures" -ne 0 ]; then
    echo "test_goc_sum: $failures failure(s), $checks checks passed" >&2
    exit 1
fi
echo "test_goc_sum: all $checks checks passed ($lines files per tree run)"
