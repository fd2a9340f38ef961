#!/usr/bin/env bash
# Install the Debian packages goc's build, tests and benchmarks need
# (Debian 12). Only missing packages are installed.
#
#   scripts/install-deps.sh           install what is missing (apt-get, sudo if not root)
#   scripts/install-deps.sh --check   exit 0 if everything is present, 1 otherwise (quiet)
set -euo pipefail

packages=(
    cmake make gcc libc6-dev pkg-config
    clang libclang-rt-14-dev clang-format # race/asan builds (clang 14 + sanitizer runtimes), make format
    libunwind-dev                         # symbolized tracebacks
    valgrind                              # <valgrind/valgrind.h> for Debug builds
    golang-go                             # bench/go: the Go side of the benchmarks
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user # make test-aarch64
    libssl-dev nettle-dev
    python3
)

check=0
case "${1:-}" in
--check) check=1 ;;
"") ;;
-h | --help)
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
*)
    echo "usage: $0 [--check]" >&2
    exit 2
    ;;
esac

# Prints the packages of "$@" that are not installed.
missing_packages() {
    local installed
    installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "$@" 2>/dev/null |
        awk '$2 == "installed" { sub(/:.*/, "", $1); print $1 }') || true
    local p
    for p in "$@"; do
        grep -qxF "$p" <<<"$installed" || echo "$p"
    done
}

if ! command -v dpkg-query >/dev/null 2>&1; then
    # Not Debian: check the essentials by command, install nothing.
    missing=()
    for c in cmake make cc clang pkg-config; do
        command -v "$c" >/dev/null 2>&1 || missing+=("$c")
    done
    if [ "$check" -eq 1 ]; then
        [ ${#missing[@]} -eq 0 ]
        exit
    fi
    if [ ${#missing[@]} -ne 0 ]; then
        echo "install-deps: not a Debian system; please install: ${missing[*]}" >&2
        echo "  (and the equivalents of: ${packages[*]})" >&2
        exit 1
    fi
    exit 0
fi

mapfile -t missing < <(missing_packages "${packages[@]}")

if [ "$check" -eq 1 ]; then
    [ ${#missing[@]} -eq 0 ]
    exit
fi

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all packages present"
    exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        echo "install-deps: not root and no sudo; please install: ${missing[*]}" >&2
        exit 1
    fi
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"

mapfile -t still < <(missing_packages "${packages[@]}")
if [ ${#still[@]} -ne 0 ]; then
    echo "install-deps: still missing after apt-get: ${still[*]}" >&2
    exit 1
fi
