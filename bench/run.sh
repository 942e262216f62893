#!/usr/bin/env bash
# bench/run.sh: mcshredder's benchmark harness.  One command runs every case
# and prints a table; the results also go to a JSON file.  See docs/bench.md.
#
# It starts its own memcached (-t 1 -U 0 -m 1024 -c 20000) on a free loopback
# port, and for the TLS cases a second one with TLS (-Z, a throwaway EC P-256
# CA and server certificate), both pinned to one CPU, preloads the keys into
# each (not measured), then runs each case as its own mcshredder invocation
# (1 worker thread, 50 connections) pinned to the other CPU, and measures the
# client's CPU time (user+system, from wait4) and the server's (from
# /proc/PID/stat) over that invocation.  idle_memory instead samples the
# client's RSS with many idle connections.
#
# usage: bench/run.sh [options]
#   --duration SECS      measured time per case (default 10)
#   --out FILE           JSON results (default bench/results.json)
#   --keys N             key space, all preloaded (default 10000)
#   --value-size BYTES   value size (default 32)
#   --clients N          connections (default 50)
#   --depth N            pipeline depth of the mg case (default 16)
#   --cases LIST         comma-separated subset of (default: all, in this order)
#                        get_depth1,mg_pipelined,tls_get_depth1,tls_mg_pipelined,
#                        idle_memory,plain_reconnect,tls_reconnect_full,
#                        tls_reconnect_resumed
#   --idle-conns N       idle connections of idle_memory (default 5000)
#   --client-cpu N       CPU for mcshredder (default 0)
#   --server-cpu N       CPU for memcached (default 1)
#   --no-floor           leave out the reference runs of bench/floor.c (below)
#   --perf               also profile each case (an extra, separate run under
#                        perf record -g) and print its top 15 symbols
#   --perf-duration SECS length of each profiled run (default 5)
#   --perf-dir DIR       keep the perf.data files there (default: deleted)
#   --mcshredder PATH    binary to test (default build/mcshredder; built
#                        with scripts/build.sh when missing)
#   --memcached PATH     memcached binary (default: memcached from PATH)
#   -h, --help
#
# The floor: after each of get_depth1, mg_pipelined and their TLS cases, the
# same load is run once more by bench/floor.c (built here with cc), a minimal
# closed-loop client (epoll, send/recv, OpenSSL on a socket BIO, nothing but
# response framing), and the table shows mcshredder's CPU per request
# against it ("vs floor"): what the kernel and OpenSSL cost, in this run.
#
# Every child runs under `timeout -s KILL`, so nothing can hang the script.
# MCS_BENCH_KEEP=1 in the environment keeps its temporary directory (every
# run's output, JSON and samples) for a closer look.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bench="$root/bench"

duration=10
out="$bench/results.json"
keys=10000
vsize=32
clients=50
depth=16
all_cases="get_depth1,mg_pipelined,tls_get_depth1,tls_mg_pipelined,idle_memory"
all_cases+=",plain_reconnect,tls_reconnect_full,tls_reconnect_resumed"
cases=$all_cases
idle_conns=5000
# idle_memory (see sampled.py below): RSS is sampled every 0.25 s; the
# figure is the sample at idle_sample_s, or idle_settle_s after the
# connections are all set up when that is later (at most idle_max_wait_s);
# the run ends idle_tail_s after the sample: about 7 s when all goes well.
idle_sample_s=5.5
idle_settle_s=2.5
idle_tail_s=1.5
idle_max_wait_s=60
client_cpu=0
server_cpu=1
perf=0
floor=1
perf_duration=5
perf_dir=""
mcs="$root/build/mcshredder"
memcached=memcached

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "bench/run.sh: $*" >&2; exit 2; }
# shellcheck source=bench/certs.sh
. "$(dirname "$0")/certs.sh"
need_arg() { [ $# -ge 2 ] || die "$1 needs a value"; }
is_num() { [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]] && [[ ! $1 =~ ^0+([.]0*)?$ ]]; }
is_int() { [[ $1 =~ ^[0-9]+$ ]]; }

while [ $# -gt 0 ]; do
    case $1 in
    --duration) need_arg "$@"; duration=$2; shift 2 ;;
    --out) need_arg "$@"; out=$2; shift 2 ;;
    --keys) need_arg "$@"; keys=$2; shift 2 ;;
    --value-size) need_arg "$@"; vsize=$2; shift 2 ;;
    --clients) need_arg "$@"; clients=$2; shift 2 ;;
    --depth) need_arg "$@"; depth=$2; shift 2 ;;
    --cases) need_arg "$@"; cases=$2; shift 2 ;;
    --idle-conns) need_arg "$@"; idle_conns=$2; shift 2 ;;
    --client-cpu) need_arg "$@"; client_cpu=$2; shift 2 ;;
    --server-cpu) need_arg "$@"; server_cpu=$2; shift 2 ;;
    --perf) perf=1; shift ;;
    --no-floor) floor=0; shift ;;
    --perf-duration) need_arg "$@"; perf_duration=$2; shift 2 ;;
    --perf-dir) need_arg "$@"; perf_dir=$2; shift 2 ;;
    --mcshredder) need_arg "$@"; mcs=$2; shift 2 ;;
    --memcached) need_arg "$@"; memcached=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (try --help)" ;;
    esac
done

is_num "$duration" || die "--duration: a positive number of seconds, got '$duration'"
is_num "$perf_duration" || die "--perf-duration: a positive number of seconds, got '$perf_duration'"
for v in keys:vsize:value-size clients depth client_cpu:client-cpu server_cpu:server-cpu \
         idle_conns:idle-conns; do
    var=${v%%:*} opt=${v#*:}
    is_int "${!var}" || die "--$opt: a non-negative integer, got '${!var}'"
done
[ "$keys" -ge 1 ] && [ "$clients" -ge 1 ] && [ "$depth" -ge 1 ] ||
    die "--keys, --clients and --depth must be at least 1"
[ "$idle_conns" -ge 2 ] || die "--idle-conns must be at least 2"
IFS=, read -r -a case_list <<< "$cases"
[ "${#case_list[@]}" -ge 1 ] || die "--cases: no case given"
need_plain=0 need_tls=0 idle=0
std_cases=()  # every case but idle_memory: one measured mcshredder run each
declare -A seen=()
for c in "${case_list[@]}"; do
    case ",$all_cases," in *",$c,"*) ;; *) die "--cases: unknown case '$c'" ;; esac
    [ -z "${seen[$c]:-}" ] || die "--cases: '$c' given twice"
    seen[$c]=1
    case $c in
    idle_memory) idle=1 need_plain=1 need_tls=1 ;;
    tls_*) need_tls=1; std_cases+=("$c") ;;
    *) need_plain=1; std_cases+=("$c") ;;
    esac
done
# memcached's -c: idle_memory opens --idle-conns connections at once
mc_maxconns=20000
[ $(( 10#$idle_conns + 1000 )) -le "$mc_maxconns" ] || mc_maxconns=$(( 10#$idle_conns + 1000 ))

command -v python3 >/dev/null || die "python3 is needed (CPU accounting and the report)"
command -v taskset >/dev/null || die "taskset is needed (util-linux)"
command -v "$memcached" >/dev/null || die "memcached not found ('$memcached')"
if [ "$need_tls" = 1 ]; then
    command -v openssl >/dev/null ||
        die "openssl (the CLI) is needed to make the TLS cases' certificates"
    mc_help=$(timeout -s KILL 20 "$memcached" -h 2>/dev/null || true)
    [[ $mc_help == *ssl_chain_cert* ]] ||
        die "$memcached has no TLS support (-Z); leave out the tls_* and idle_memory cases"
fi
# mcshredder raises its soft open files limit to the hard one; memcached sets
# both to its -c, which only root may raise above the hard limit
nofile=$(ulimit -Hn)
if [ "$nofile" != unlimited ]; then
    if [ "$idle" = 1 ]; then
        [ "$nofile" -ge $(( 10#$idle_conns + 100 )) ] ||
            die "idle_memory: --idle-conns $idle_conns needs more open files than the hard limit ($nofile)"
    fi
    if [ "$(id -u)" != 0 ] && [ "$nofile" -lt "$mc_maxconns" ]; then
        [ "$idle" = 0 ] ||
            die "idle_memory: memcached -c $mc_maxconns needs a hard open files limit of $mc_maxconns (have $nofile)"
        mc_maxconns=$nofile
    fi
fi
if [ ! -x "$mcs" ]; then
    [ "$mcs" = "$root/build/mcshredder" ] || die "no executable at $mcs"
    echo "bench/run.sh: $mcs missing, building it" >&2
    timeout -s KILL 900 "$root/scripts/build.sh" >&2
fi
if [ "$need_tls" = 1 ]; then
    mcs_help=$(timeout -s KILL 20 "$mcs" --help 2>&1 || true)
    [[ $mcs_help == *--tls-ca* ]] ||
        die "$mcs has no TLS support (--tls); leave out the tls_* and idle_memory cases"
fi
ncpu=$(nproc)
[ "$client_cpu" -lt "$ncpu" ] && [ "$server_cpu" -lt "$ncpu" ] ||
    die "CPUs $client_cpu/$server_cpu: this machine has $ncpu"
[ "$client_cpu" -ne "$server_cpu" ] ||
    echo "bench/run.sh: warning: client and server share CPU $client_cpu" >&2

perf_counters=raw_syscalls:sys_enter,syscalls:sys_enter_io_uring_enter,context-switches,page-faults
if [ "$perf" = 1 ]; then
    if ! timeout -s KILL 20 perf stat -e "$perf_counters" -o /dev/null -- true >/dev/null 2>&1; then
        perf_counters=context-switches,page-faults
    fi
    if ! command -v perf >/dev/null ||
       ! timeout -s KILL 20 perf record -q -e cpu-clock -g -o /dev/null -- true >/dev/null 2>&1; then
        echo "bench/run.sh: warning: 'perf record -e cpu-clock' does not work here; no profiles" >&2
        perf=0
    fi
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mcs-bench.XXXXXX")
mc_tpids=() mc_pids=()
cleanup() {
    # only what this script started: the timeouts wrapping memcached, and
    # memcached itself, by pid
    local i
    for i in "${!mc_tpids[@]}"; do
        if kill -0 "${mc_tpids[$i]}" 2>/dev/null; then
            kill -KILL "${mc_tpids[$i]}" 2>/dev/null || true
            [ -n "${mc_pids[$i]:-}" ] && kill -KILL "${mc_pids[$i]}" 2>/dev/null || true
            wait "${mc_tpids[$i]}" 2>/dev/null || true
        fi
    done
    if [ -n "${MCS_BENCH_KEEP:-}" ]; then
        echo "bench/run.sh: MCS_BENCH_KEEP: left $tmp" >&2
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Run a private copy, so a rebuild during the run cannot mix two binaries.
mcs_src=$mcs
mcs_sha=$(sha256sum "$mcs_src" | cut -c1-16)
mcs_version=$("$mcs_src" --version 2>/dev/null | head -1 || true)
mkdir "$tmp/bin"
cp "$mcs_src" "$tmp/bin/mcshredder"
mcs="$tmp/bin/mcshredder"
if [ "$floor" = 1 ]; then
    if ! timeout -s KILL 120 "${CC:-cc}" -O2 -o "$tmp/bin/floor" "$bench/floor.c" \
            -lssl -lcrypto > "$tmp/floor.cc.out" 2>&1; then
        cat "$tmp/floor.cc.out" >&2
        echo "bench/run.sh: warning: cannot build bench/floor.c; no floor runs" >&2
        floor=0
    fi
fi

# --- helpers ----------------------------------------------------------------

# run_timed RUSAGE_FILE CMD...: runs CMD, writes "rc wall_s user_s sys_s
# maxrss_kb" of it (wait4: the process and every child it waited for) and
# returns CMD's exit code.
cat > "$tmp/timed.py" <<'EOF'
import os, sys, time
out, cmd = sys.argv[1], sys.argv[2:]
t0 = time.monotonic()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(cmd[0], cmd)
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
wall = time.monotonic() - t0
rc = os.waitstatus_to_exitcode(status)
with open(out, "w") as f:
    f.write("%d %.6f %.6f %.6f %d\n" % (rc, wall, ru.ru_utime, ru.ru_stime, ru.ru_maxrss))
sys.exit(rc if rc >= 0 else 128 - rc)
EOF
run_timed() { local f=$1; shift; python3 "$tmp/timed.py" "$f" "$@"; }

# run_sampled OUT_JSON STATS_PORT SERVER_PID N AT SETTLE TAIL MAX_WAIT CMD...:
# runs CMD (timeout ...
# taskset ... mcshredder, which opens N connections and keeps them idle) and
# samples the mcshredder process's VmRSS every 0.25 s (times from the fork).
# The connections are "set up" once memcached (STATS_PORT, a plain listener;
# SERVER_PID) has N more open than before the start, over the last second
# neither mcshredder nor memcached used more than 10% of a CPU nor was seen
# runnable (state R: starved by other processes) (TLS handshakes done), and memcached accepted no connection beyond those N
# (total_connections), or none for 6.5 s (mcshredder's 5 s connect and
# handshake timeout plus its longest backoff, 1 s: no handshake is still
# pending to be retried).  The sample counted is the first at or after
# max(idle_sample_s, set-up time + idle_settle_s), then or at
# idle_max_wait_s at the latest; at that moment it also asks memcached for
# curr_connections.  It keeps sampling for idle_tail_s, then ends mcshredder
# with SIGINT (mcshredder writes its results and exits).  Writes
# {"samples": [[t, rss_kb], ...], "rss_kb", "rss_at_s", "setup_s" (null: never
# settled), "stop_s" (the SIGINT), "mc_curr_connections",
# "mc_curr_connections_before", "reconnects" (connections memcached accepted
# beyond the N), "exit", "wall_s"} and returns CMD's exit code.
cat > "$tmp/sampled.py" <<'EOF'
import json, os, signal, socket, sys, time
out, port, spid, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
at, settle, tail, max_wait = (float(x) for x in sys.argv[5:9])
cmd = sys.argv[9:]
hz = os.sysconf("SC_CLK_TCK")
STEP = 0.25

def find(pid):
    """pid, or its descendant, that is mcshredder (timeout -> taskset exec)."""
    try:
        if open("/proc/%d/comm" % pid).read().strip() == "mcshredder":
            return pid
        kids = open("/proc/%d/task/%d/children" % (pid, pid)).read().split()
    except OSError:
        return None
    for k in kids:
        r = find(int(k))
        if r:
            return r
    return None

def rss_kb(pid):
    try:
        for line in open("/proc/%d/status" % pid):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None

def ticks(pid):
    try:
        f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])
    except (OSError, IndexError, ValueError):
        return None

def runnable(pid):
    """Whether any thread of pid is running or waiting for a CPU (state R):
    a process starved by others uses no CPU but is not idle."""
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return False
    for t in tids:
        try:
            if open("/proc/%d/task/%s/stat" % (pid, t)).read().rsplit(")", 1)[1].split()[0] == "R":
                return True
        except (OSError, IndexError):
            pass
    return False

QUERIES = 0

def mc_conns(timeout=5):
    """memcached's (curr_connections, total_connections); each call is one
    more connection in total_connections (counted in QUERIES)."""
    global QUERIES
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        QUERIES += 1
        s.sendall(b"stats\r\n")
        b = b""
        while not b.endswith(b"END\r\n"):
            d = s.recv(65536)
            if not d:
                break
            b += d
        s.close()
        st = {}
        for line in b.decode().split("\r\n"):
            f = line.split()
            if len(f) == 3 and f[0] == "STAT":
                st[f[1]] = f[2]
        return int(st["curr_connections"]), int(st["total_connections"])
    except (OSError, KeyError, ValueError):
        return None, None

res = {"samples": [], "sample_at_s": at, "rss_kb": None, "rss_at_s": None, "setup_s": None,
       "stop_s": None, "mc_curr_connections": None, "reconnects": None}
# each query counts its own connection in curr_connections while it runs
base_curr, base_total = mc_conns()
res["mc_curr_connections_before"] = base_curr
base_q = QUERIES
t0 = time.monotonic()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(cmd[0], cmd)
    finally:
        os._exit(127)
target, k, status = None, 1, None
cpu = []            # (t, client ticks, server ticks)
want_at = None      # when to take the sample
stop_at = None      # when to stop mcshredder
extra, extra_t = None, 0.0  # connections beyond N memcached accepted, since when
while True:
    time.sleep(max(0.0, t0 + k * STEP - time.monotonic()))
    r, st = os.waitpid(pid, os.WNOHANG)
    if r == pid:
        status = st
        break
    now = time.monotonic() - t0
    k = int(now / STEP) + 1   # the next tick (skipping any missed while busy)
    if target is None:
        target = find(pid)
        if target is None:
            continue
    kb, ct, sv = rss_kb(target), ticks(target), ticks(spid)
    if kb is None:
        continue
    res["samples"].append([round(now, 3), kb])
    cpu.append((now, ct, sv, runnable(target) or runnable(spid)))
    if res["setup_s"] is None and len(cpu) > 4 and ct is not None and sv is not None:
        t1, c1, s1, _ = cpu[-5]   # about one second ago
        if (now - t1 >= 0.9 and (ct - c1) / hz <= 0.1 * (now - t1) and
                (sv - s1) / hz <= 0.1 * (now - t1) and not any(x[3] for x in cpu[-5:])):
            cc, tc = mc_conns(timeout=1)
            if cc is not None and base_total is not None:
                # reconnects: handshakes that timed out (5 s) and were retried
                x = tc - base_total - (QUERIES - base_q) - n
                if x != extra:
                    extra, extra_t = x, now
                # all N open, and no retry pending: none at all, or none
                # for longer than a connect timeout plus the longest backoff
                if cc >= base_curr + n and (x <= 0 or now - extra_t >= 6.5):
                    res["setup_s"] = round(now, 3)
                    res["reconnects"] = max(x, 0)
                    want_at = max(at, now + settle)
    if res["rss_kb"] is None and (
            (want_at is not None and now >= want_at - 1e-6) or now >= max_wait):
        res["rss_kb"], res["rss_at_s"] = kb, round(now, 3)
        res["mc_curr_connections"] = mc_conns()[0]
        if res["reconnects"] is None and extra is not None:
            res["reconnects"] = max(extra, 0)
        stop_at = now + tail
    if stop_at is not None and now >= stop_at - 1e-6:
        res["stop_s"] = round(now, 3)
        try:
            os.kill(target, signal.SIGINT)
        except OSError:
            pass
        stop_at = float("inf")
res["wall_s"] = round(time.monotonic() - t0, 3)
# for a closer look: [t, mcshredder ticks, memcached ticks, either runnable]
res["trace"] = [[round(x[0], 3), x[1], x[2], x[3]] for x in cpu]
rc = os.waitstatus_to_exitcode(status)
res["exit"] = rc
with open(out, "w") as f:
    json.dump(res, f)
sys.exit(rc if rc >= 0 else 128 - rc)
EOF
run_sampled() { python3 "$tmp/sampled.py" "$@"; }
# idle_ok.py MCS_JSON SAMPLED_JSON N KIND: exit 0 when all N connections (and
# for KIND tls, handshakes) were made and they settled before the sample
cat > "$tmp/idle_ok.py" <<'EOF'
import json, sys
w = json.load(open(sys.argv[1]))["workloads"][0]
s = json.load(open(sys.argv[2]))
n = int(sys.argv[3])
ok = (w["connects"] >= n and s["setup_s"] is not None and s["rss_kb"] is not None and
      (sys.argv[4] != "tls" or w["tls"]["handshakes"] >= n))
sys.exit(0 if ok else 1)
EOF

# proc_ticks PID: utime+stime of PID in clock ticks (fields 14 and 15 of
# /proc/PID/stat, counted after the ")" that ends the command name).
proc_ticks() {
    local stat rest
    stat=$(< "/proc/$1/stat")
    rest=${stat##*) }
    # shellcheck disable=SC2086
    set -- $rest
    echo $(( ${12} + ${13} ))
}

# mc_stats PORT: memcached's "stats" as "name value" lines (a plain port).
mc_stats() {
    local fd line
    exec {fd}<>"/dev/tcp/127.0.0.1/$1"
    printf 'stats\r\n' >&"$fd"
    while IFS= read -r -t 5 line <&"$fd"; do
        line=${line%$'\r'}
        [ "$line" = END ] && break
        case $line in STAT\ *) echo "${line#STAT }" ;; esac
    done
    exec {fd}>&-
}
stat_of() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }

# case_args CASE: sets cargs to mcshredder's options for CASE (the server,
# the TLS options, the Lua script and the flags it reads).
case_args() {
    local srv=(--server "127.0.0.1:$plain_port")
    case $1 in tls_*) srv=(--server "127.0.0.1:$tls_port" "${tls_opts[@]}") ;; esac
    case $1 in
    get_depth1|tls_get_depth1) cargs=("${srv[@]}" --conf "$bench/get_depth1.lua" --pipeline 1) ;;
    mg_pipelined|tls_mg_pipelined)
        cargs=("${srv[@]}" --conf "$bench/mg_pipelined.lua" --pipeline "$depth") ;;
    plain_reconnect|tls_reconnect_resumed)
        cargs=("${srv[@]}" --conf "$bench/reconnect.lua" --pipeline 1) ;;
    tls_reconnect_full)
        cargs=("${srv[@]}" --tls-no-resume --conf "$bench/reconnect.lua" --pipeline 1) ;;
    esac
}
case_desc() {
    case $1 in
    get_depth1) echo "classic text get, depth 1, ${vsize}-byte values" ;;
    mg_pipelined) echo "meta 'mg <key> v', ${depth} deep pipeline, ${vsize}-byte values" ;;
    tls_get_depth1) echo "get_depth1 over TLS" ;;
    tls_mg_pipelined) echo "mg_pipelined over TLS" ;;
    plain_reconnect) echo "new connection per request (reconn_every = 1), one classic get each" ;;
    tls_reconnect_full) echo "plain_reconnect over TLS, full handshakes (--tls-no-resume)" ;;
    tls_reconnect_resumed) echo "plain_reconnect over TLS, resumed handshakes (session tickets)" ;;
    idle_memory) echo "client RSS per idle connection, ${idle_conns} connections, plain and TLS" ;;
    esac
}
# has_floor CASE: whether bench/floor.c runs CASE's load too
has_floor() { case $1 in *get_depth1|*mg_pipelined) return 0 ;; *) return 1 ;; esac; }

# run_floor CASE: CASE's load by bench/floor.c, CPU measured as for mcshredder
run_floor() {
    local c=$1 fargs=(--server "127.0.0.1:$plain_port") rc=0
    # floor.c spells its TLS options as mcshredder does
    case $c in tls_*) fargs=(--server "127.0.0.1:$tls_port" "${tls_opts[@]}") ;; esac
    case $c in
    *get_depth1) fargs+=(--mode get --depth 1) ;;
    *mg_pipelined) fargs+=(--mode mg --depth "$depth") ;;
    esac
    echo "case $c: the same load from bench/floor.c" >&2
    run_timed "$tmp/$c.floor.rusage" timeout -s KILL "$mcs_budget" \
        taskset -c "$client_cpu" "$tmp/bin/floor" "${fargs[@]}" --clients "$clients" \
        --keys "$keys" --duration "$duration" > "$tmp/$c.floor.out" 2> "$tmp/$c.floor.err" || rc=$?
    if [ "$rc" -ne 0 ]; then
        cat "$tmp/$c.floor.err" >&2
        echo "bench/run.sh: warning: case $c: bench/floor.c failed (exit $rc)" >&2
        rm -f "$tmp/$c.floor.out"
    fi
}

# case_srv CASE: which memcached CASE loads
case_srv() { case $1 in tls_*) echo tls ;; *) echo plain ;; esac; }

# seconds -> whole seconds for timeouts (ceil)
ceil() { python3 -c "import math,sys; print(math.ceil(float(sys.argv[1])))" "$1"; }
dur_ceil=$(ceil "$duration")
pdur_ceil=$(ceil "$perf_duration")
nstd=${#std_cases[@]}
mcs_budget=$(( dur_ceil + 30 ))
perf_budget=$(( pdur_ceil + 60 ))
# idle_memory's mcshredder runs at most this long (sampled.py stops it sooner)
idle_cap_s=$(( idle_max_wait_s + 15 ))
idle_budget=$(( idle_cap_s + 30 ))
mc_budget=$(( 120 + (1 + floor) * nstd * mcs_budget + perf * nstd * perf_budget + idle * 8 * idle_budget ))

# --- certificates (TLS cases) ---------------------------------------------------

# --- memcached ----------------------------------------------------------------

# free_ports N: N distinct free loopback ports
free_ports() {
    python3 -c '
import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
}

mc_user=()
[ "$(id -u)" = 0 ] && mc_user=(-u root)
mc_common=(-t 1 -U 0 -m 1024 -c "$mc_maxconns")

# start_mc NAME PLAIN_PORT ARGS...: starts memcached with mc_common and ARGS
# on the server CPU under timeout, waits until it answers on PLAIN_PORT (a
# plain listener) and sets mc_pid.
start_mc() {
    local name=$1 pport=$2 tpid pid=""
    shift 2
    timeout -s KILL "$mc_budget" taskset -c "$server_cpu" "$memcached" "${mc_user[@]}" \
        "${mc_common[@]}" "$@" > "$tmp/memcached.$name.log" 2>&1 &
    tpid=$!
    mc_tpids+=("$tpid")
    mc_pids+=("")
    for _ in $(seq 100); do
        if [ -z "$pid" ]; then
            pid=$(awk '{print $1}' "/proc/$tpid/task/$tpid/children" 2>/dev/null ||
                  pgrep -P "$tpid" 2>/dev/null | head -1) || true
            mc_pids[${#mc_pids[@]}-1]=$pid
        fi
        if [ -n "$pid" ] && (exec 3<>"/dev/tcp/127.0.0.1/$pport") 2>/dev/null; then
            break
        fi
        kill -0 "$tpid" 2>/dev/null ||
            { cat "$tmp/memcached.$name.log" >&2; die "memcached ($name) did not start"; }
        sleep 0.05
    done
    (exec 3<>"/dev/tcp/127.0.0.1/$pport") 2>/dev/null ||
        die "memcached ($name) does not answer on port $pport"
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = memcached ] ||
        die "cannot find memcached's ($name) pid (got '$pid')"
    mc_pid=$pid
}

plain_port="" plain_pid="" tls_port="" tls_stats_port="" tls_pid="" tls_opts=()
if [ "$need_plain" = 1 ]; then
    plain_port=$(free_ports 1)
    start_mc plain "$plain_port" -l 127.0.0.1 -p "$plain_port"
    plain_pid=$mc_pid
    echo "memcached pid $plain_pid on 127.0.0.1:$plain_port (CPU $server_cpu)" >&2
fi
if [ "$need_tls" = 1 ]; then
    make_certs "$tmp/certs" || die "making the TLS certificates failed"
    # memcached may drop privileges: let it read its key
    chmod 755 "$tmp" "$tmp/certs"
    chmod 644 "$tmp/certs/"*.pem
    read -r tls_port tls_stats_port <<< "$(free_ports 2)"
    start_mc tls "$tls_stats_port" -Z \
        -o "ssl_chain_cert=$tmp/certs/server_cert.pem,ssl_key=$tmp/certs/server_key.pem" \
        -l "127.0.0.1:$tls_port,notls:127.0.0.1:$tls_stats_port"
    tls_pid=$mc_pid
    tls_opts=(--tls --tls-ca "$tmp/certs/ca.pem")
    echo "memcached (TLS) pid $tls_pid on 127.0.0.1:$tls_port, plain" \
         "127.0.0.1:$tls_stats_port for stats and the preload (CPU $server_cpu)" >&2
fi
# srv_pid / srv_stats_port NAME: the memcached for "plain" or "tls"
srv_pid() { if [ "$1" = tls ]; then echo "$tls_pid"; else echo "$plain_pid"; fi; }
srv_stats_port() { if [ "$1" = tls ]; then echo "$tls_stats_port"; else echo "$plain_port"; fi; }
if [ "$need_plain" = 1 ]; then first=plain; else first=tls; fi
mc_version=$(mc_stats "$(srv_stats_port "$first")" | awk '$1 == "version" { print $2 }')
echo "memcached $mc_version; mcshredder on CPU $client_cpu; $duration s per case" >&2

common=(--threads 1 --clients "$clients" --keys "$keys" --value-size "$vsize" --quiet)

# How busy the machine is before we start (other processes skew everything).
cp /proc/stat "$tmp/idle.pstat0"
sleep 1
cp /proc/stat "$tmp/idle.pstat1"

# --- preload (not measured) ---------------------------------------------------

# Every server gets the same keys; the TLS one through its plain listener.
srvs=()
[ "$need_plain" = 1 ] && srvs+=(plain)
[ "$need_tls" = 1 ] && srvs+=(tls)
for s in "${srvs[@]}"; do
    sp=$(srv_stats_port "$s")
    echo "preload ($s): $keys keys of $vsize bytes" >&2
    if ! run_timed "$tmp/preload.$s.rusage" timeout -s KILL 120 \
            taskset -c "$client_cpu" "$mcs" --server "127.0.0.1:$sp" --threads 1 \
            --keys "$keys" --value-size "$vsize" --quiet \
            --conf "$bench/preload.lua" --json "$tmp/preload.$s.json" > "$tmp/preload.$s.out" 2>&1; then
        cat "$tmp/preload.$s.out" >&2
        die "preload ($s) failed"
    fi
    mc_stats "$sp" > "$tmp/stats.preload.$s"
    items=$(stat_of curr_items "$tmp/stats.preload.$s")
    [ "$items" = "$keys" ] || die "after preload memcached ($s) holds $items items, expected $keys"
done

# --- the cases ----------------------------------------------------------------

# run_idle: the idle_memory case.  For plain and TLS, runs bench/idle.lua
# with 1 and with idle_conns clients and samples the RSS (run_sampled).
run_idle() {
    local v n sp rc
    for v in plain tls; do
        sp=$(srv_stats_port "$v")
        local srv=(--server "127.0.0.1:$plain_port")
        [ "$v" = tls ] && srv=(--server "127.0.0.1:$tls_port" "${tls_opts[@]}")
        for n in 1 "$idle_conns"; do
            echo "case idle_memory: $v, $n connection(s)" >&2
            # 50 runs/s over the N clients: each runs once every N/50 s; the
            # baseline's one client just as rarely
            local rate=(--arg rate=50)
            [ "$n" = 1 ] && rate=(--arg "rate=1,rate_period=$(( 10#$idle_conns * 20 ))")
            local try
            for try in 1 2; do
                rc=0
                run_sampled "$tmp/idle.$v.$n.rss" "$sp" "$(srv_pid "$v")" "$n" \
                    "$idle_sample_s" "$idle_settle_s" "$idle_tail_s" "$idle_max_wait_s" \
                    timeout -s KILL "$idle_budget" \
                    taskset -c "$client_cpu" "$mcs" "${srv[@]}" --threads 1 --clients "$n" \
                    --duration "$idle_cap_s" --quiet --conf "$bench/idle.lua" "${rate[@]}" \
                    --json "$tmp/idle.$v.$n.json" > "$tmp/idle.$v.$n.out" 2>&1 || rc=$?
                if [ "$rc" -ne 0 ] || [ ! -s "$tmp/idle.$v.$n.json" ]; then
                    cat "$tmp/idle.$v.$n.out" >&2
                    die "case idle_memory ($v, $n connections): mcshredder failed (exit $rc)"
                fi
                echo "$try" > "$tmp/idle.$v.$n.tries"
                # valid: every connection (and TLS handshake) made, and they
                # settled before the sample; else once more (a busy machine)
                if python3 "$tmp/idle_ok.py" "$tmp/idle.$v.$n.json" "$tmp/idle.$v.$n.rss" "$n" "$v"; then
                    break
                fi
                if [ "$try" = 1 ]; then
                    echo "case idle_memory: $v, $n connections: not all set up in time; once more" >&2
                fi
            done
        done
    done
}

clk_tck=$(getconf CLK_TCK)
for c in "${case_list[@]}"; do
    echo "case $c: $(case_desc "$c")" >&2
    if [ "$c" = idle_memory ]; then
        run_idle
        continue
    fi
    case_args "$c"
    skind=$(case_srv "$c")
    spid=$(srv_pid "$skind")
    sport=$(srv_stats_port "$skind")
    # the other memcached (idle during this case), to leave it out of "others"
    opid=""
    if [ "$skind" = tls ]; then opid=$plain_pid; else opid=$tls_pid; fi
    mc_stats "$sport" > "$tmp/$c.stats0"
    cp /proc/stat "$tmp/$c.pstat0"
    t0=$(proc_ticks "$spid")
    o0=0; [ -n "$opid" ] && o0=$(proc_ticks "$opid")
    rc=0
    run_timed "$tmp/$c.rusage" timeout -s KILL "$mcs_budget" \
        taskset -c "$client_cpu" "$mcs" "${common[@]}" --duration "$duration" "${cargs[@]}" \
        --json "$tmp/$c.json" > "$tmp/$c.out" 2>&1 || rc=$?
    t1=$(proc_ticks "$spid")
    o1=0; [ -n "$opid" ] && o1=$(proc_ticks "$opid")
    cp /proc/stat "$tmp/$c.pstat1"
    mc_stats "$sport" > "$tmp/$c.stats1"
    echo "$(( t1 - t0 )) $clk_tck $(( o1 - o0 ))" > "$tmp/$c.server"
    if [ "$rc" -ne 0 ] || [ ! -s "$tmp/$c.json" ]; then
        cat "$tmp/$c.out" >&2
        die "case $c: mcshredder failed (exit $rc)"
    fi

    if [ "$floor" = 1 ] && has_floor "$c"; then
        run_floor "$c"
    fi

    if [ "$perf" = 1 ]; then
        echo "case $c: profiling ($perf_duration s, separate run)" >&2
        pdata="$tmp/$c.perf.data"
        # keep the (temporary) binary in perf's build-id cache only when the
        # data is kept too
        perf_cache=(--no-buildid-cache)
        [ -n "$perf_dir" ] && perf_cache=()
        rc=0
        # perf stat (counting only, cheap) sits between perf record and
        # mcshredder to count syscalls and context switches of mcshredder
        # alone; its own few samples are left out of the report below.
        timeout -s KILL "$perf_budget" taskset -c "$client_cpu" \
            perf record -q "${perf_cache[@]}" -e cpu-clock -g -o "$pdata" -- \
            perf stat -x, -o "$tmp/$c.perf.stat" -e "$perf_counters" -- \
            "$mcs" "${common[@]}" --duration "$perf_duration" "${cargs[@]}" \
            --json "$tmp/$c.perf.json" > "$tmp/$c.perf.out" 2>&1 || rc=$?
        if [ "$rc" -ne 0 ]; then
            cat "$tmp/$c.perf.out" >&2
            echo "bench/run.sh: warning: case $c: profiled run failed (exit $rc)" >&2
        else
            # sorted by command too: report.py keeps mcshredder's lines and
            # gives percentages of its samples (perf report --comms would be
            # simpler, but drops kernel and libc samples in perf 6.1)
            for k in sym dso; do
                s=comm,dso; [ "$k" = sym ] && s=comm,dso,sym
                timeout -s KILL 120 perf report -i "$pdata" --stdio --no-children \
                    -g none --sort "$s" -F "overhead,$s" 2>/dev/null |
                    grep -v '^#' | grep -v '^[[:space:]]*$' > "$tmp/$c.perf.$k" || true
            done
            if [ -n "$perf_dir" ]; then
                mkdir -p "$perf_dir"
                cp "$pdata" "$perf_dir/$c.perf.data"
            fi
        fi
    fi
done


# --- report -------------------------------------------------------------------

cat > "$tmp/report.py" <<'EOF'
import json, os, sys, time, platform

tmp, out = sys.argv[1], sys.argv[2]
cfg = json.loads(sys.argv[3])
cases = [c for c in sys.argv[4].split(",") if c]
descs = json.loads(sys.argv[5])

def rusage(path):
    rc, wall, user, sys_, rss = open(path).read().split()
    return {"exit": int(rc), "wall_s": float(wall), "user_s": float(user),
            "sys_s": float(sys_), "maxrss_kb": int(rss)}

def stats(path):
    d = {}
    for line in open(path):
        k, _, v = line.rstrip("\n").partition(" ")
        d[k] = v
    return d

def pstat(path):
    """/proc/stat: {"cpu": (busy, steal), "cpu0": ...} in clock ticks."""
    d = {}
    for line in open(path):
        f = line.split()
        if f and f[0].startswith("cpu"):
            v = [int(x) for x in f[1:9]]  # user nice system idle iowait irq softirq steal
            d[f[0]] = (v[0] + v[1] + v[2] + v[5] + v[6], v[7])
    return d

def pstat_delta(name, hz):
    a, b = pstat(os.path.join(tmp, name + ".pstat0")), pstat(os.path.join(tmp, name + ".pstat1"))
    return {k: ((b[k][0] - a[k][0]) / hz, (b[k][1] - a[k][1]) / hz) for k in b if k in a}

def perf_stat(path):
    d = {}
    for line in open(path):
        f = line.strip().split(",")
        if len(f) >= 3 and f[0] and not line.startswith("#"):
            try:
                d[f[2]] = int(float(f[0]))
            except ValueError:
                pass
    return d

def perf_lines(path, nf):
    """perf report lines "pct% comm dso [sym]" -> mcshredder's, as % of its samples."""
    rows = []
    for line in open(path):
        f = line.split(None, nf)
        if len(f) >= nf and f[0].endswith("%") and f[1] == "mcshredder":
            row = {"percent": float(f[0][:-1]), "dso": f[2].strip()}
            if nf == 3:
                row["symbol"] = f[3].strip() if len(f) > 3 else ""
            rows.append(row)
    total = sum(x["percent"] for x in rows)
    for x in rows:
        x["percent"] = round(100 * x["percent"] / total, 2) if total else 0
    rows.sort(key=lambda x: -x["percent"])
    return rows

def ratio(h, m):
    return h / (h + m) if h + m else None

hz = int(os.sysconf("SC_CLK_TCK"))
idle = pstat_delta("idle", hz)
background = round(idle["cpu"][0], 3)  # CPUs busy over the 1 s before the run

def preload(name):
    pre = json.load(open(os.path.join(tmp, "preload.%s.json" % name)))["totals"]
    pre_ru = rusage(os.path.join(tmp, "preload.%s.rusage" % name))
    return {"ops": pre["ops"], "errors": pre["errors"],
            "duration_s": pre["duration_s"],
            "client_cpu_s": round(pre_ru["user_s"] + pre_ru["sys_s"], 6),
            "wall_s": round(pre_ru["wall_s"], 6)}

result = {
    "version": 1,
    "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    "host": {"kernel": platform.release(), "cpus": os.cpu_count()},
    "config": cfg,
    "background_busy_cpus": background,
    "cases": [],
}
servers = [s for s in ("plain", "tls") if os.path.exists(os.path.join(tmp, "preload.%s.json" % s))]
result["preload"] = preload(servers[0])
if "tls" in servers and servers[0] != "tls":
    result["preload_tls"] = preload("tls")

for c in cases:
    j = json.load(open(os.path.join(tmp, c + ".json")))
    t = j["totals"]
    wl = j["workloads"][0] if j.get("workloads") else t
    ru = rusage(os.path.join(tmp, c + ".rusage"))
    ticks, hz_, oticks = map(int, open(os.path.join(tmp, c + ".server")).read().split())
    s0, s1 = stats(os.path.join(tmp, c + ".stats0")), stats(os.path.join(tmp, c + ".stats1"))
    sdelta = lambda k: int(s1.get(k, 0)) - int(s0.get(k, 0))
    ops = t["ops"]
    ccpu = ru["user_s"] + ru["sys_s"]
    scpu = ticks / hz_
    ocpu = oticks / hz_
    dur = t["duration_s"]
    wtls = wl.get("tls", {})
    hs_lat = wtls.get("handshake", {}).get("latency_us", {})
    r = {
        "name": c, "description": descs[c],
        "server_kind": "tls" if c.startswith("tls_") else "plain",
        "ops": ops, "duration_s": dur,
        "ops_per_sec": round(ops / dur, 3) if dur else 0,
        "hits": t["hits"], "misses": t["misses"],
        "hit_ratio": ratio(t["hits"], t["misses"]),
        "errors": t["errors"], "errors_by_kind": t["errors_by_kind"],
        "latency_us": t["latency_us"],
        "bytes_in": t["bytes_in"], "bytes_out": t["bytes_out"],
        "connects": t["connects"], "reconnects": t.get("reconnects"),
        # workloads[0].tls of mcshredder's JSON
        "tls": {"handshakes": wtls.get("handshakes", 0), "resumed": wtls.get("resumed", 0),
                "handshake_latency_us": hs_lat,
                "errors_by_reason": {k: v for k, v in wtls.get("errors_by_reason", {}).items() if v}},
        "client": {
            "user_s": round(ru["user_s"], 6), "sys_s": round(ru["sys_s"], 6),
            "cpu_s": round(ccpu, 6), "wall_s": round(ru["wall_s"], 6),
            "outside_phase_wall_s": round(ru["wall_s"] - dur, 6),
            "maxrss_kb": ru["maxrss_kb"],
            "cpu_util": round(ccpu / ru["wall_s"], 4) if ru["wall_s"] else None,
            "us_per_req": round(ccpu * 1e6 / ops, 4) if ops else None,
        },
        "server": {
            "cpu_s": scpu, "clk_tck": hz_,
            "cpu_util": round(scpu / ru["wall_s"], 4) if ru["wall_s"] else None,
            "us_per_req": round(scpu * 1e6 / ops, 4) if ops else None,
            "get_hits": sdelta("get_hits"), "get_misses": sdelta("get_misses"),
            "cmd_get": sdelta("cmd_get"),
            "total_connections": sdelta("total_connections"),
        },
    }
    fo = os.path.join(tmp, c + ".floor.out")
    if os.path.exists(fo):
        f = open(fo).read().split()  # requests R hits H misses M seconds S
        fv = dict(zip(f[0::2], f[1::2]))
        fru = rusage(os.path.join(tmp, c + ".floor.rusage"))
        freq = int(fv["requests"])
        fus = (fru["user_s"] + fru["sys_s"]) * 1e6 / freq if freq else None
        r["floor"] = {"ops": freq, "hits": int(fv["hits"]), "misses": int(fv["misses"]),
                      "duration_s": float(fv["seconds"]),
                      "ops_per_sec": round(freq / float(fv["seconds"]), 3),
                      "user_s": fru["user_s"], "sys_s": fru["sys_s"],
                      "us_per_req": round(fus, 4) if fus else None,
                      "client_vs_floor": round(r["client"]["us_per_req"] / fus, 4)
                      if fus and r["client"]["us_per_req"] else None}
    ps_ = os.path.join(tmp, c + ".perf.sym")
    if os.path.exists(ps_):
        r["perf_top"] = perf_lines(ps_, 3)[:15]
        r["perf_dso"] = perf_lines(os.path.join(tmp, c + ".perf.dso"), 2)[:8]
        pj = os.path.join(tmp, c + ".perf.json")
        if os.path.exists(pj):
            pt_ = json.load(open(pj))["totals"]
            r["perf_run_ops_per_sec"] = round(pt_["ops"] / pt_["duration_s"], 3) if pt_["duration_s"] else 0
    m = pstat_delta(c, hz)
    busy = m["cpu"][0]
    r["machine"] = {
        "busy_cpu_s": round(busy, 3),
        "steal_s": round(m["cpu"][1], 3),
        "client_cpu_busy_s": round(m["cpu%d" % cfg["client_cpu"]][0], 3),
        "server_cpu_busy_s": round(m["cpu%d" % cfg["server_cpu"]][0], 3),
        # the other memcached (plain during a TLS case and vice versa), idle
        "other_memcached_cpu_s": round(ocpu, 3),
        # CPU time not spent by mcshredder or the memcacheds (other
        # processes, interrupts not charged to either), over the case's wall time
        "other_cpu_s": round(busy - ccpu - scpu - ocpu, 3),
    }
    ps = os.path.join(tmp, c + ".perf.stat")
    pj = os.path.join(tmp, c + ".perf.json")
    if os.path.exists(ps) and os.path.exists(pj):
        pops = json.load(open(pj))["totals"]["ops"]
        st = perf_stat(ps)
        r["perf_counters"] = st
        if pops:
            r["perf_per_req"] = {k: round(v / pops, 6) for k, v in st.items()}
    result["cases"].append(r)

# TLS / plain: each TLS case against the plain case of the same run
PLAIN_OF = {"tls_get_depth1": "get_depth1", "tls_mg_pipelined": "mg_pipelined",
            "tls_reconnect_full": "plain_reconnect", "tls_reconnect_resumed": "plain_reconnect"}
by_name = {r["name"]: r for r in result["cases"]}
for r in result["cases"]:
    p = by_name.get(PLAIN_OF.get(r["name"]))
    if r["name"] not in PLAIN_OF:
        continue
    rr = {"plain_case": PLAIN_OF[r["name"]], "client_us_per_req_ratio": None,
          "server_us_per_req_ratio": None, "ops_per_sec_ratio": None}
    if p is not None:
        q = lambda a, b: round(a / b, 4) if a is not None and b else None
        rr["client_us_per_req_ratio"] = q(r["client"]["us_per_req"], p["client"]["us_per_req"])
        rr["server_us_per_req_ratio"] = q(r["server"]["us_per_req"], p["server"]["us_per_req"])
        rr["ops_per_sec_ratio"] = q(r["ops_per_sec"], p["ops_per_sec"])
    r["tls_vs_plain"] = rr

# idle_memory: (RSS with N idle connections - RSS with 1) / N
IDLE_TARGET = {"plain": 2048, "tls": 16384}
idle_warn = []
if cfg["idle_memory"]:
    n = cfg["idle_conns"]
    im = {"conns": n, "sample_at_s": cfg["idle_sample_s"], "settle_s": cfg["idle_settle_s"],
          "max_wait_s": cfg["idle_max_wait_s"]}
    for v in ("plain", "tls"):
        d = {}
        for k, cnt in (("one", 1), ("many", n)):
            s = json.load(open(os.path.join(tmp, "idle.%s.%d.rss" % (v, cnt))))
            j = json.load(open(os.path.join(tmp, "idle.%s.%d.json" % (v, cnt))))
            wl = j["workloads"][0]
            hs = wl.get("tls", {})
            d[k] = {"clients": cnt, "rss_kb": s["rss_kb"], "rss_at_s": s["rss_at_s"],
                    "setup_s": s["setup_s"], "stop_s": s["stop_s"], "wall_s": s["wall_s"],
                    "mc_reconnects": s["reconnects"],
                    "tries": int(open(os.path.join(tmp, "idle.%s.%d.tries" % (v, cnt))).read()),
                    "mc_curr_connections": s["mc_curr_connections"],
                    "mc_curr_connections_before": s["mc_curr_connections_before"],
                    "connects": wl["connects"], "errors": wl["errors"], "runs": wl["ops"],
                    "errors_by_kind": {e: x for e, x in wl["errors_by_kind"].items() if x},
                    "tls_errors_by_reason": {e: x for e, x in hs.get("errors_by_reason", {}).items() if x},
                    "tls_handshakes": hs.get("handshakes", 0),
                    "tls_handshake_p50_us": hs.get("handshake", {}).get("latency_us", {}).get("p50"),
                    "tls_handshake_max_us": hs.get("handshake", {}).get("latency_us", {}).get("max"),
                    "rss_kb_samples": s["samples"]}
        one, many = d["one"], d["many"]
        per = None
        if one["rss_kb"] is not None and many["rss_kb"] is not None:
            per = round((many["rss_kb"] - one["rss_kb"]) * 1024 / n, 1)
        # valid: all N connections (and handshakes) made, settled before the sample
        d["valid"] = all(x["rss_kb"] is not None and x["setup_s"] is not None and
                         x["connects"] >= x["clients"] and
                         (v != "tls" or x["tls_handshakes"] >= x["clients"]) for x in (one, many))
        d["bytes_per_conn"] = per
        d["target_bytes"] = IDLE_TARGET[v]
        d["within_target"] = per is not None and per <= IDLE_TARGET[v] if d["valid"] else None
        # connections memcached had open at the sample, beyond those before
        # the run (the harness's own stats connection counted in both)
        if many["mc_curr_connections"] is not None and many["mc_curr_connections_before"] is not None:
            d["open_at_sample"] = many["mc_curr_connections"] - many["mc_curr_connections_before"]
        else:
            d["open_at_sample"] = None
        # RSS of the N run after the sample (until the SIGINT), against the
        # one used
        late = [x[1] for x in many["rss_kb_samples"]
                if many["rss_at_s"] is not None and x[0] > many["rss_at_s"] and
                (many["stop_s"] is None or x[0] < many["stop_s"])]
        d["rss_kb_after_sample_min"] = min(late) if late else None
        d["rss_kb_after_sample_max"] = max(late) if late else None
        im[v] = d
        if per is None:
            idle_warn.append("idle_memory %s: no RSS sample" % v)
            continue
        for x in (one, many):
            if x["setup_s"] is None:
                idle_warn.append("idle_memory %s: the %d connection(s) never settled (memcached"
                                 " did not see them all, or mcshredder or memcached stayed busy);"
                                 " sampled at %s s anyway" % (v, x["clients"], x["rss_at_s"]))
        if many["connects"] < n or many["errors"] or one["errors"]:
            idle_warn.append("idle_memory %s: %d of %d connections made, %d errors %s %s"
                             % (v, many["connects"], n, many["errors"] + one["errors"],
                                json.dumps(many["errors_by_kind"]),
                                json.dumps(many["tls_errors_by_reason"]) if v == "tls" else ""))
        if d["open_at_sample"] is not None and d["open_at_sample"] < 0.99 * n:
            idle_warn.append("idle_memory %s: memcached had only %d connections open at the sample"
                             % (v, d["open_at_sample"]))
        if many["tries"] > 1:
            idle_warn.append("idle_memory %s: the %d connections were not all set up in time on the"
                             " first try; the figure is from the second" % (v, n))
        if not d["valid"]:
            idle_warn.append("idle_memory %s: INVALID: the connections were not all set up at the"
                             " sample (twice); the figure is not the idle memory" % v)
        if many["mc_reconnects"]:
            idle_warn.append("idle_memory %s: memcached saw %d connections beyond the %d (connect"
                             " or handshake timeouts, retried)" % (v, many["mc_reconnects"], n))
        if v == "tls" and many["tls_handshakes"] < n:
            idle_warn.append("idle_memory tls: only %d of %d handshakes" % (many["tls_handshakes"], n))
        lo, hi = d["rss_kb_after_sample_min"], d["rss_kb_after_sample_max"]
        if lo is not None and (hi - many["rss_kb"] > 0.1 * (many["rss_kb"] - one["rss_kb"]) or
                               many["rss_kb"] - lo > 0.1 * (many["rss_kb"] - one["rss_kb"])):
            idle_warn.append("idle_memory %s: RSS was still moving after the sample (%s..%s KiB"
                             " against %s KiB): bytes/conn %s..%s"
                             % (v, format(lo, ","), format(hi, ","), format(many["rss_kb"], ","),
                                format((lo - one["rss_kb"]) * 1024 / n, ",.0f"),
                                format((hi - one["rss_kb"]) * 1024 / n, ",.0f")))
    result["idle_memory"] = im

# reconnect cases: the handshake counts
tls_warn = []
for r in result["cases"]:
    h, res = r["tls"]["handshakes"], r["tls"]["resumed"]
    if r["server_kind"] == "tls" and h < r["connects"]:
        tls_warn.append("%s: %d TLS handshakes for %d connects" % (r["name"], h, r["connects"]))
    if r["name"] == "tls_reconnect_full" and res != 0:
        tls_warn.append("%s: %d of %d handshakes resumed, expected 0 (--tls-no-resume)"
                        % (r["name"], res, h))
    if r["name"] == "tls_reconnect_resumed":
        # every client's first handshake is a full one, the rest resume
        want = h - cfg["clients"]
        if abs(res - want) > max(cfg["clients"], 0.01 * h):
            tls_warn.append("%s: %d of %d handshakes resumed, expected about %d (handshakes - clients)"
                            % (r["name"], res, h, want))
    if r["name"] in ("tls_reconnect_full", "tls_reconnect_resumed"):
        r["tls"]["expected_resumed"] = h - cfg["clients"] if r["name"] == "tls_reconnect_resumed" else 0

tmpout = out + ".tmp.%d" % os.getpid()
with open(tmpout, "w") as f:
    json.dump(result, f, indent=2)
    f.write("\n")
os.replace(tmpout, out)

def fmt(v, spec):
    return "-" if v is None else format(v, spec)

if result["cases"]:
    hdr = ("case", "req/s", "client us/req", "(user/sys)", "TLS/plain", "vs floor", "client cpu",
           "server us/req", "server cpu", "hit ratio", "p50 us", "p99 us", "errors")
    print("%-21s %10s %14s %15s %9s %8s %10s %14s %10s %9s %9s %9s %6s" % hdr)
    for r in result["cases"]:
        cl, sv = r["client"], r["server"]
        split = "-"
        if r["ops"]:
            split = "%.3f/%.3f" % (cl["user_s"] * 1e6 / r["ops"], cl["sys_s"] * 1e6 / r["ops"])
        tvp = r.get("tls_vs_plain", {}).get("client_us_per_req_ratio")
        vf = r.get("floor", {}).get("client_vs_floor")
        print("%-21s %10s %14s %15s %9s %8s %10s %14s %10s %9s %9.1f %9.1f %6d" % (
            r["name"], format(r["ops_per_sec"], ",.0f"),
            fmt(cl["us_per_req"], ".3f"), split,
            "-" if tvp is None else "%.2fx" % tvp, "-" if vf is None else "%.2fx" % vf,
            fmt(cl["cpu_util"] and cl["cpu_util"] * 100, ".1f") + "%",
            fmt(sv["us_per_req"], ".3f"), fmt(sv["cpu_util"] and sv["cpu_util"] * 100, ".1f") + "%",
            fmt(r["hit_ratio"] and r["hit_ratio"] * 100, ".2f") + "%",
            r["latency_us"]["p50"], r["latency_us"]["p99"], r["errors"]))
    print("us/req = CPU seconds (user+sys) of the whole mcshredder invocation, or of memcached"
          " over it, / requests completed; cpu = CPU time / wall time of the invocation;"
          " TLS/plain = client us/req of the TLS case / that of its plain case in this run"
          " (get_depth1, mg_pipelined, plain_reconnect); vs floor = client us/req / that of"
          " bench/floor.c on the same load in this run (below).")
    print("startup+shutdown (included): %s s wall outside the %s s phase; the preload run"
          " (start, %d sets, exit) took %.3f s CPU in all."
          % (", ".join(format(r["client"]["outside_phase_wall_s"], ".3f") for r in result["cases"]),
             format(cfg["duration_s"], "g"), result["preload"]["ops"], result["preload"]["client_cpu_s"]))
    fl = [r for r in result["cases"] if "floor" in r]
    if fl:
        print()
        print("floor: the same loads from bench/floor.c (epoll, send/recv, OpenSSL on a socket"
              " BIO; no stats, no Lua), CPU measured the same way")
        print("%-21s %10s %14s %15s %9s" % ("case", "req/s", "client us/req", "(user/sys)", "hit ratio"))
        for r in fl:
            f = r["floor"]
            hr = ratio(f["hits"], f["misses"])
            print("%-21s %10s %14s %15s %9s" % (
                r["name"], format(f["ops_per_sec"], ",.0f"), fmt(f["us_per_req"], ".3f"),
                "%.3f/%.3f" % (f["user_s"] * 1e6 / f["ops"], f["sys_s"] * 1e6 / f["ops"])
                if f["ops"] else "-",
                fmt(hr and hr * 100, ".2f") + "%"))

rc_cases = [r for r in result["cases"] if r["name"] in
            ("plain_reconnect", "tls_reconnect_full", "tls_reconnect_resumed")]
if rc_cases:
    print()
    print("reconnect cases: a new connection (and TLS handshake) per request")
    print("%-21s %10s %15s %15s %9s %11s %9s %11s %11s" % (
        "case", "conn/s", "client us/conn", "server us/conn", "connects", "handshakes",
        "resumed", "hs p50 us", "hs p99 us"))
    for r in rc_cases:
        hl = r["tls"]["handshake_latency_us"] if r["tls"]["handshakes"] else {}
        print("%-21s %10s %15s %15s %9d %11d %9d %11s %11s" % (
            r["name"], format(r["ops_per_sec"], ",.0f"), fmt(r["client"]["us_per_req"], ".1f"),
            fmt(r["server"]["us_per_req"], ".1f"), r["connects"], r["tls"]["handshakes"],
            r["tls"]["resumed"], fmt(hl.get("p50"), ".1f"), fmt(hl.get("p99"), ".1f")))
    print("handshake latency: from the end of the TCP connect to the end of the TLS handshake"
          " (workloads[0].tls.handshake.latency_us)")

if "idle_memory" in result:
    im = result["idle_memory"]
    print()
    print("idle_memory: client RSS with %s idle connections against 1 (sampled at %s s, or"
          " %s s after they were all set up)"
          % (format(im["conns"], ","), format(im["sample_at_s"], "g"), format(im["settle_s"], "g")))
    print("%-6s %10s %10s %11s %19s %5s %9s %8s   %s" % (
        "", "RSS 1 KiB", "RSS N KiB", "bytes/conn", "target", "", "set up s", "sample s",
        "RSS N over time (MiB, every 1 s)"))
    for v in ("plain", "tls"):
        d = im[v]
        series = " ".join("%.0f" % (x[1] / 1024) for x in d["many"]["rss_kb_samples"]
                          if abs(x[0] - round(x[0])) < 0.13)
        print("%-6s %10s %10s %11s %19s %5s %9s %8s   %s" % (
            v, fmt(d["one"]["rss_kb"], ","), fmt(d["many"]["rss_kb"], ","),
            fmt(d["bytes_per_conn"], ",.0f"),
            "<= %s (%d KiB)" % (format(d["target_bytes"], ","), d["target_bytes"] // 1024),
            {True: "ok", False: "OVER", None: "INVALID"}[d["within_target"]],
            fmt(d["many"]["setup_s"], ".2f"), fmt(d["many"]["rss_at_s"], ".2f"), series))
    t = im["tls"]["many"]
    if t["tls_handshakes"]:
        print("tls: %s handshakes, p50 %s ms, slowest %s ms (all %s started at once)"
              % (format(t["tls_handshakes"], ","), fmt(t["tls_handshake_p50_us"] and t["tls_handshake_p50_us"] / 1e3, ",.0f"),
                 fmt(t["tls_handshake_max_us"] and t["tls_handshake_max_us"] / 1e3, ",.0f"),
                 format(im["conns"], ",")))

print()
machine = ["%s %.2f s / %.2f s" % (r["name"], r["machine"]["other_cpu_s"], r["machine"]["steal_s"])
           for r in result["cases"]]
print("machine: %.2f CPUs busy in the second before the run; during each case, CPU time used"
      " by others / stolen by the hypervisor: %s" % (background, ", ".join(machine) or "-"))
noisy = background > 0.1 or any(
    r["machine"]["other_cpu_s"] + r["machine"]["steal_s"] > 0.1 * r["client"]["wall_s"]
    for r in result["cases"])
if noisy:
    print("WARNING: other processes or the hypervisor took CPU time; req/s is not"
          " trustworthy (CPU per request is less affected)")
for r in result["cases"]:
    # every request the client saw answered was counted by the server; the
    # server may have answered a few more (in flight when the client stopped)
    slack = cfg["clients"] * (cfg["mg_depth"] if r["name"].endswith("mg_pipelined") else 1)
    d = r["server"]["cmd_get"] - r["ops"]
    if d < 0 or d > slack:
        print("WARNING: %s: memcached counted %d gets, the client %d"
              % (r["name"], r["server"]["cmd_get"], r["ops"]))
for w in tls_warn + idle_warn:
    print("WARNING: " + w)
short = {"raw_syscalls:sys_enter": "syscalls", "syscalls:sys_enter_io_uring_enter": "io_uring_enter",
         "context-switches": "context switches", "page-faults": "page faults"}
for r in result["cases"]:
    if "perf_top" in r:
        print()
        print("perf, %s: separate %s s run at %s req/s; cpu-clock samples, self time, %% of mcshredder's"
              % (r["name"], format(cfg["perf_duration_s"], "g"), format(r.get("perf_run_ops_per_sec", 0), ",.0f")))
        print("  by object: " + ", ".join("%s %.1f%%" % (d["dso"], d["percent"]) for d in r["perf_dso"]))
        if "perf_per_req" in r:
            print("  per request: " + ", ".join("%s %.4f" % (short.get(k, k), v)
                                                for k, v in r["perf_per_req"].items()))
        for x in r["perf_top"]:
            print("  %6.2f%%  %-20s %s" % (x["percent"], x["dso"], x["symbol"]))
bad = [r["name"] for r in result["cases"]
       if r["errors"] or (r["hit_ratio"] is not None and r["hit_ratio"] < 0.99)]
if bad:
    print("WARNING: errors or hit ratio below 99%% in: %s" % ", ".join(bad))
print("results: %s" % out)
EOF

# the config, as JSON: name=value pairs, the value already JSON
cfg_json() { python3 -c '
import json, sys
print(json.dumps({k: json.loads(v) for k, v in (a.split("=", 1) for a in sys.argv[1:])}))' "$@"; }
jstr() { python3 -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$1"; }
jnum() { python3 -c 'import sys; print(float(sys.argv[1]))' "$1"; }
jbool() { if [ "$1" = 1 ]; then echo true; else echo false; fi; }
tls_args="-Z -o ssl_chain_cert=CERT,ssl_key=KEY -l 127.0.0.1:PORT,notls:127.0.0.1:STATS_PORT"
cfg=$(cfg_json "duration_s=$(jnum "$duration")" "keys=$((10#$keys))" "value_size=$((10#$vsize))" \
    "clients=$((10#$clients))" "threads=1" "mg_depth=$((10#$depth))" \
    "client_cpu=$((10#$client_cpu))" "server_cpu=$((10#$server_cpu))" \
    "memcached=$(jstr "$mc_version")" "memcached_args=$(jstr "${mc_common[*]}")" \
    "memcached_tls_args=$(jstr "$tls_args")" "tls_cert=$(jstr "EC P-256, throwaway CA")" \
    "cases=$(python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "${case_list[@]}")" \
    "idle_memory=$(jbool "$idle")" "idle_conns=$((10#$idle_conns))" \
    "idle_sample_s=$(jnum "$idle_sample_s")" "idle_settle_s=$(jnum "$idle_settle_s")" \
    "idle_tail_s=$(jnum "$idle_tail_s")" "idle_max_wait_s=$(jnum "$idle_max_wait_s")" \
    "perf=$(jbool "$perf")" "floor=$(jbool "$floor")" "perf_duration_s=$(jnum "$perf_duration")" \
    "mcshredder=$(jstr "$mcs_src")" "mcshredder_version=$(jstr "$mcs_version")" \
    "mcshredder_sha256=$(jstr "$mcs_sha")")
descs="{"
for c in "${case_list[@]}"; do descs+="\"$c\": \"$(case_desc "$c")\","; done
descs="${descs%,}}"
mkdir -p "$(dirname "$out")"
python3 "$tmp/report.py" "$tmp" "$out" "$cfg" "$(IFS=,; echo "${std_cases[*]:-}")" "$descs"
