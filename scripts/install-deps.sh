#!/usr/bin/env bash
# Install the Debian packages goc's build, tests and benchmarks need
# (Debian 12): only those the requested target needs, only those missing.
#
#   scripts/install-deps.sh [target]           install what is missing (apt-get, sudo if not root)
#   scripts/install-deps.sh --check [target]   exit 0 if everything is present, 1 otherwise (quiet)
#
# Targets (the make targets that need them):
#   release   make, make test, make run, make install: cmake, gcc, libunwind,
#             libcrypto (tools/goc-sum), g++ (the C++ install test)
#   debug     make debug: release + valgrind's header
#   race      make test-race: release + clang and its sanitizer runtimes
#   asan      make test-asan: the same as race
#   aarch64   make test-aarch64: release + the aarch64 cross compiler and qemu
#   bench     make bench: release + Go and python3
#   format    make format, make format-check: clang-format
#   all       every one of them (the default, as in CI)
#
# apt-get waits up to 10 minutes for a dpkg lock another apt holds.
set -euo pipefail

usage() {
    sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
}

check=0
target=""
for arg in "$@"; do
    case $arg in
    --check) check=1 ;;
    -h | --help)
        usage
        exit 0
        ;;
    release | debug | race | asan | aarch64 | bench | format | all)
        if [ -n "$target" ]; then
            echo "usage: $0 [--check] [release|debug|race|asan|aarch64|bench|format|all]" >&2
            exit 2
        fi
        target=$arg
        ;;
    *)
        echo "usage: $0 [--check] [release|debug|race|asan|aarch64|bench|format|all]" >&2
        exit 2
        ;;
    esac
done
target=${target:-all}

# Packages per target; every target also gets base.
base=(cmake make gcc libc6-dev pkg-config libunwind-dev)
declare -A extra=(
    [release]="libssl-dev g++"
    [debug]="libssl-dev g++ valgrind"
    # Debug builds under clang: valgrind's header too.
    [race]="libssl-dev g++ valgrind clang libclang-rt-14-dev"
    [asan]="libssl-dev g++ valgrind clang libclang-rt-14-dev"
    # Cross build of the library and the aarch64 tests only (-L aarch64).
    [aarch64]="gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user"
    [bench]="libssl-dev g++ golang-go python3"
    [format]="clang-format"
)
# Commands standing for the packages on systems without dpkg (checked, never installed).
base_commands=(cmake make cc pkg-config)
declare -A extra_commands=(
    [release]="c++"
    [debug]="c++"
    [race]="c++ clang"
    [asan]="c++ clang"
    [aarch64]="aarch64-linux-gnu-gcc qemu-aarch64"
    [bench]="c++ go python3"
    [format]="clang-format"
)

if [ "$target" = all ]; then
    # nettle-dev: listed since the first commit; no build mode needs it today.
    all="nettle-dev" all_commands=""
    for t in release debug race asan aarch64 bench format; do
        all+=" ${extra[$t]}"
        all_commands+=" ${extra_commands[$t]}"
    done
    extra[all]=$all
    extra_commands[all]=$all_commands
fi
# shellcheck disable=SC2206  # the lists are space-separated words
packages=("${base[@]}" ${extra[$target]})
mapfile -t packages < <(printf '%s\n' "${packages[@]}" | awk '!seen[$0]++')
# shellcheck disable=SC2206
commands=("${base_commands[@]}" ${extra_commands[$target]})
mapfile -t commands < <(printf '%s\n' "${commands[@]}" | awk '!seen[$0]++')

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
    for c in "${commands[@]}"; do
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
    echo "install-deps: all packages for '$target' present"
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

echo "install-deps: installing for '$target': ${missing[*]}"
# Wait for a dpkg / apt lists lock held by another apt (unattended-upgrades,
# a parallel build) instead of failing at once.
apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600)
"${sudo[@]}" "${apt[@]}" update
"${sudo[@]}" "${apt[@]}" install -y --no-install-recommends "${missing[@]}"

mapfile -t still < <(missing_packages "${packages[@]}")
if [ ${#still[@]} -ne 0 ]; then
    echo "install-deps: still missing after apt-get: ${still[*]}" >&2
    exit 1
fi
