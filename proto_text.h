/* proto_text.h: memcached text and meta protocol, pure code.
 * Request formatting, a raw-request scanner and a streaming response parser:
 * bytes in, structs out; no I/O, no Lua, no allocation. */
#ifndef MCS_PROTO_TEXT_H
#define MCS_PROTO_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MCS_KEY_MAX 250
/* The longest request line a builder writes (key, numbers, meta flags). */
#define MCS_REQ_LINE_MAX 2048
/* A response line longer than this without "\r\n" is garbage. */
#define MCS_RES_LINE_MAX 8192

enum mcs_cmd {
    MCS_CMD_GET = 0, MCS_CMD_GETS, MCS_CMD_GAT, MCS_CMD_GATS,
    MCS_CMD_SET, MCS_CMD_ADD, MCS_CMD_REPLACE, MCS_CMD_APPEND, MCS_CMD_PREPEND,
    MCS_CMD_CAS, MCS_CMD_DELETE, MCS_CMD_INCR, MCS_CMD_DECR, MCS_CMD_TOUCH,
    MCS_CMD_STATS, MCS_CMD_VERSION, MCS_CMD_FLUSH_ALL, MCS_CMD_VERBOSITY,
    MCS_CMD_MG, MCS_CMD_MS, MCS_CMD_MD, MCS_CMD_MA, MCS_CMD_MN, MCS_CMD_ME,
    MCS_CMD_UNKNOWN,
    MCS_CMD_MAX
};

/* Name of a command as written on the wire ("get", "mg", ...). */
const char *mcs_cmd_name(enum mcs_cmd cmd);
/* Command by name; MCS_CMD_UNKNOWN when not known. */
enum mcs_cmd mcs_cmd_lookup(const char *name, size_t len);

/* What to build. Unused fields are ignored for commands that lack them. */
struct mcs_req_spec {
    enum mcs_cmd cmd;
    const char *prefix;     /* key = prefix followed by num (decimal) */
    size_t prefix_len;
    int64_t num;            /* < 0: no number suffix */
    uint32_t client_flags;  /* storage commands */
    int64_t ttl;            /* storage, touch, gat/gats */
    uint32_t vlen;          /* storage commands and ms: value length */
    uint64_t cas;           /* cas */
    uint64_t delta;         /* incr/decr */
    bool noreply;           /* classic commands that accept "noreply" */
    const char *mflags;     /* meta flags, already space separated ("v t T90") */
    size_t mflags_len;
    const char *arg;        /* stats argument, verbosity level, flush_all delay */
    size_t arg_len;
};

/* Writes the request line (with "\r\n", without any value body) into buf.
 * Returns its length, or 0 when it does not fit in cap or the key is longer
 * than MCS_KEY_MAX. *key_hash gets mcs_key_hash() of the key (0 if no key). */
size_t mcs_req_format(char *buf, size_t cap, const struct mcs_req_spec *spec,
                      uint64_t *key_hash);

/* A request line that differs from one request to the next only in its key
 * number (a factory's), formatted once with number 0 and then filled in:
 * the line up to the key's number (head), the number, the rest (tail). */
struct mcs_req_tmpl {
    uint16_t head_len, tail_len, prefix_len;
    uint16_t max_digits;    /* more would make the key or the line too long */
    char line[MCS_REQ_LINE_MAX];
};
/* false when spec has no key or cannot be formatted. */
bool mcs_req_tmpl_init(struct mcs_req_tmpl *t, const struct mcs_req_spec *spec);
/* The same line as mcs_req_format() for spec with this num, into buf (room
 * for MCS_REQ_LINE_MAX bytes); 0 when the key would be too long. */
size_t mcs_req_tmpl_format(char *buf, const struct mcs_req_tmpl *t, uint64_t num,
                           uint64_t *key_hash);

/* True for the commands that carry a data block (set family, cas, ms); its
 * "\r\n" ends it even when it is empty. */
static inline bool mcs_cmd_has_value(enum mcs_cmd cmd)
{
    return cmd == MCS_CMD_MS || (cmd >= MCS_CMD_SET && cmd <= MCS_CMD_CAS);
}

/* True when the meta flags string contains the quiet flag 'q'. */
bool mcs_mflags_quiet(const char *mflags, size_t len);

/* 64-bit hash of a key; values are generated from it. */
uint64_t mcs_key_hash(const char *key, size_t len);

/* Value body derived from a key hash and the length: vlen bytes followed by
 * "\r\n" (dst needs vlen + 2 bytes). mcs_value_check tells whether vlen bytes
 * at v are exactly what mcs_value_fill writes for that hash and length, so a
 * value cut short or grown fails too (except an empty one). */
void mcs_value_fill(char *dst, uint32_t vlen, uint64_t key_hash);
bool mcs_value_check(const char *v, uint32_t vlen, uint64_t key_hash);

/* Scanning raw request bytes a script wrote as a string: one command. */
struct mcs_req_info {
    enum mcs_cmd cmd;
    bool quiet;          /* meta 'q' flag */
    bool noreply;        /* classic "noreply": no response at all */
    uint32_t nkeys;      /* get/gets/gat/gats: number of keys */
    size_t len;          /* bytes of this command, value block included */
};
enum mcs_scan_status { MCS_SCAN_OK = 0, MCS_SCAN_INCOMPLETE = 1 };
/* Reads one command at buf. OK: *info filled, info->len bytes consumed.
 * INCOMPLETE: no full line (or value block) in len bytes. An unrecognised
 * command is OK with MCS_CMD_UNKNOWN and len up to and including '\n'. */
enum mcs_scan_status mcs_req_scan(const char *buf, size_t len,
                                  struct mcs_req_info *info);

/* Responses. */
enum mcs_res_type {
    MCS_RES_NONE = 0,
    MCS_RES_VALUE,      /* "VALUE key flags bytes [cas]" + data block */
    MCS_RES_END,
    MCS_RES_STORED, MCS_RES_NOT_STORED, MCS_RES_EXISTS, MCS_RES_NOT_FOUND,
    MCS_RES_DELETED, MCS_RES_TOUCHED,
    MCS_RES_NUMERIC,    /* incr/decr reply */
    MCS_RES_STAT,       /* "STAT name value" */
    MCS_RES_VERSION, MCS_RES_OK,
    MCS_RES_ERROR, MCS_RES_CLIENT_ERROR, MCS_RES_SERVER_ERROR,
    MCS_RES_HD, MCS_RES_VA, MCS_RES_EN, MCS_RES_NF, MCS_RES_NS, MCS_RES_EX,
    MCS_RES_MN, MCS_RES_ME,
    MCS_RES_TYPE_MAX
};

/* One parsed response. Offsets are from the start of the parsed buffer. */
struct mcs_res {
    enum mcs_res_type type;
    uint32_t line_len;      /* first line, without "\r\n" */
    uint32_t consumed;      /* bytes of the whole response, value included */
    int64_t vlen;           /* value length without "\r\n"; -1: no value */
    uint32_t value_off;     /* where the value starts */
    uint32_t key_off, key_len;          /* VALUE: the key */
    uint32_t client_flags;              /* VALUE: flags */
    uint64_t cas;                       /* VALUE: cas (0 if absent) */
    uint64_t number;                    /* NUMERIC: the value */
    uint32_t name_off, name_len;        /* STAT: name */
    uint32_t stat_off, stat_len;        /* STAT: value; VERSION/errors: text */
    uint32_t mflags_off, mflags_len;    /* meta: the flags after code [size] */
};

enum mcs_parse_status {
    MCS_PARSE_OK = 0,     /* *res filled, res->consumed bytes used */
    MCS_PARSE_WANT = 1,   /* need more bytes; nothing consumed */
    MCS_PARSE_ERROR = -1  /* malformed; the connection must be reset */
};
/* Parses one response at buf[0..len). Never reads past len. */
enum mcs_parse_status mcs_res_parse(const char *buf, size_t len,
                                    struct mcs_res *res);
/* Name of a response type ("VALUE", "HD", ...). */
const char *mcs_res_type_name(enum mcs_res_type t);

/* Splits a line at spaces into at most max tokens: offsets and lengths.
 * Returns the number of tokens. */
int mcs_tokenize(const char *line, size_t len, uint32_t *off, uint32_t *tlen,
                 int max);

/* Decimal formatting helpers used by builders; return the end pointer. */
char *mcs_fmt_u64(char *p, uint64_t v);
char *mcs_fmt_i64(char *p, int64_t v);

#endif
