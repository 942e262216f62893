#!/usr/bin/env bash
# bench/soak.sh: a long run of mcshredder against memcacheds that keep dying.
# See the "Soak" section of docs/bench.md.
#
# It starts a plain memcached and a TLS memcached (-Z, throwaway EC P-256 CA
# and server certificate), each on a free loopback port, and runs two
# mcshredder processes side by side for the whole time:
#   plain: --threads 1 --clients 20 --rate 5000 --timeout 2s
#   tls:   the same with --tls --tls-ca CA --rate 2000
# Every --restart-every seconds both memcacheds are SIGKILLed and restarted
# on the same ports about 1 s later (no preload).  Every 10 s the VmRSS of
# each mcshredder is sampled into rss.csv.  At the end it prints a report:
# requests, errors by kind, reconnects, TLS handshakes, exit codes, the
# outage windows seen in the interval CSV, and RSS over time (FLAT when the
# last sample is within 10% of the first one after a 60 s warm-up).
#
# usage: bench/soak.sh [--minutes N] [--restart-every SECS] [--out DIR]
#   --minutes N          length of the mcshredder runs (default 10)
#   --restart-every SECS kill and restart the memcacheds this often (default 60,
#                        0 = never)
#   --out DIR            where the files go (default: a new /tmp/mcs-soak.XXXXXX)
#   --report DIR         only print the report of an earlier run in DIR again
# Environment: MCS_BIN (default build/mcshredder), MCS_MEMCACHED (default
# memcached).
#
# Files in DIR: plain.json plain.csv plain.out tls.json tls.csv tls.out
# rss.csv events.log memcached-*.log certs/ report.txt.
# Exit code: 0 when both mcshredders exited 0 and every memcached (re)start
# worked; 1 otherwise; 2 on a usage error.
set -u

MINUTES=10
RESTART_EVERY=60
OUT=
REPORT_ONLY=
usage() { sed -n '2,/^set -u/p' "$0" | sed -n 's/^# \{0,1\}//p' >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) MINUTES=${2:-}; shift 2 || usage ;;
        --restart-every) RESTART_EVERY=${2:-}; shift 2 || usage ;;
        --out) OUT=${2:-}; shift 2 || usage ;;
        --report) REPORT_ONLY=${2:-}; shift 2 || usage ;;
        -h|--help) usage ;;
        *) echo "soak.sh: unknown argument '$1'" >&2; usage ;;
    esac
done
[[ "$MINUTES" =~ ^[1-9][0-9]*$ ]] || { echo "soak.sh: --minutes must be a positive integer" >&2; exit 2; }
[[ "$RESTART_EVERY" =~ ^[0-9]+$ ]] || { echo "soak.sh: --restart-every must be an integer" >&2; exit 2; }

if [ -n "$REPORT_ONLY" ]; then
    [ -f "$REPORT_ONLY/status" ] || { echo "soak.sh: no $REPORT_ONLY/status" >&2; exit 2; }
    eval "$(sed -n '/^report() {/,/^}$/p' "$0")"
    report "$REPORT_ONLY"
    exit $?
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MCS_SRC=${MCS_BIN:-$ROOT/build/mcshredder}
MEMCACHED=${MCS_MEMCACHED:-memcached}
for t in "$MCS_SRC" "$MEMCACHED" openssl python3 timeout; do
    command -v "$t" >/dev/null 2>&1 || { echo "soak.sh: '$t' not found" >&2; exit 2; }
done
if [ -z "$OUT" ]; then
    OUT=$(mktemp -d /tmp/mcs-soak.XXXXXX) || exit 2
else
    mkdir -p "$OUT" || exit 2
fi
OUT=$(cd "$OUT" && pwd)
DUR=$((MINUTES * 60))
HARD=$((DUR + 120))          # hard limit on every long-lived child
# Run a private copy, so that a rebuild during the soak does not matter.
MCS="$OUT/mcshredder"
cp "$MCS_SRC" "$MCS" || exit 2

T0=$(date +%s)
now() { echo $(( $(date +%s) - T0 )); }
log() { echo "[$(printf '%4d' "$(now)")s] $*" | tee -a "$OUT/events.log"; }
: > "$OUT/events.log"

# ---- cleanup ------------------------------------------------------------------
MC_PLAIN_T= MC_TLS_T= P_T= T_T=     # pids of the `timeout` wrappers
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
child_of() { pgrep -P "$1" 2>/dev/null | head -n1; }
kill_wrapped() {   # kill_wrapped SIG TIMEOUT_PID: signal the child, then the wrapper
    local sig=$1 tp=$2 c
    [ -n "$tp" ] || return 0
    c=$(child_of "$tp")
    [ -n "$c" ] && kill "-$sig" "$c" 2>/dev/null
    kill "-$sig" "$tp" 2>/dev/null
    return 0
}
cleanup() {
    trap - EXIT INT TERM
    kill_wrapped KILL "$P_T"; kill_wrapped KILL "$T_T"
    kill_wrapped KILL "$MC_PLAIN_T"; kill_wrapped KILL "$MC_TLS_T"
    wait 2>/dev/null
    wait_dead $MC_PLAIN_T $MC_TLS_T
}
trap cleanup EXIT
trap 'log "interrupted"; cleanup; exit 130' INT TERM

# ---- certificates -------------------------------------------------------------
CERTS="$OUT/certs"
# shellcheck source=bench/certs.sh
. "$(dirname "$0")/certs.sh"
make_certs "$CERTS" || { echo "soak.sh: making certificates failed" >&2; exit 1; }

# ---- memcached ----------------------------------------------------------------
free_port() {
    timeout -s KILL 10 python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
PLAIN_PORT=$(free_port) && TLS_PORT=$(free_port) || { echo "soak.sh: no free port" >&2; exit 1; }
[ "$PLAIN_PORT" != "$TLS_PORT" ] || TLS_PORT=$(free_port)

port_open() {      # port_open PORT: wait up to 5 s for a listener
    local i
    for i in $(seq 50); do
        if timeout -s KILL 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}
START_FAILS=0
start_mc() {       # start_mc plain|tls: sets MC_PLAIN_T / MC_TLS_T
    local kind=$1 port tp
    local args=(-U 0 -t 1 -m 64 -c 4096 -l 127.0.0.1)
    [ "$(id -u)" = 0 ] && args+=(-u root)
    if [ "$kind" = tls ]; then
        port=$TLS_PORT
        args+=(-Z -o "ssl_chain_cert=$CERTS/server_cert.pem,ssl_key=$CERTS/server_key.pem")
    else
        port=$PLAIN_PORT
    fi
    timeout -s KILL "$HARD" "$MEMCACHED" "${args[@]}" -p "$port" \
        >> "$OUT/memcached-$kind.log" 2>&1 < /dev/null &
    tp=$!
    disown "$tp"    # no "Killed" job notices; reaped by bash all the same
    if [ "$kind" = tls ]; then MC_TLS_T=$tp; else MC_PLAIN_T=$tp; fi
    if ! port_open "$port"; then
        log "ERROR: $kind memcached did not come up on port $port"
        START_FAILS=$((START_FAILS + 1))
        return 1
    fi
    return 0
}
wait_dead() {      # wait_dead PID...: up to 5 s for them to be gone
    local i p up
    for i in $(seq 50); do
        up=0
        for p in "$@"; do alive "$p" && up=1; done
        [ $up = 0 ] && return 0
        sleep 0.1
    done
    return 1
}
start_mc plain && start_mc tls || exit 1
log "memcached plain on 127.0.0.1:$PLAIN_PORT, tls on 127.0.0.1:$TLS_PORT; out $OUT"

# ---- mcshredders ---------------------------------------------------------------
COMMON=(--threads 1 --clients 20 --duration "$DUR" --quiet --timeout 2s)
timeout -s KILL "$HARD" "$MCS" --server "127.0.0.1:$PLAIN_PORT" "${COMMON[@]}" --rate 5000 \
    --json "$OUT/plain.json" --csv "$OUT/plain.csv" > "$OUT/plain.out" 2>&1 < /dev/null &
P_T=$!
timeout -s KILL "$HARD" "$MCS" --server "127.0.0.1:$TLS_PORT" "${COMMON[@]}" --rate 2000 \
    --tls --tls-ca "$CERTS/ca.pem" \
    --json "$OUT/tls.json" --csv "$OUT/tls.csv" > "$OUT/tls.out" 2>&1 < /dev/null &
T_T=$!
MCS_T0=$(date +%s.%N)
sleep 0.2
P_PID=$(child_of "$P_T"); T_PID=$(child_of "$T_T")
log "mcshredder plain pid ${P_PID:-?}, tls pid ${T_PID:-?}, ${DUR}s, memcached restarts every ${RESTART_EVERY}s"

rss_of() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
echo "time_s,plain_rss_kb,tls_rss_kb" > "$OUT/rss.csv"

# ---- main loop: one tick a second, bounded by HARD -------------------------------
P_RC= T_RC=
next_restart=$RESTART_EVERY
next_sample=10
restarts=0
while :; do
    t=$(now)
    if ! alive "$P_T" && [ -z "$P_RC" ]; then wait "$P_T"; P_RC=$?; log "plain mcshredder exited $P_RC"; fi
    if ! alive "$T_T" && [ -z "$T_RC" ]; then wait "$T_T"; T_RC=$?; log "tls mcshredder exited $T_RC"; fi
    [ -n "$P_RC" ] && [ -n "$T_RC" ] && break
    if [ "$t" -ge "$HARD" ]; then log "ERROR: hard limit reached"; break; fi
    if [ "$t" -ge "$next_sample" ]; then
        echo "$t,$(rss_of "$P_PID"),$(rss_of "$T_PID")" >> "$OUT/rss.csv"
        next_sample=$((next_sample + 10))
    fi
    # no restart in the last 5 s: the runs' final intervals stay clean
    if [ "$RESTART_EVERY" -gt 0 ] && [ "$t" -ge "$next_restart" ] && [ "$t" -lt $((DUR - 5)) ]; then
        for k in plain tls; do
            tp=$MC_PLAIN_T; [ $k = tls ] && tp=$MC_TLS_T
            if ! alive "$tp"; then log "ERROR: $k memcached was already dead"; START_FAILS=$((START_FAILS + 1)); fi
        done
        kill_wrapped KILL "$MC_PLAIN_T"; kill_wrapped KILL "$MC_TLS_T"
        wait_dead "$MC_PLAIN_T" "$MC_TLS_T"
        ts=$(awk -v a="$MCS_T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
        sleep 1
        start_mc plain; start_mc tls
        te=$(awk -v a="$MCS_T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
        restarts=$((restarts + 1))
        echo "$ts,$te" >> "$OUT/restarts.csv"
        log "restart $restarts: memcacheds killed at ${ts}s, back at ${te}s (mcshredder time)"
        next_restart=$((next_restart + RESTART_EVERY))
    fi
    sleep 1
done
[ -n "$P_RC" ] || P_RC=137
[ -n "$T_RC" ] || T_RC=137
kill_wrapped KILL "$MC_PLAIN_T"; kill_wrapped KILL "$MC_TLS_T"
wait_dead "$MC_PLAIN_T" "$MC_TLS_T"
MC_PLAIN_T= MC_TLS_T=

# ---- report --------------------------------------------------------------------
report() {         # report DIR: reads DIR/status and the result files
timeout -s KILL 60 python3 - "$1" <<'PY'
import csv, json, os, sys
out = sys.argv[1]
p_rc, t_rc, start_fails, restarts, every, minutes = open(f"{out}/status").read().split()
p_rc, t_rc, start_fails = int(p_rc), int(t_rc), int(start_fails)
ok = p_rc == 0 and t_rc == 0 and start_fails == 0
print(f"== mcshredder soak: {minutes} min, memcached SIGKILL+restart every {every} s "
      f"({restarts} restarts), out {out}")
rs = []
if os.path.exists(f"{out}/restarts.csv"):
    rs = [l.strip() for l in open(f"{out}/restarts.csv") if l.strip()]
if rs:
    print("restarts (killed-back, s):", " ".join(r.replace(",", "-") for r in rs))

for name, rc in (("plain", p_rc), ("tls", t_rc)):
    print(f"\n-- {name}: exit code {rc}{'' if rc == 0 else '  <-- FAIL'}")
    try:
        j = json.load(open(f"{out}/{name}.json"))
    except Exception as e:
        print(f"   no JSON: {e}"); ok = False; continue
    tot = j["totals"]
    ek = {k: v for k, v in tot["errors_by_kind"].items() if v}
    print(f"   requests {tot['ops']} in {tot['duration_s']:.1f} s ({tot['ops_per_sec']:.0f}/s), "
          f"hits {tot['hits']}, misses {tot['misses']}")
    print(f"   errors {tot['errors']}: " + (", ".join(f"{k} {v}" for k, v in ek.items()) or "none"))
    print(f"   connects {tot['connects']}, reconnects {tot['reconnects']}")
    tls = tot.get("tls") or {}
    if name == "tls":
        er = {k: v for k, v in tls.get("errors_by_reason", {}).items() if v}
        print(f"   tls handshakes {tls.get('handshakes')}, resumed {tls.get('resumed')}, "
              f"failures by reason: " + (", ".join(f"{k} {v}" for k, v in er.items()) or "none"))
    lat = tot["latency_us"]
    print(f"   latency us: p50 {lat['p50']} p99 {lat['p99']} p999 {lat['p999']} max {lat['max']}")
    # outage windows: consecutive intervals with 0 ops or errors
    try:
        rows = list(csv.DictReader(open(f"{out}/{name}.csv")))
    except Exception as e:
        print(f"   no CSV: {e}"); ok = False; continue
    wins, cur = [], None
    for r in rows:
        t, ln = float(r["t_s"]), float(r["len_s"])
        bad = int(r["ops"]) == 0 or int(r["errors"]) > 0
        if bad:
            if cur is None:
                cur = [t - ln, t, 0, 0, 0]
            cur[1] = t; cur[2] += 1; cur[3] += int(r["errors"]); cur[4] += int(r["ops"] == "0")
        elif cur is not None:
            wins.append(cur); cur = None
    if cur is not None:
        wins.append(cur)
    print(f"   intervals {len(rows)}, outage windows {len(wins)} "
          f"(intervals with 0 ops or errors: {sum(w[2] for w in wins)}):")
    for w in wins:
        print(f"     {w[0]:7.1f}-{w[1]:7.1f} s  {w[2]:3d} intervals, {w[4]:3d} with 0 ops, {w[3]} errors")

print("\n-- RSS (VmRSS, kB), sampled every 10 s")
rows = [r for r in csv.DictReader(open(f"{out}/rss.csv"))]
def col(k):
    return [(int(r["time_s"]), int(r[k])) for r in rows if r[k]]
for name in ("plain", "tls"):
    s = col(f"{name}_rss_kb")
    if not s:
        print(f"   {name}: no samples"); ok = False; continue
    # baseline: the first sample after the 60 s warm-up
    warm = next((x for x in s if x[0] >= 60), s[0])
    last = s[-1]
    mx = max(s, key=lambda x: x[1])
    pct = lambda a, b: (b - a) / a * 100 if a else 0
    delta = pct(warm[1], last[1])
    verdict = "FLAT" if abs(delta) <= 10 else "NOT FLAT"
    print(f"   {name}: warm-up {warm[1]} kB at {warm[0]} s, last {last[1]} kB at {last[0]} s "
          f"({delta:+.1f}%), max {mx[1]} kB at {mx[0]} s, min {min(x[1] for x in s)} kB -> {verdict}")
    # also from the first sample after the first restart was over
    first_back = float(rs[0].split(",")[1]) + 2 if rs else 0
    ar = next((x for x in s if x[0] > warm[0] and x[0] >= first_back), None)
    if ar is not None and rs:
        print(f"     (from the first sample after the first restart, {ar[0]} s: {ar[1]} kB, "
              f"{pct(ar[1], last[1]):+.1f}%)")
    pts = s[::6] + ([s[-1]] if (len(s) - 1) % 6 else [])
    print("     t_s:kB " + " ".join(f"{t}:{v}" for t, v in pts))
print(f"\nRESULT: {'PASS' if ok else 'FAIL'} (plain exit {p_rc}, tls exit {t_rc}, "
      f"memcached start failures {start_fails})")
sys.exit(0 if ok else 1)
PY
}
echo "$P_RC $T_RC $START_FAILS $restarts $RESTART_EVERY $MINUTES" > "$OUT/status"
report "$OUT" | tee "$OUT/report.txt"
exit "${PIPESTATUS[0]}"
