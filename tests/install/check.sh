#!/usr/bin/env bash
# Install smoke test, run by CTest (install.find_package, install.pkg_config).
#
#   check.sh find_package|pkg_config <build-dir> <this-dir> <c-compiler> <cmake>
#
# Installs <build-dir> into a scratch prefix, then builds tests/install/main.c
# against the installed copy and runs it:
#   find_package  a CMake project using find_package(goc): goc::goc (shared)
#                 and goc::goc_static
#   pkg_config    cc main.c $(pkg-config --cflags --libs goc), once against
#                 the shared library (rpath) and once against libgoc.a
set -euo pipefail

if [ $# -ne 5 ]; then
    echo "usage: $0 find_package|pkg_config <build-dir> <source-dir> <cc> <cmake>" >&2
    exit 2
fi
mode=$1 build=$2 srcdir=$3 cc=$4 cmake=$5

tmp=$(mktemp -d "${TMPDIR:-/tmp}/goc-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

# True if the executable $1 loads libgoc.so. (ldd's output is captured first:
# `ldd | grep -q` under pipefail fails when grep exits before ldd is done.)
links_libgoc() {
    local deps
    deps=$(ldd "$1")
    [[ $deps == *libgoc.so* ]]
}

echo "== installing $build into $prefix"
"$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" ||
    { cat "$tmp/install.log"; exit 1; }

for f in include/goc.h include/goc/runtime.h; do
    [ -f "$prefix/$f" ] || { echo "FAIL: $f not installed" >&2; exit 1; }
done

case $mode in
find_package)
    echo "== configuring a find_package(goc) consumer"
    "$cmake" -S "$srcdir" -B "$tmp/build" \
        -DCMAKE_C_COMPILER="$cc" \
        -DCMAKE_PREFIX_PATH="$prefix" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo
    "$cmake" --build "$tmp/build"
    for exe in check_shared check_static; do
        echo "== running $exe"
        "$tmp/build/$exe"
    done
    # The shared flavour must really use libgoc.so, the static one must not.
    if command -v ldd >/dev/null 2>&1; then
        links_libgoc "$tmp/build/check_shared" ||
            { echo "FAIL: check_shared is not linked to libgoc.so" >&2; exit 1; }
        if links_libgoc "$tmp/build/check_static"; then
            echo "FAIL: check_static is linked to libgoc.so" >&2
            exit 1
        fi
    fi
    ;;
pkg_config)
    pc=$(find "$prefix" -name goc.pc -path '*/pkgconfig/*' | head -n 1)
    [ -n "$pc" ] || { echo "FAIL: goc.pc not installed" >&2; exit 1; }
    export PKG_CONFIG_PATH
    PKG_CONFIG_PATH=$(dirname "$pc")
    echo "== pkg-config goc $(pkg-config --modversion goc) from $pc"
    libdir=$(pkg-config --variable=libdir goc)
    [ -f "$libdir/libgoc.a" ] || { echo "FAIL: libdir $libdir has no libgoc.a" >&2; exit 1; }

    # Shared: plain `pkg-config --cflags --libs`, rpath to the scratch libdir.
    # shellcheck disable=SC2046  # word splitting of pkg-config output is intended
    "$cc" -o "$tmp/check_shared" "$srcdir/main.c" \
        $(pkg-config --cflags --libs goc) -Wl,-rpath,"$libdir"
    echo "== running check_shared"
    "$tmp/check_shared"

    # Static: `pkg-config --static` brings Libs.private; -l:libgoc.a picks the archive.
    libs=$(pkg-config --static --libs goc)
    libs=${libs/-lgoc/-l:libgoc.a}
    # shellcheck disable=SC2046,SC2086
    "$cc" -o "$tmp/check_static" "$srcdir/main.c" $(pkg-config --cflags goc) $libs
    echo "== running check_static"
    "$tmp/check_static"
    if command -v ldd >/dev/null 2>&1 && links_libgoc "$tmp/check_static"; then
        echo "FAIL: check_static is linked to libgoc.so" >&2
        exit 1
    fi
    ;;
*)
    echo "unknown mode: $mode" >&2
    exit 2
    ;;
esac
echo "PASS: install.$mode"
