#!/bin/sh
# scripts/fuzz.sh [SECONDS]: builds the libFuzzer targets t/fuzz_proto.c
# (response parser, request scanner) and t/fuzz_tls.c (the TLS read path:
# tls_bio.c under OpenSSL, then mcs_res_parse) with clang, and runs each for
# SECONDS (default 30) over a copy of its seed corpus in t/corpus/ (the
# committed corpus is never written to). Both targets run at the same time.
#
# Prints executions, exec/s and coverage per target, and the path of any
# crash / timeout / out-of-memory reproducer; exits 1 when a target failed,
# 0 otherwise. Exits 0 with "SKIP" when clang with libFuzzer (or OpenSSL
# headers, for fuzz_tls only) is not available.
#
# Environment: CC_FUZZ (default clang), FUZZ_KEEP=1 keeps the work dir.
set -u

secs=${1:-30}
case $secs in ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac
root=$(cd "$(dirname "$0")/.." && pwd)
cc=${CC_FUZZ:-clang}
flags="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -O1 -g -std=gnu11"

work=$(mktemp -d "${TMPDIR:-/tmp}/mcs-fuzz-XXXXXX") || exit 1
keep=${FUZZ_KEEP:-}
cleanup() { [ -n "$keep" ] || rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# libFuzzer present?
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
    > "$work/probe.c"
if ! command -v "$cc" >/dev/null 2>&1 ||
   ! "$cc" $flags "$work/probe.c" -o "$work/probe" >/dev/null 2>&1; then
    echo "SKIP: $cc with libFuzzer (-fsanitize=fuzzer) is not available"
    exit 0
fi

inc="-I$root"
[ -e "$root/build/config.h" ] && inc="$inc -I$root/build"

targets=""
if "$cc" $flags $inc "$root/t/fuzz_proto.c" "$root/proto_text.c" -o "$work/fuzz_proto" \
        > "$work/build-proto.log" 2>&1; then
    targets="proto"
else
    echo "FAIL: cannot build fuzz_proto:"; cat "$work/build-proto.log"; keep=1; exit 1
fi
ssl=$(pkg-config --cflags --libs openssl 2>/dev/null) || ssl="-lssl -lcrypto"
if "$cc" $flags $inc "$root/t/fuzz_tls.c" "$root/tls_bio.c" "$root/proto_text.c" \
        $ssl -pthread -o "$work/fuzz_tls" > "$work/build-tls.log" 2>&1; then
    targets="$targets tls"
elif grep -q 'openssl/.*file not found' "$work/build-tls.log"; then
    echo "SKIP fuzz_tls: no OpenSSL headers"
else
    echo "FAIL: cannot build fuzz_tls:"; cat "$work/build-tls.log"; keep=1; exit 1
fi

for t in $targets; do
    mkdir -p "$work/corpus-$t" "$work/artifacts-$t"
    cp "$root/t/corpus/$t/"* "$work/corpus-$t/" 2>/dev/null
    ( cd "$work" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        "./fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts-$t/" \
        "corpus-$t" > "log-$t" 2>&1; echo $? > "rc-$t" ) &
done
wait

status=0
for t in $targets; do
    rc=$(cat "$work/rc-$t" 2>/dev/null || echo 1)
    log="$work/log-$t"
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(echo "$last" | sed -n 's/.*\(cov: [0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.*\(ft: [0-9]*\).*/\1/p')
    corp=$(echo "$last" | sed -n 's/.*corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p')
    echo "fuzz_$t: ${secs}s, ${runs:-?} executions, ${eps:-?} exec/s, ${cov:-cov: ?}, ${ft:-ft: ?}, corpus ${corp:-?}"
    echo "fuzz_$t: final line: $last"
    found=$(ls "$work/artifacts-$t" 2>/dev/null)
    if [ "$rc" != 0 ] || [ -n "$found" ]; then
        status=1
        keep=1
        echo "FAIL fuzz_$t (exit $rc); log: $log"
        for f in $found; do echo "  reproducer: $work/artifacts-$t/$f"; done
        grep -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|SUMMARY' "$log" | head -5 | sed 's/^/  /'
    fi
done
[ "$status" = 0 ] && echo "fuzz: no crash" || echo "fuzz: work dir kept: $work"
exit $status
