#!/bin/sh
# build.sh [configure options]: install missing dependencies, regenerate the
# autotools files when needed, configure out of tree in build/ (or
# $MCS_BUILD_DIR, relative to the repository root) and run make.
# Used by scripts/test.sh and scripts/demo.sh.  configure is rerun when its
# options change (with a `make clean`, so no object keeps stale flags).
set -eu

cd "$(dirname "$0")/.."
root=$(pwd)
builddir=${MCS_BUILD_DIR:-build}

# newer A B: A was modified after B (POSIX sh has no test -nt)
newer() { [ -n "$(find "$1" -newer "$2" 2>/dev/null)" ]; }

scripts/deps.sh

# An in-tree ./configure makes automake refuse out-of-tree builds
# ("source directory already configured"): undo it.
if [ -f config.status ]; then
    echo "build.sh: source tree was configured in place; running 'make distclean' there" >&2
    if [ -f Makefile ]; then
        make distclean >/dev/null || rm -f config.status
    else
        rm -f config.status
    fi
fi

if [ ! -x configure ] || newer configure.ac configure ||
   [ ! -f Makefile.in ] || newer Makefile.am Makefile.in; then
    echo "build.sh: autoreconf -fi" >&2
    autoreconf -fi
fi

mkdir -p "$builddir"
cd "$builddir"

args="$*"
old_args=$(cat .mcs-configure-args 2>/dev/null || echo "(none)")
if [ ! -f config.status ] || newer "$root/configure" config.status ||
   [ "$args" != "$old_args" ]; then
    if [ -f Makefile ] && [ "$args" != "$old_args" ]; then
        make clean >/dev/null 2>&1 || true
    fi
    "$root/configure" "$@"
    printf '%s\n' "$args" > .mcs-configure-args
fi

make -j"${JOBS:-2}"
