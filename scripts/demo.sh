#!/bin/sh
# demo.sh [mcshredder options]: build mcshredder, start a throwaway memcached
# on a free loopback port, run the built-in workload against it for
# $DURATION seconds (default 5) and print the report.  Extra arguments go to
# mcshredder, e.g.  scripts/demo.sh --threads 2 --clients 20
# Exits with mcshredder's exit code; memcached is always stopped.
set -eu

cd "$(dirname "$0")/.."
scripts/build.sh
bin=${MCS_BUILD_DIR:-build}/mcshredder

mc_pid=""
mcs_pid=""
cleanup() {
    if [ -n "$mcs_pid" ]; then
        kill -TERM "$mcs_pid" 2>/dev/null || true
        wait "$mcs_pid" 2>/dev/null || true
        mcs_pid=""
    fi
    if [ -n "$mc_pid" ]; then
        kill "$mc_pid" 2>/dev/null || true
        wait "$mc_pid" 2>/dev/null || true
        mc_pid=""
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    perl -MIO::Socket::INET -e '
        for (1 .. 200) {
            my $p = 20000 + int rand 40000;
            my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
                LocalPort => $p, Listen => 1) or next;
            print "$p\n";
            exit 0;
        }
        exit 1;'
}

# wait_accepts PORT: up to 5 s for a TCP connect to succeed
wait_accepts() {
    perl -MIO::Socket::INET -MTime::HiRes=sleep -e '
        for (1 .. 100) {
            exit 0 if IO::Socket::INET->new(PeerAddr => "127.0.0.1",
                PeerPort => $ARGV[0], Timeout => 1);
            sleep 0.05;
        }
        exit 1;' "$1"
}

user=""
[ "$(id -u)" -eq 0 ] && user="-u nobody"

port=""
for try in 1 2 3 4 5; do
    p=$(free_port)
    # shellcheck disable=SC2086  # $user is empty or two words
    memcached -l 127.0.0.1 -p "$p" -U 0 -t 1 -m 256 $user &
    mc_pid=$!
    if wait_accepts "$p" && kill -0 "$mc_pid" 2>/dev/null; then
        port=$p
        break
    fi
    cleanup
    echo "demo.sh: memcached did not start on port $p (try $try)" >&2
done
[ -n "$port" ] || { echo "demo.sh: could not start memcached" >&2; exit 1; }

echo "demo.sh: memcached $(memcached -V | cut -d' ' -f2) on 127.0.0.1:$port, running $bin for ${DURATION:-5} s" >&2
# In the background so that a signal to this script runs the traps at once
# (cleanup passes SIGTERM on to mcshredder) instead of after mcshredder ends.
"$bin" --server "127.0.0.1:$port" --duration "${DURATION:-5}" "$@" &
mcs_pid=$!
rc=0
wait "$mcs_pid" || rc=$?
mcs_pid=""
exit "$rc"
