#!/bin/sh
# deps.sh: install the Debian packages mcshredder needs to build and test,
# only those missing.  Quiet and fast when everything is there; uses sudo
# only when not root.  Safe to run any number of times.
set -eu

# build: compiler, autotools, pkg-config and the three libraries
# tests: memcached, perl (prove, core modules), openssl CLI (test certificates),
#        iproute2 (ip: loopback in a private network namespace, t/cli.t),
#        valgrind (memcheck of a short run, t/reliability.t)
pkgs="gcc make autoconf automake pkg-config
liburing-dev liblua5.4-dev libssl-dev
memcached perl openssl iproute2 valgrind"

missing=""
for p in $pkgs; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
    case $status in
        ii*) ;;
        *) missing="$missing $p" ;;
    esac
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "deps.sh: missing packages:$missing; not root and no sudo" >&2
    exit 1
fi

echo "deps.sh: installing:$missing" >&2
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update
# shellcheck disable=SC2086  # word splitting of the package list is wanted
$sudo env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends $missing
