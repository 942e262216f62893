#!/usr/bin/env bash
# bench/run.sh: mcshredder's benchmark harness.  One command runs every case
# and prints a table; the results also go to a JSON file.  See docs/bench.md.
#
# It starts its own memcached (-t 1 -U 0 -m 1024) on a free loopback port,
# pinned to one CPU, preloads the keys (not measured), then runs each case as
# its own mcshredder invocation (1 worker thread, 50 connections) pinned to
# the other CPU, and measures the client's CPU time (user+system, from wait4)
# and the server's (from /proc/PID/stat) over that invocation.
#
# usage: bench/run.sh [options]
#   --duration SECS      measured time per case (default 10)
#   --out FILE           JSON results (default bench/results.json)
#   --keys N             key space, all preloaded (default 10000)
#   --value-size BYTES   value size (default 32)
#   --clients N          connections (default 50)
#   --depth N            pipeline depth of the mg case (default 16)
#   --cases LIST         comma-separated subset of: get_depth1,mg_pipelined
#   --client-cpu N       CPU for mcshredder (default 0)
#   --server-cpu N       CPU for memcached (default 1)
#   --perf               also profile each case (an extra, separate run under
#                        perf record -g) and print its top 15 symbols
#   --perf-duration SECS length of each profiled run (default 5)
#   --perf-dir DIR       keep the perf.data files there (default: deleted)
#   --mcshredder PATH    binary to test (default build/mcshredder; built
#                        with scripts/build.sh when missing)
#   --memcached PATH     memcached binary (default: memcached from PATH)
#   -h, --help
#
# Every child runs under `timeout -s KILL`, so nothing can hang the script.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bench="$root/bench"

duration=10
out="$bench/results.json"
keys=10000
vsize=32
clients=50
depth=16
cases="get_depth1,mg_pipelined"
client_cpu=0
server_cpu=1
perf=0
perf_duration=5
perf_dir=""
mcs="$root/build/mcshredder"
memcached=memcached

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "bench/run.sh: $*" >&2; exit 2; }
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
    --client-cpu) need_arg "$@"; client_cpu=$2; shift 2 ;;
    --server-cpu) need_arg "$@"; server_cpu=$2; shift 2 ;;
    --perf) perf=1; shift ;;
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
for v in keys:vsize:value-size clients depth client_cpu:client-cpu server_cpu:server-cpu; do
    var=${v%%:*} opt=${v#*:}
    is_int "${!var}" || die "--$opt: a non-negative integer, got '${!var}'"
done
[ "$keys" -ge 1 ] && [ "$clients" -ge 1 ] && [ "$depth" -ge 1 ] ||
    die "--keys, --clients and --depth must be at least 1"
IFS=, read -r -a case_list <<< "$cases"
for c in "${case_list[@]}"; do
    case $c in get_depth1|mg_pipelined) ;; *) die "--cases: unknown case '$c'" ;; esac
done

command -v python3 >/dev/null || die "python3 is needed (CPU accounting and the report)"
command -v taskset >/dev/null || die "taskset is needed (util-linux)"
command -v "$memcached" >/dev/null || die "memcached not found ('$memcached')"
if [ ! -x "$mcs" ]; then
    [ "$mcs" = "$root/build/mcshredder" ] || die "no executable at $mcs"
    echo "bench/run.sh: $mcs missing, building it" >&2
    timeout -s KILL 900 "$root/scripts/build.sh" >&2
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
mc_tpid=""
cleanup() {
    # only what this script started: the timeout wrapping memcached, by pid
    if [ -n "$mc_tpid" ] && kill -0 "$mc_tpid" 2>/dev/null; then
        kill -KILL "$mc_tpid" 2>/dev/null || true
        [ -n "${mc_pid:-}" ] && kill -KILL "$mc_pid" 2>/dev/null || true
        wait "$mc_tpid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
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

# mc_stats: memcached's "stats" as "name value" lines.
mc_stats() {
    local fd line
    exec {fd}<>"/dev/tcp/127.0.0.1/$port"
    printf 'stats\r\n' >&"$fd"
    while IFS= read -r -t 5 line <&"$fd"; do
        line=${line%$'\r'}
        [ "$line" = END ] && break
        case $line in STAT\ *) echo "${line#STAT }" ;; esac
    done
    exec {fd}>&-
}
stat_of() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }

# case_args CASE: sets cargs to mcshredder's options for CASE (the Lua script
# and the flags it reads).
case_args() {
    case $1 in
    get_depth1) cargs=(--conf "$bench/get_depth1.lua" --pipeline 1) ;;
    mg_pipelined) cargs=(--conf "$bench/mg_pipelined.lua" --pipeline "$depth") ;;
    esac
}
case_desc() {
    case $1 in
    get_depth1) echo "classic text get, depth 1, ${vsize}-byte values" ;;
    mg_pipelined) echo "meta 'mg <key> v', ${depth} deep pipeline, ${vsize}-byte values" ;;
    esac
}

# seconds -> whole seconds for timeouts (ceil)
ceil() { python3 -c "import math,sys; print(math.ceil(float(sys.argv[1])))" "$1"; }
dur_ceil=$(ceil "$duration")
pdur_ceil=$(ceil "$perf_duration")
ncases=${#case_list[@]}
mcs_budget=$(( dur_ceil + 30 ))
perf_budget=$(( pdur_ceil + 60 ))
mc_budget=$(( 120 + ncases * mcs_budget + perf * ncases * perf_budget ))

# --- memcached ----------------------------------------------------------------

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mc_user=()
[ "$(id -u)" = 0 ] && mc_user=(-u root)
timeout -s KILL "$mc_budget" taskset -c "$server_cpu" "$memcached" "${mc_user[@]}" \
    -t 1 -U 0 -m 1024 -l 127.0.0.1 -p "$port" > "$tmp/memcached.log" 2>&1 &
mc_tpid=$!
mc_pid=""
for _ in $(seq 100); do
    if [ -z "$mc_pid" ]; then
        mc_pid=$(awk '{print $1}' "/proc/$mc_tpid/task/$mc_tpid/children" 2>/dev/null ||
                 pgrep -P "$mc_tpid" 2>/dev/null | head -1) || true
    fi
    if [ -n "$mc_pid" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        break
    fi
    kill -0 "$mc_tpid" 2>/dev/null || { cat "$tmp/memcached.log" >&2; die "memcached did not start"; }
    sleep 0.05
done
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || die "memcached does not answer on port $port"
[ "$(cat "/proc/$mc_pid/comm" 2>/dev/null)" = memcached ] ||
    die "cannot find memcached's pid (got '$mc_pid')"
mc_version=$(mc_stats | awk '$1 == "version" { print $2 }')
echo "memcached $mc_version pid $mc_pid on 127.0.0.1:$port (CPU $server_cpu);" \
     "mcshredder on CPU $client_cpu; $duration s per case" >&2

common=(--server "127.0.0.1:$port" --threads 1 --clients "$clients" --keys "$keys"
        --value-size "$vsize" --quiet)

# How busy the machine is before we start (other processes skew everything).
cp /proc/stat "$tmp/idle.pstat0"
sleep 1
cp /proc/stat "$tmp/idle.pstat1"

# --- preload (not measured) ---------------------------------------------------

echo "preload: $keys keys of $vsize bytes" >&2
if ! run_timed "$tmp/preload.rusage" timeout -s KILL 120 \
        taskset -c "$client_cpu" "$mcs" --server "127.0.0.1:$port" --threads 1 \
        --keys "$keys" --value-size "$vsize" --quiet \
        --conf "$bench/preload.lua" --json "$tmp/preload.json" > "$tmp/preload.out" 2>&1; then
    cat "$tmp/preload.out" >&2
    die "preload failed"
fi
mc_stats > "$tmp/stats.preload"
items=$(stat_of curr_items "$tmp/stats.preload")
[ "$items" = "$keys" ] || die "after preload memcached holds $items items, expected $keys"

# --- the cases ----------------------------------------------------------------

clk_tck=$(getconf CLK_TCK)
for c in "${case_list[@]}"; do
    echo "case $c: $(case_desc "$c")" >&2
    case_args "$c"
    mc_stats > "$tmp/$c.stats0"
    cp /proc/stat "$tmp/$c.pstat0"
    t0=$(proc_ticks "$mc_pid")
    rc=0
    run_timed "$tmp/$c.rusage" timeout -s KILL "$mcs_budget" \
        taskset -c "$client_cpu" "$mcs" "${common[@]}" --duration "$duration" "${cargs[@]}" \
        --json "$tmp/$c.json" > "$tmp/$c.out" 2>&1 || rc=$?
    t1=$(proc_ticks "$mc_pid")
    cp /proc/stat "$tmp/$c.pstat1"
    mc_stats > "$tmp/$c.stats1"
    echo "$(( t1 - t0 )) $clk_tck" > "$tmp/$c.server"
    if [ "$rc" -ne 0 ] || [ ! -s "$tmp/$c.json" ]; then
        cat "$tmp/$c.out" >&2
        die "case $c: mcshredder failed (exit $rc)"
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
cases = sys.argv[4].split(",")
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
pre = json.load(open(os.path.join(tmp, "preload.json")))["totals"]
pre_ru = rusage(os.path.join(tmp, "preload.rusage"))
result = {
    "version": 1,
    "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    "host": {"kernel": platform.release(), "cpus": os.cpu_count()},
    "config": cfg,
    "background_busy_cpus": background,
    "preload": {"ops": pre["ops"], "errors": pre["errors"],
                "duration_s": pre["duration_s"],
                "client_cpu_s": round(pre_ru["user_s"] + pre_ru["sys_s"], 6),
                "wall_s": round(pre_ru["wall_s"], 6)},
    "cases": [],
}
for c in cases:
    t = json.load(open(os.path.join(tmp, c + ".json")))["totals"]
    ru = rusage(os.path.join(tmp, c + ".rusage"))
    ticks, hz = map(int, open(os.path.join(tmp, c + ".server")).read().split())
    s0, s1 = stats(os.path.join(tmp, c + ".stats0")), stats(os.path.join(tmp, c + ".stats1"))
    sdelta = lambda k: int(s1.get(k, 0)) - int(s0.get(k, 0))
    ops = t["ops"]
    ccpu = ru["user_s"] + ru["sys_s"]
    scpu = ticks / hz
    dur = t["duration_s"]
    r = {
        "name": c, "description": descs[c],
        "ops": ops, "duration_s": dur,
        "ops_per_sec": round(ops / dur, 3) if dur else 0,
        "hits": t["hits"], "misses": t["misses"],
        "hit_ratio": ratio(t["hits"], t["misses"]),
        "errors": t["errors"], "errors_by_kind": t["errors_by_kind"],
        "latency_us": t["latency_us"],
        "bytes_in": t["bytes_in"], "bytes_out": t["bytes_out"],
        "connects": t["connects"],
        "client": {
            "user_s": round(ru["user_s"], 6), "sys_s": round(ru["sys_s"], 6),
            "cpu_s": round(ccpu, 6), "wall_s": round(ru["wall_s"], 6),
            "outside_phase_wall_s": round(ru["wall_s"] - dur, 6),
            "maxrss_kb": ru["maxrss_kb"],
            "cpu_util": round(ccpu / ru["wall_s"], 4) if ru["wall_s"] else None,
            "us_per_req": round(ccpu * 1e6 / ops, 4) if ops else None,
        },
        "server": {
            "cpu_s": scpu, "clk_tck": hz,
            "cpu_util": round(scpu / ru["wall_s"], 4) if ru["wall_s"] else None,
            "us_per_req": round(scpu * 1e6 / ops, 4) if ops else None,
            "get_hits": sdelta("get_hits"), "get_misses": sdelta("get_misses"),
            "cmd_get": sdelta("cmd_get"),
        },
    }
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
        # CPU time not spent by mcshredder or memcached (other processes,
        # interrupts not charged to either), over the case's wall time
        "other_cpu_s": round(busy - ccpu - scpu, 3),
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

tmpout = out + ".tmp.%d" % os.getpid()
with open(tmpout, "w") as f:
    json.dump(result, f, indent=2)
    f.write("\n")
os.replace(tmpout, out)

def fmt(v, spec):
    return "-" if v is None else format(v, spec)

hdr = ("case", "req/s", "client us/req", "(user/sys)", "client cpu", "server us/req",
       "server cpu", "hit ratio", "p50 us", "p99 us", "errors")
print("%-13s %11s %14s %13s %11s %14s %11s %10s %9s %9s %7s" % hdr)
for r in result["cases"]:
    cl, sv = r["client"], r["server"]
    split = "-"
    if r["ops"]:
        split = "%.3f/%.3f" % (cl["user_s"] * 1e6 / r["ops"], cl["sys_s"] * 1e6 / r["ops"])
    print("%-13s %11s %14s %13s %11s %14s %11s %10s %9.1f %9.1f %7d" % (
        r["name"], format(r["ops_per_sec"], ",.0f"),
        fmt(cl["us_per_req"], ".3f"), split,
        fmt(cl["cpu_util"] and cl["cpu_util"] * 100, ".1f") + "%",
        fmt(sv["us_per_req"], ".3f"), fmt(sv["cpu_util"] and sv["cpu_util"] * 100, ".1f") + "%",
        fmt(r["hit_ratio"] and r["hit_ratio"] * 100, ".2f") + "%",
        r["latency_us"]["p50"], r["latency_us"]["p99"], r["errors"]))
print("us/req = CPU seconds (user+sys) of the whole mcshredder invocation, or of memcached"
      " over it, / requests completed; cpu = CPU time / wall time of the invocation.")
print("startup+shutdown (included): %s s wall outside the %s s phase; the preload run"
      " (start, %d sets, exit) took %.3f s CPU in all."
      % (", ".join(format(r["client"]["outside_phase_wall_s"], ".3f") for r in result["cases"]),
         format(cfg["duration_s"], "g"), result["preload"]["ops"], result["preload"]["client_cpu_s"]))
print("machine: %.2f CPUs busy in the second before the run; during each case, CPU time used"
      " by others / stolen by the hypervisor: %s" % (background, ", ".join(
          "%s %.2f s / %.2f s" % (r["name"], r["machine"]["other_cpu_s"], r["machine"]["steal_s"])
          for r in result["cases"])))
noisy = background > 0.1 or any(
    r["machine"]["other_cpu_s"] + r["machine"]["steal_s"] > 0.1 * r["client"]["wall_s"]
    for r in result["cases"])
if noisy:
    print("WARNING: other processes or the hypervisor took CPU time; req/s is not"
          " trustworthy (CPU per request is less affected)")
for r in result["cases"]:
    # every request the client saw answered was counted by the server; the
    # server may have answered a few more (in flight when the client stopped)
    slack = cfg["clients"] * (cfg["mg_depth"] if r["name"] == "mg_pipelined" else 1)
    d = r["server"]["cmd_get"] - r["ops"]
    if d < 0 or d > slack:
        print("WARNING: %s: memcached counted %d gets, the client %d"
              % (r["name"], r["server"]["cmd_get"], r["ops"]))
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

json_str() { python3 -c 'import json, sys; print(json.dumps(sys.argv[1])[1:-1])' "$1"; }
num() { python3 -c 'import sys; print(float(sys.argv[1]))' "$1"; }
cfg=$(printf '{"duration_s": %s, "keys": %s, "value_size": %s, "clients": %s, "threads": 1, "mg_depth": %s, "client_cpu": %s, "server_cpu": %s, "memcached": "%s", "memcached_args": "-t 1 -U 0 -m 1024", "perf": %s, "perf_duration_s": %s, "mcshredder": "%s", "mcshredder_version": "%s", "mcshredder_sha256": "%s"}' \
    "$(num "$duration")" "$((10#$keys))" "$((10#$vsize))" "$((10#$clients))" "$((10#$depth))" \
    "$((10#$client_cpu))" "$((10#$server_cpu))" "$mc_version" \
    "$([ "$perf" = 1 ] && echo true || echo false)" "$(num "$perf_duration")" \
    "$(json_str "$mcs_src")" "$(json_str "$mcs_version")" "$mcs_sha")
descs="{"
for c in "${case_list[@]}"; do descs+="\"$c\": \"$(case_desc "$c")\","; done
descs="${descs%,}}"
mkdir -p "$(dirname "$out")"
python3 "$tmp/report.py" "$tmp" "$out" "$cfg" "$(IFS=,; echo "${case_list[*]}")" "$descs"
