#!/usr/bin/env bash
# Install smoke test, run by CTest (install.find_package, install.pkg_config,
# install.cxx.<compiler>).
#
#   check.sh find_package|pkg_config|cxx <build-dir> <this-dir> <compiler> <cmake>
#
# Installs <build-dir> into a scratch prefix, then builds tests/install/main.c
# (main.cpp for cxx) against the installed copy and runs it:
#   find_package  a CMake project using find_package(goc): goc::goc (shared),
#                 goc::goc_static, and goc::goc_static linked with -static
#   pkg_config    cc main.c with pkg-config, as README.md shows it: against
#                 the shared library (with an rpath, and with LD_LIBRARY_PATH),
#                 against libgoc.a (-Wl,-Bstatic -lgoc -Wl,-Bdynamic), and
#                 fully static (cc -static)
#   cxx           <compiler> (a C++ compiler: g++, clang++) builds main.cpp
#                 with -std=c++11, c++17 and c++20 (-Wall -Wextra -pedantic
#                 -Werror), against libgoc.so and against libgoc.a
# <compiler> is the C compiler, except in cxx mode.
#
# A fully static link needs the C library's archive (libc.a; Debian:
# libc6-dev); without it those steps say SKIP.
set -euo pipefail

if [ $# -ne 5 ]; then
    echo "usage: $0 find_package|pkg_config|cxx <build-dir> <source-dir> <compiler> <cmake>" >&2
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

# Fails unless the executable $1 is fully static: no dynamic section at all.
check_fully_static() {
    if command -v readelf >/dev/null 2>&1; then
        local dyn
        dyn=$(readelf -d "$1")
        if [[ $dyn != *"no dynamic section"* ]]; then
            echo "FAIL: $1 is not fully static:" >&2
            echo "$dyn" >&2
            exit 1
        fi
    fi
}

# True if $1 (a compiler) can link fully static programs: it finds libc.a.
can_link_static() {
    local libc
    libc=$("$1" -print-file-name=libc.a 2>/dev/null) || return 1
    [[ $libc == /* && -f $libc ]]
}

run() {
    echo "== running $(basename "$1")"
    "$@"
}

echo "== installing $build into $prefix"
"$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" ||
    { cat "$tmp/install.log"; exit 1; }

for f in include/goc.h include/goc/runtime.h; do
    [ -f "$prefix/$f" ] || { echo "FAIL: $f not installed" >&2; exit 1; }
done

# pkg-config, found in the scratch prefix.
use_pkg_config() {
    local pc
    pc=$(find "$prefix" -name goc.pc -path '*/pkgconfig/*' | head -n 1)
    [ -n "$pc" ] || { echo "FAIL: goc.pc not installed" >&2; exit 1; }
    export PKG_CONFIG_PATH
    PKG_CONFIG_PATH=$(dirname "$pc")
    echo "== pkg-config goc $(pkg-config --modversion goc) from $pc"
    libdir=$(pkg-config --variable=libdir goc)
    [ -f "$libdir/libgoc.a" ] || { echo "FAIL: libdir $libdir has no libgoc.a" >&2; exit 1; }
    [ -f "$libdir/libgoc.so" ] || { echo "FAIL: libdir $libdir has no libgoc.so" >&2; exit 1; }
    # README.md's static link: libgoc.a, the rest as pkg-config --static says.
    static_libs=$(pkg-config --static --libs goc | sed 's/-lgoc/-Wl,-Bstatic -lgoc -Wl,-Bdynamic/')
    echo "== static link flags: $static_libs"
}

case $mode in
find_package)
    fully_static=OFF
    can_link_static "$cc" && fully_static=ON
    echo "== configuring a find_package(goc) consumer"
    "$cmake" -S "$srcdir" -B "$tmp/build" \
        -DCMAKE_C_COMPILER="$cc" \
        -DCMAKE_PREFIX_PATH="$prefix" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DGOC_CHECK_FULLY_STATIC="$fully_static"
    "$cmake" --build "$tmp/build"
    for exe in check_shared check_static; do
        run "$tmp/build/$exe"
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
    if [ "$fully_static" = ON ]; then
        run "$tmp/build/check_fully_static"
        check_fully_static "$tmp/build/check_fully_static"
    else
        echo "SKIP: $cc has no libc.a: no fully static link"
    fi
    ;;
pkg_config)
    use_pkg_config

    # Shared: plain `pkg-config --cflags --libs`, rpath to the scratch libdir.
    # shellcheck disable=SC2046  # word splitting of pkg-config output is intended
    "$cc" -o "$tmp/check_shared" "$srcdir/main.c" \
        $(pkg-config --cflags --libs goc) -Wl,-rpath,"$libdir"
    run "$tmp/check_shared"

    # Shared, no rpath: found through LD_LIBRARY_PATH.
    # shellcheck disable=SC2046
    "$cc" -o "$tmp/check_ld_path" "$srcdir/main.c" $(pkg-config --cflags --libs goc)
    LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} run "$tmp/check_ld_path"

    # libgoc.a, the C library shared.
    # shellcheck disable=SC2046,SC2086
    "$cc" -o "$tmp/check_static" "$srcdir/main.c" $(pkg-config --cflags goc) $static_libs
    run "$tmp/check_static"
    if command -v ldd >/dev/null 2>&1 && links_libgoc "$tmp/check_static"; then
        echo "FAIL: check_static is linked to libgoc.so" >&2
        exit 1
    fi

    # Fully static: -static picks every library's archive, and
    # `pkg-config --static --libs goc` must name all of them (libunwind's
    # own dependencies too).
    if can_link_static "$cc"; then
        # shellcheck disable=SC2046
        "$cc" -static -o "$tmp/check_fully_static" "$srcdir/main.c" \
            $(pkg-config --cflags --static --libs goc)
        run "$tmp/check_fully_static"
        check_fully_static "$tmp/check_fully_static"
    else
        echo "SKIP: $cc has no libc.a: no fully static link"
    fi
    ;;
cxx)
    use_pkg_config
    cxx=$cc
    built=0
    for std in c++11 c++17 c++20; do
        if ! echo 'int main() { return 0; }' |
            "$cxx" -std="$std" -x c++ -fsyntax-only - 2>/dev/null; then
            echo "SKIP: $cxx does not know -std=$std"
            continue
        fi
        flags=(-std="$std" -Wall -Wextra -pedantic -Werror)
        exe=$tmp/check_cxx_${std//+/x}
        echo "== $cxx ${flags[*]}: shared"
        # shellcheck disable=SC2046
        "$cxx" "${flags[@]}" -o "${exe}_shared" "$srcdir/main.cpp" \
            $(pkg-config --cflags --libs goc) -Wl,-rpath,"$libdir"
        run "${exe}_shared"
        echo "== $cxx ${flags[*]}: libgoc.a"
        # shellcheck disable=SC2046,SC2086
        "$cxx" "${flags[@]}" -o "${exe}_static" "$srcdir/main.cpp" \
            $(pkg-config --cflags goc) $static_libs
        run "${exe}_static"
        if command -v ldd >/dev/null 2>&1 && links_libgoc "${exe}_static"; then
            echo "FAIL: ${exe}_static is linked to libgoc.so" >&2
            exit 1
        fi
        built=$((built + 1))
    done
    [ "$built" -ge 2 ] || { echo "FAIL: $cxx built fewer than two C++ standards" >&2; exit 1; }
    ;;
*)
    echo "unknown mode: $mode" >&2
    exit 2
    ;;
esac
echo "PASS: install.$mode"
