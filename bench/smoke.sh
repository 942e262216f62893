#!/usr/bin/env bash
# bench/smoke.sh: the CI perf smoke job.  A short benchmark whose results are
# held against a stored baseline with mcshredder's own compare command, with
# tolerances wide enough for a noisy shared machine: it catches a 2x
# regression (half the throughput, twice the client CPU per request), not a
# 5% one.  See the "Perf smoke job" section of docs/bench.md.
#
# It starts a memcached (-t 1) on a free loopback port, sets every key once
# (not measured), then runs two cases with the built-in workload, 1 worker
# thread and 50 connections, each for --duration seconds:
#   get_depth1    classic "get", one request per round trip
#   mg_pipelined  "mg <key> v", 16 requests per round trip
# With 2 or more CPUs, memcached and mcshredder are pinned to different ones.
# Each case's --json result is compared with bench/smoke/CASE.json:
#   mcshredder compare BASE NEW --tolerance 50% --tolerance-latency 400%
# (ops/s, client CPU per request and errors are what can fail it; latency
# percentiles on a shared machine move too much to judge closely).
#
# usage: bench/smoke.sh [--duration SECS] [--update] [--out DIR]
#   --duration SECS  measured time per case (default 3)
#   --update         store this run's results as the new baseline
#   --out DIR        where the results go (default: a new temporary directory)
# Environment: MCS_BIN (default build/mcshredder), MCS_MEMCACHED (default
# memcached).
# Exit code: 0 no regression (or --update), 1 a regression, 2 the job could
# not run (usage, no binary, memcached did not start, a case failed).
set -u

DURATION=3
UPDATE=
OUT=
usage() { sed -n '2,/^set -u/p' "$0" | sed -n 's/^# \{0,1\}//p' >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) DURATION=${2:-}; shift 2 || usage ;;
        --update) UPDATE=1; shift ;;
        --out) OUT=${2:-}; shift 2 || usage ;;
        -h|--help) usage ;;
        *) echo "smoke.sh: unknown argument '$1'" >&2; usage ;;
    esac
done
[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] || { echo "smoke.sh: --duration must be a positive integer" >&2; exit 2; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MCS=${MCS_BIN:-$ROOT/build/mcshredder}
MEMCACHED=${MCS_MEMCACHED:-memcached}
BASE_DIR=$ROOT/bench/smoke
for t in "$MCS" "$MEMCACHED" timeout python3; do
    command -v "$t" >/dev/null 2>&1 || { echo "smoke.sh: '$t' not found" >&2; exit 2; }
done
[ -n "$OUT" ] || OUT=$(mktemp -d /tmp/mcs-smoke.XXXXXX)
mkdir -p "$OUT" || exit 2

# pinning: memcached on CPU 1, mcshredder on CPU 0, when there are two
PIN_SERVER=() PIN_CLIENT=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null 2>&1; then
    PIN_SERVER=(taskset -c 1) PIN_CLIENT=(taskset -c 0)
fi

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
USER_FLAG=()
[ "$(id -u)" = 0 ] && USER_FLAG=(-u root)
timeout -s KILL $((DURATION * 4 + 60)) "${PIN_SERVER[@]}" "$MEMCACHED" "${USER_FLAG[@]}" \
    -l 127.0.0.1 -p "$PORT" -U 0 -t 1 -m 256 -c 4096 >"$OUT/memcached.log" 2>&1 &
MC_PID=$!
trap 'kill "$MC_PID" 2>/dev/null; wait "$MC_PID" 2>/dev/null' EXIT
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done
(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || {
    echo "smoke.sh: memcached did not start on port $PORT:" >&2
    cat "$OUT/memcached.log" >&2
    exit 2
}

COMMON=(--server "127.0.0.1:$PORT" --threads 1 --clients 50 --keys 10000 --value-size 32)
run_mcs() { # run_mcs NAME ARGS...: one mcshredder run, its output in OUT/NAME.out
    local name=$1
    shift
    timeout -s KILL $((DURATION + 30)) "${PIN_CLIENT[@]}" "$MCS" "${COMMON[@]}" "$@" \
        >"$OUT/$name.out" 2>&1
    local rc=$?
    if [ $rc -ne 0 ]; then
        echo "smoke.sh: $name: mcshredder exited $rc:" >&2
        tail -5 "$OUT/$name.out" >&2
        exit 2
    fi
}

run_mcs preload --preload --ratio 0:1 --duration 0.1 --quiet
run_mcs get_depth1 --proto text --ratio 0:1 --duration "$DURATION" --quiet \
    --json "$OUT/get_depth1.json"
run_mcs mg_pipelined --proto meta --ratio 0:1 --pipeline 16 --duration "$DURATION" --quiet \
    --json "$OUT/mg_pipelined.json"

if [ -n "$UPDATE" ]; then
    mkdir -p "$BASE_DIR"
    cp "$OUT/get_depth1.json" "$OUT/mg_pipelined.json" "$BASE_DIR/"
    echo "smoke.sh: baseline updated in $BASE_DIR"
    exit 0
fi

worst=0
for case in get_depth1 mg_pipelined; do
    echo "== $case"
    if [ ! -f "$BASE_DIR/$case.json" ]; then
        echo "smoke.sh: no baseline $BASE_DIR/$case.json (make one with --update)" >&2
        exit 2
    fi
    "$MCS" compare "$BASE_DIR/$case.json" "$OUT/$case.json" \
        --tolerance 50% --tolerance-latency 400%
    rc=$?
    [ $rc -gt $worst ] && worst=$rc
done
case $worst in
    0) echo "smoke.sh: no regression against the baseline" ;;
    1) echo "smoke.sh: REGRESSION against the baseline (results in $OUT)" ;;
    *) echo "smoke.sh: the comparison failed (results in $OUT)" ;;
esac
exit $worst
