/* t/fuzz_proto.c: libFuzzer target for the response parser and the request
 * scanner. Built and run by scripts/fuzz.sh (seeds: t/corpus/proto/); by hand:
 *   clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -I.
 *         t/fuzz_proto.c proto_text.c -o fuzz_proto */
#include <stdlib.h>
#include <string.h>

#include "proto_text.h"

static void must(int cond)
{
    if (!cond)
        abort();
}

/* Responses are parsed from exactly their bytes on the heap; every prefix of
 * an OK response must be WANT, and the result must not depend on how much
 * follows it. */
static void fuzz_res(const char *b, size_t len)
{
    size_t pos = 0;
    struct mcs_res r, r2;

    while (pos < len) {
        enum mcs_parse_status st = mcs_res_parse(b + pos, len - pos, &r);
        if (st != MCS_PARSE_OK)
            break;
        must(r.consumed > 0 && r.consumed <= len - pos);
        must(r.line_len + 2 <= r.consumed);
        must(r.vlen < 0 || r.value_off + (uint64_t)r.vlen + 2 == r.consumed);
        must(mcs_res_parse(b + pos, r.consumed, &r2) == MCS_PARSE_OK &&
             memcmp(&r, &r2, sizeof(r)) == 0);
        must(mcs_res_parse(b + pos, r.consumed - 1, &r2) == MCS_PARSE_WANT);
        pos += r.consumed;
    }
}

static void fuzz_req(const char *b, size_t len)
{
    size_t pos = 0;
    struct mcs_req_info info;

    while (pos < len &&
           mcs_req_scan(b + pos, len - pos, &info) == MCS_SCAN_OK) {
        must(info.len > 0 && info.len <= len - pos);
        pos += info.len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *b = malloc(size ? size : 1);

    if (b == NULL)
        return 0;
    memcpy(b, data, size);
    fuzz_res(b, size);
    fuzz_req(b, size);
    free(b);
    return 0;
}
