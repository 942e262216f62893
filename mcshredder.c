/* mcshredder.c: main. Parses the command line, runs the script's config()
 * in the config VM (which starts the phases), then prints the summary,
 * writes the JSON and exits with a code that says how the run went. */
#include "config.h"

#include <getopt.h>
#include <malloc.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <lauxlib.h>
#include <lualib.h>

#include "compare_script.h"
#include "default_script.h"
#include "asserts.h"
#include "dist.h"
#include "hdrlog.h"
#include "lua_api.h"
#include "report.h"
#include "target.h"
#include "tls.h"
#include "worker.h"

struct mcs_opts {
    const char *host, *port, *sock, *conf, *arg, *json, *csv, *hdr_log;
    const char *builtin[32][2];  /* built-in workload settings: name, value */
    int nbuiltin;
    bool help;
    bool use_tls;                /* --tls: the default target speaks TLS */
    struct mcs_tls_opts tls;     /* any --tls-* option sets tls.enabled */
};

static struct mcs_run *signal_run;

static void usage(FILE *f)
{
    fprintf(f,
"usage: mcshredder [options]\n"
"\n"
"Drives a memcached server with a built-in workload, or with a Lua script.\n"
"\n"
"Server:\n"
"  --server HOST:PORT     server to load (default 127.0.0.1:11211; [::1]:11211 for IPv6)\n"
"  --ip HOST, --port PORT the same, as two options\n"
"  --sock PATH            a Unix socket instead of TCP\n"
"  --timeout TIME         a request unanswered this long fails and its\n"
"                         connection is reset; 0 = wait forever (default 5s)\n"
"\n"
"TLS (memcached -Z):\n"
"  --tls                  connect with TLS; certificates are verified by default\n"
"  --tls-ca FILE          CA certificates to verify with (default: system store)\n"
"  --tls-cert FILE, --tls-key FILE   client certificate and key (mTLS)\n"
"  --tls-sni NAME         server name to send and verify (default: the host)\n"
"  --tls-insecure         do not verify the server's certificate\n"
"  --tls-min V, --tls-max V          protocol version bounds: 1.2 or 1.3\n"
"  --tls-ciphers LIST     TLS 1.2 cipher list; --tls-ciphersuites LIST for 1.3\n"
"  --tls-groups LIST      key exchange groups, e.g. X25519:P-256\n"
"  --tls-no-resume        full handshake on every reconnect (default: resume)\n"
"  --tls-keylog FILE      write session keys for Wireshark (SSLKEYLOGFILE format)\n"
"\n"
"Built-in workload (used when there is no --conf):\n"
"  --threads N            worker threads (default: number of CPUs)\n"
"  --clients N            connections per thread (default 25)\n"
"  --pin                  pin worker thread i to the i-th CPU it may use, for\n"
"                         scripts too (default: the scheduler places them)\n"
"  --duration TIME        how long to run: 30, 30s, 500ms, 2m, 1h (default 10s)\n"
"  --proto meta|text      meta (mg/ms/md) or classic text (get/set/delete/touch)\n"
"                         (default meta)\n"
"  --ratio S:G[:D[:T]]    mix of sets, gets, deletes and touches (default 1:9)\n"
"  --pipeline N           operations per round trip (default 1)\n"
"  --multiget N           keys per get: one \"get k1 .. kN\" (text) or N\n"
"                         pipelined mg (meta) (default 1)\n"
"  --preload              set every key once first, as a phase of its own\n"
"  --validate             check every value read against what a set of its key\n"
"                         writes; mismatches fail the run (exit 1)\n"
"\n"
"Keys and values (built-in workload):\n"
"  --keys N               key space size: keys PREFIX1 .. PREFIXN (default 10000)\n"
"  --key-prefix STR       key prefix (default mcs:)\n"
"  --key-dist SPEC        which keys are asked for (default uniform):\n"
"                         uniform, sequential, sequential:shared, zipf[:S]\n"
"                         (S default 0.99), gaussian[:MEAN,SD] (0.5,0.125),\n"
"                         hotspot[:KEYS,REQS] (0.2,0.8), latest[:S]\n"
"  --value-size SPEC      value sizes of sets (default 100): N, MIN-MAX,\n"
"                         SIZE:WEIGHT,... (100:70,1000:25,100000:5),\n"
"                         gpd:LOC,SCALE,SHAPE[,MAX], pareto\n"
"  --ttl SECS             TTL of sets and touches; 0 = never expire (default 0)\n"
"  --seed N               seed of key and size choices, so a run repeats\n"
"                         (default: a new one each run, printed at the end);\n"
"                         scripts get it too (mcs.seed(), math.random)\n"
"\n"
"Pacing (built-in workload):\n"
"  --rate N               total operations per second, 0 = unlimited (default 0);\n"
"                         with a rate, latency counts from each round trip's\n"
"                         slot in the schedule (open loop; a pipelined batch\n"
"                         shares one), and service time is kept apart\n"
"  --arrival uniform|poisson  spacing of the slots, with --rate (default uniform)\n"
"\n"
"Scripts:\n"
"  --conf FILE            Lua script: its config(args) sets up and runs the test\n"
"  --arg K=V,K2,...       the args table passed to config (K2 alone means true)\n"
"\n"
"Checks (for CI):\n"
"  --assert EXPR          fail (exit 1) unless EXPR holds at the end; repeatable:\n"
"                         'p99<2ms', 'errors==0', 'hit_ratio>=90%%',\n"
"                         'ops_per_sec>100000', 'rate_achieved_ratio>=0.9',\n"
"                         'NAME:p99<1ms' for one workload (docs/ci.md)\n"
"\n"
"Output:\n"
"  --json FILE            write the results as JSON (docs/json.md)\n"
"  --csv FILE             write one row per workload and interval (docs/hdrlog.md)\n"
"  --hdr-log FILE         HdrHistogram interval log of latencies (docs/hdrlog.md)\n"
"  --interval TIME        interval of the live line, JSON, CSV and HDR log rows\n"
"                         (default 1s, at least 10ms)\n"
"  --quiet                no live line\n"
"  -v, --verbose          say which io_uring features the workers use\n"
"  --help, --version\n"
"\n"
"Compare two --json results (for CI): mcshredder compare BASE.json NEW.json\n"
"  [--tolerance 10%%] (see mcshredder compare --help and docs/ci.md)\n"
"\n"
"Exit codes: 0 ok, 1 a failed assertion, test or comparison, 2 usage or script\n"
"error, 3 server unreachable or unusable.\n"
"The Lua API is described in docs/lua-api.md.\n");
}

__attribute__((noreturn))
static void die_usage(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "mcshredder: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\n(see mcshredder --help)\n");
    exit(MCS_EXIT_USAGE);
}

/* Whole number in [min, max]; exits with a usage error otherwise. */
static long long parse_int(const char *opt, const char *s, long long min, long long max)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < min || v > max) {
        char range[64];
        snprintf(range, sizeof(range), "%lld..%lld", min, max);
        fprintf(stderr, "mcshredder: --%s: expected a whole number in %s, got '%s'\n",
                opt, range, s);
        exit(MCS_EXIT_USAGE);
    }
    return v;
}

/* "30", "30s", "500ms", "2m", "1h" -> seconds. */
static double parse_duration(const char *opt, const char *s)
{
    char *end;
    double v = strtod(s, &end);
    double mult = 1;
    if (strcmp(end, "ms") == 0)
        mult = 0.001;
    else if (strcmp(end, "m") == 0)
        mult = 60;
    else if (strcmp(end, "h") == 0)
        mult = 3600;
    else if (strcmp(end, "s") != 0 && *end != '\0')
        end = NULL;
    if (end == NULL || end == s || !(v >= 0) || v * mult > 365 * 86400.0)
        die_usage("--%s: expected a duration like 30, 30s, 500ms or 2m, got '%s'", opt, s);
    return v * mult;
}

static const char *builtin_value(const struct mcs_opts *o, const char *name,
                                 const char *def)
{
    for (int i = 0; i < o->nbuiltin; i++)
        if (strcmp(o->builtin[i][0], name) == 0)
            return o->builtin[i][1];
    return def;
}

static void set_builtin(struct mcs_opts *o, const char *name, const char *value)
{
    for (int i = 0; i < o->nbuiltin; i++) {
        if (strcmp(o->builtin[i][0], name) == 0) {
            o->builtin[i][1] = value;
            return;
        }
    }
    o->builtin[o->nbuiltin][0] = name;
    o->builtin[o->nbuiltin++][1] = value;
}

/* "host:port", "[v6]:port", or "host" (default port). */
static void parse_server(struct mcs_opts *o, char *s)
{
    char *colon = strrchr(s, ':');
    if (s[0] == '[') {
        char *close = strchr(s, ']');
        if (close == NULL)
            die_usage("--server: missing ']' in '%s'%s", s, "");
        colon = close[1] == ':' ? close + 1 : NULL;
    } else if (colon && strchr(s, ':') != colon) {
        colon = NULL; /* a bare IPv6 address */
    }
    o->host = s;
    if (colon) {
        *colon = '\0';
        o->port = colon + 1;
    }
}

/* --ratio SET:GET[:DELETE[:TOUCH]] */
static void parse_ratio(struct mcs_opts *o, char *ratio)
{
    static const char *names[] = { "set_ratio", "get_ratio", "delete_ratio", "touch_ratio" };
    char *save = NULL, *field = ratio ? strtok_r(ratio, ":", &save) : NULL;
    long long sum = 0;
    int n = 0;
    for (; field != NULL && n < 4; field = strtok_r(NULL, ":", &save), n++) {
        sum += parse_int("ratio", field, 0, 1000000);
        set_builtin(o, names[n], field);
    }
    if (field != NULL || n < 2)
        die_usage("--ratio: expected SET:GET[:DELETE[:TOUCH]] like 1:9 or 2:7:1, got "
                  "%s fields%s", n < 2 ? "fewer" : "more", "");
    if (sum == 0)
        die_usage("--ratio: every part is 0%s%s", "", "");
}

/* Checks the built-in workload's settings that depend on each other. */
static void check_builtin_values(struct mcs_opts *o, const char *proto)
{
    char err[256];
    const char *keys = builtin_value(o, "keys", "10000");
    const char *key_dist = builtin_value(o, "key_dist", "uniform");
    struct mcs_key_dist kd;
    if (!mcs_key_dist_parse(&kd, key_dist, strtoull(keys, NULL, 10), err, sizeof(err)))
        die_usage("--key-dist: %s%s", err, "");
    struct mcs_size_dist sd;
    if (!mcs_size_dist_parse(&sd, builtin_value(o, "value_size", "100"), err, sizeof(err)))
        die_usage("--value-size: %s%s", err, "");
    if (proto && strcmp(proto, "meta") != 0 && strcmp(proto, "text") != 0)
        die_usage("--proto: expected meta or text, got '%s'%s", proto, "");
}

/* Long options; getopt_long returns the enum value. */
enum { O_ASSERT = 200, O_ARRIVAL, O_CSV, O_HDR_LOG, O_TIMEOUT, O_KEY_DIST, O_KEY_PREFIX,
       O_TTL, O_MULTIGET, O_PRELOAD, O_VALIDATE, O_SEED, O_PIN,
       O_SERVER = 256, O_IP, O_PORT, O_SOCK, O_CONF, O_ARG, O_THREADS, O_CLIENTS,
       O_DURATION, O_KEYS, O_RATIO, O_VSIZE, O_PIPELINE, O_RATE, O_PROTO, O_JSON,
       O_INTERVAL, O_QUIET, O_HELP, O_VERSION, O_TLS, O_TLS_CA, O_TLS_CERT,
       O_TLS_KEY, O_TLS_SNI, O_TLS_INSECURE, O_TLS_MIN, O_TLS_MAX, O_TLS_CIPHERS,
       O_TLS_SUITES, O_TLS_GROUPS, O_TLS_NO_RESUME, O_TLS_KEYLOG };
static const struct option longopts[] = {
    { "server", 1, 0, O_SERVER }, { "ip", 1, 0, O_IP }, { "port", 1, 0, O_PORT },
    { "sock", 1, 0, O_SOCK }, { "conf", 1, 0, O_CONF }, { "arg", 1, 0, O_ARG },
    { "threads", 1, 0, O_THREADS }, { "clients", 1, 0, O_CLIENTS },
    { "duration", 1, 0, O_DURATION }, { "keys", 1, 0, O_KEYS },
    { "ratio", 1, 0, O_RATIO }, { "value-size", 1, 0, O_VSIZE },
    { "pipeline", 1, 0, O_PIPELINE }, { "rate", 1, 0, O_RATE },
    { "proto", 1, 0, O_PROTO }, { "json", 1, 0, O_JSON },
    { "interval", 1, 0, O_INTERVAL }, { "quiet", 0, 0, O_QUIET },
    { "help", 0, 0, O_HELP }, { "version", 0, 0, O_VERSION },
    { "verbose", 0, 0, 'v' }, { "pin", 0, 0, O_PIN },
    { "assert", 1, 0, O_ASSERT }, { "arrival", 1, 0, O_ARRIVAL },
    { "csv", 1, 0, O_CSV }, { "hdr-log", 1, 0, O_HDR_LOG },
    { "timeout", 1, 0, O_TIMEOUT }, { "key-dist", 1, 0, O_KEY_DIST },
    { "key-prefix", 1, 0, O_KEY_PREFIX }, { "ttl", 1, 0, O_TTL },
    { "multiget", 1, 0, O_MULTIGET }, { "preload", 0, 0, O_PRELOAD },
    { "validate", 0, 0, O_VALIDATE }, { "seed", 1, 0, O_SEED },
    { "tls", 0, 0, O_TLS }, { "tls-ca", 1, 0, O_TLS_CA }, { "tls-cert", 1, 0, O_TLS_CERT },
    { "tls-key", 1, 0, O_TLS_KEY }, { "tls-sni", 1, 0, O_TLS_SNI },
    { "tls-insecure", 0, 0, O_TLS_INSECURE }, { "tls-min", 1, 0, O_TLS_MIN },
    { "tls-max", 1, 0, O_TLS_MAX }, { "tls-ciphers", 1, 0, O_TLS_CIPHERS },
    { "tls-ciphersuites", 1, 0, O_TLS_SUITES }, { "tls-groups", 1, 0, O_TLS_GROUPS },
    { "tls-no-resume", 0, 0, O_TLS_NO_RESUME }, { "tls-keylog", 1, 0, O_TLS_KEYLOG },
    /* the original mcshredder's spellings */
    { "tls_chain_cert", 1, 0, O_TLS_CERT }, { "tls_key", 1, 0, O_TLS_KEY },
    { "tls_ca_cert", 1, 0, O_TLS_CA }, { 0, 0, 0, 0 }
};

static void add_assert(struct mcs_run *run, const char *expr)
{
    char err[256];
    struct mcs_assert *a = mcs_assert_parse(expr, err, sizeof(err));
    if (a == NULL)
        die_usage("--assert '%s': %s", expr, err);
    run->asserts = realloc(run->asserts, (run->nasserts + 1) * sizeof(*run->asserts));
    if (run->asserts == NULL)
        die_usage("out of memory%s%s", "", "");
    run->asserts[run->nasserts++] = a;
}

/* The TLS options, in the order of their enum after O_TLS. */
static void parse_tls_opt(struct mcs_opts *o, int which, const char *arg)
{
    struct mcs_tls_opts *t = &o->tls;
    const char **str[] = { NULL, &t->ca, &t->cert, &t->key, &t->sni, NULL, &t->min,
                           &t->max, &t->ciphers, &t->ciphersuites, &t->groups, NULL,
                           &t->keylog };
    t->enabled = true;
    if (which == 0)
        o->use_tls = true;
    else if (which == 5)
        t->insecure = true;
    else if (which == 11)
        t->no_resume = true;
    else
        *str[which] = arg;
}

/* The built-in workload's whole-number options: flag, key in args, range. */
static const struct {
    int opt;
    const char *name;
    long long min, max;
} int_opts[] = {
    { O_THREADS, "threads", 1, 256 }, { O_CLIENTS, "clients", 1, 100000 },
    { O_KEYS, "keys", 1, INT64_MAX / 2 }, { O_TTL, "ttl", 0, INT32_MAX },
    { O_MULTIGET, "multiget", 1, 1000 }, { O_PIPELINE, "pipeline", 1, 100000 },
    { O_RATE, "rate", 0, INT64_MAX / 2 },
};

/* One of int_opts: checked, then passed to the workload. */
static bool parse_int_opt(struct mcs_opts *o, int c, const char *arg)
{
    for (size_t i = 0; i < sizeof(int_opts) / sizeof(int_opts[0]); i++) {
        if (int_opts[i].opt == c) {
            parse_int(int_opts[i].name, arg, int_opts[i].min, int_opts[i].max);
            set_builtin(o, int_opts[i].name, arg);
            return true;
        }
    }
    return false;
}

static void parse_args(int argc, char **argv, struct mcs_opts *o, struct mcs_run *run)
{
    const char *proto = NULL;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hv", longopts, NULL)) != -1) {
        if (c >= O_TLS) {
            parse_tls_opt(o, c - O_TLS, optarg);
            continue;
        }
        if (parse_int_opt(o, c, optarg))
            continue;
        switch (c) {
        case O_SERVER: parse_server(o, optarg); break;
        case O_IP: o->host = optarg; break;
        case O_PORT: parse_int("port", optarg, 1, 65535); o->port = optarg; break;
        case O_SOCK: o->sock = optarg; break;
        case O_CONF: o->conf = optarg; break;
        case O_ARG: o->arg = optarg; break;
        case O_DURATION: {
            static char dur[32];
            snprintf(dur, sizeof(dur), "%.3f", parse_duration("duration", optarg));
            set_builtin(o, "duration", dur);
            break;
        }
        case O_RATIO: parse_ratio(o, optarg); break;
        case O_VSIZE: set_builtin(o, "value_size", optarg); break;
        case O_KEY_DIST: set_builtin(o, "key_dist", optarg); break;
        case O_KEY_PREFIX:
            if (strlen(optarg) > 200 || strpbrk(optarg, " \t\r\n") != NULL)
                die_usage("--key-prefix: at most 200 bytes without spaces, got '%s'%s",
                          optarg, "");
            set_builtin(o, "key_prefix", optarg);
            break;
        case O_PRELOAD: set_builtin(o, "preload", "1"); break;
        case O_VALIDATE: set_builtin(o, "validate", "1"); break;
        case O_SEED:
            run->seed = (uint64_t)parse_int("seed", optarg, 0, INT64_MAX);
            run->seed_given = true;
            break;
        case O_PROTO: proto = optarg; set_builtin(o, "proto", optarg); break;
        case O_JSON: o->json = optarg; break;
        case O_CSV: o->csv = optarg; break;
        case O_TIMEOUT:
            run->timeout_ns = (uint64_t)(parse_duration("timeout", optarg) * 1e9);
            break;
        case O_HDR_LOG: o->hdr_log = optarg; break;
        case O_INTERVAL: run->interval_s = parse_duration("interval", optarg);
            if (run->interval_s < 0.01)
                die_usage("--interval: at least 10ms, got '%s'%s", optarg, "");
            break;
        case O_QUIET: run->quiet = true; break;
        case O_ASSERT: add_assert(run, optarg); break;
        case O_ARRIVAL:
            if (strcmp(optarg, "uniform") != 0 && strcmp(optarg, "poisson") != 0)
                die_usage("--arrival: expected uniform or poisson, got '%s'%s", optarg, "");
            set_builtin(o, "arrival", optarg);
            break;
        case 'h': case O_HELP: o->help = true; break;
        case 'v': run->verbose = true; break;
        case O_PIN: run->pin = true; break;
        case O_VERSION: printf("mcshredder %s\n", PACKAGE_VERSION); exit(0);
        case ':': die_usage("option '%s' needs a value%s", argv[optind - 1], "");
        default: die_usage("unknown option '%s'%s", argv[optind - 1], "");
        }
    }
    if (optind < argc)
        die_usage("unexpected argument '%s'%s", argv[optind], "");
    check_builtin_values(o, proto);
}

/* The args table: the built-in workload's flags, then the --arg pairs, so
 * that a script's own --arg threads=2 wins over the default thread count. */
static void push_args(lua_State *L, const struct mcs_opts *o)
{
    lua_newtable(L);
    for (int i = 0; i < o->nbuiltin; i++) {
        lua_pushstring(L, o->builtin[i][1]);
        lua_setfield(L, -2, o->builtin[i][0]);
    }
    if (o->arg) {
        char *copy = strdup(o->arg), *save = NULL;
        for (char *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(kv, '=');
            if (eq) {
                *eq = '\0';
                lua_pushstring(L, eq + 1);
            } else {
                lua_pushboolean(L, 1);
            }
            lua_setfield(L, -2, kv);
        }
        free(copy);
    }
}

/* The server, plain and (with TLS options) TLS; --tls picks the default. */
static void setup_targets(struct mcs_run *run, struct mcs_opts *o)
{
    char err[512];
    int ret = o->sock ? mcs_target_unix(&run->plain_target, o->sock, err, sizeof(err))
                      : mcs_target_resolve(&run->plain_target, o->host, o->port, err,
                                           sizeof(err));
    if (ret < 0) {
        fprintf(stderr, "mcshredder: %s\n", err);
        exit(MCS_EXIT_CONNECT);
    }
    run->default_host = o->host;
    run->default_port = o->port;
    run->default_sock = o->sock;
    run->tls_opts = &o->tls;
    run->tls_target = run->plain_target;
    if (o->tls.enabled) {
        run->tls_target.tls = mcs_tls_ctx_new(&o->tls, o->host, err, sizeof(err));
        if (run->tls_target.tls == NULL) {
            fprintf(stderr, "mcshredder: TLS: %s\n", err);
            exit(MCS_EXIT_USAGE);
        }
        run->tls_target.tp = mcs_tls_transport();
        if (o->tls.insecure)
            fprintf(stderr, "mcshredder: warning: --tls-insecure: the server's "
                            "certificate is not verified\n");
    }
    run->target = o->use_tls ? run->tls_target : run->plain_target;
}

/* Many connections need many descriptors: take what the hard limit allows. */
static void raise_nofile(struct mcs_run *run)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    run->nofile = rl.rlim_cur;
}

/* Without --seed, a fresh one each run (reported, so the run can be repeated;
 * 32 bits, so that it survives tools that read JSON numbers as doubles). */
static uint64_t random_seed(void)
{
    uint64_t s;
    if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != (ssize_t)sizeof(s))
        s = mcs_now_ns() ^ ((uint64_t)getpid() << 32);
    return s & 0xffffffffu;
}

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&signal_run->halt, 1);
    atomic_store(&signal_run->interrupted, 1);
    signal(SIGINT, SIG_DFL); /* a second ^C ends it at once */
    signal(SIGTERM, SIG_DFL);
}

static void setup_signals(struct mcs_run *run)
{
    signal_run = run;
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static void print_script_help(lua_State *L)
{
    if (lua_getglobal(L, "help") != LUA_TFUNCTION) {
        lua_pop(L, 1);
        return;
    }
    printf("\nScript options:\n");
    fflush(stdout);
    if (mcs_lua_pcall(L, 0, 0) != LUA_OK) {
        fprintf(stderr, "mcshredder: script help() failed: %s\n", lua_tostring(L, -1));
        lua_pop(L, 1);
    }
}

/* Loads the script in the config VM and calls config(args). */
static void run_config(struct mcs_run *run, const struct mcs_opts *o)
{
    lua_State *L = run->L;
    if (mcs_lua_load_script(L, run) != LUA_OK) {
        fprintf(stderr, "mcshredder: script error: %s\n", lua_tostring(L, -1));
        exit(MCS_EXIT_USAGE);
    }
    if (o->help) {
        usage(stdout);
        if (o->conf)
            print_script_help(L);
        exit(0);
    }
    if (lua_getglobal(L, "config") != LUA_TFUNCTION) {
        fprintf(stderr, "mcshredder: script error: %s has no config(args) function\n",
                run->script_path ? run->script_path : "the built-in workload");
        exit(MCS_EXIT_USAGE);
    }
    push_args(L, o);
    if (mcs_lua_pcall(L, 1, 0) != LUA_OK) {
        fprintf(stderr, "mcshredder: script error: %s\n", lua_tostring(L, -1));
        mcs_run_fail(run, MCS_EXIT_USAGE);
    }
}

static void report_written(struct mcs_run *run, const char *path, int ret)
{
    if (ret < 0) {
        fprintf(stderr, "mcshredder: cannot write %s: %s\n", path, strerror(-ret));
        mcs_run_fail(run, MCS_EXIT_FAIL);
    }
}

/* The HdrHistogram log starts with the run, so its times line up. */
static void open_hdrlog(struct mcs_run *run, const char *path)
{
    char err[256];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    run->hdrlog = mcs_hdrlog_open(path, now.tv_sec + now.tv_nsec / 1e9, err, sizeof(err));
    if (run->hdrlog == NULL) {
        fprintf(stderr, "mcshredder: --hdr-log %s: %s\n", path, err);
        exit(MCS_EXIT_USAGE);
    }
}

static void report(struct mcs_run *run, const struct mcs_opts *o)
{
    struct mcs_report_wl *wl = calloc(run->nworkloads + 1, sizeof(*wl));
    int n = 0;
    for (struct mcs_workload *w = run->workloads; w; w = w->next) {
        if (w->phase > run->phase)
            continue; /* added but never run */
        wl[n++] = (struct mcs_report_wl){ .name = w->name, .phase = w->phase,
                                          .duration_s = w->duration_s, .stats = &w->total,
                                          .series = &w->series,
                                          .target_runs_per_s = w->target_runs_per_s };
    }
    struct mcs_report_thread *t = calloc(run->nworkers + 1, sizeof(*t));
    for (int i = 0; t && i < run->nworkers; i++)
        t[i] = (struct mcs_report_thread){ run->workers[i]->cpu_ns / 1e9,
                                           run->workers[i]->wall_ns / 1e9 };
    int nt = t ? run->nworkers : 0;
    /* a server that was never reached gets its one error line, no table;
     * a TAP script keeps stdout for its tests */
    FILE *out = run->tap.used ? stderr : stdout;
    if (n > 0 && atomic_load(&run->exit_code) != MCS_EXIT_CONNECT) {
        mcs_report_summary(out, wl, n, run->total_duration_s);
        mcs_report_client(out, t, nt);
        fprintf(out, "seed %" PRIu64 " (--seed %" PRIu64 " repeats the keys and sizes drawn)\n",
                run->seed, run->seed);
    }
    if (o->json)
        report_written(run, o->json, mcs_report_json_run(o->json, wl, n,
                                                         run->total_duration_s, t, nt,
                                                         run->seed));
    free(t);
    if (o->csv)
        report_written(run, o->csv, mcs_series_write_csv(o->csv, wl, n));
    free(wl);
}

/* Assertions and TAP tests decide between exit codes 0 and 1. */
static void run_checks(struct mcs_run *run)
{
    if (atomic_load(&run->exit_code) >= MCS_EXIT_USAGE)
        return; /* the run did not happen as asked: checks would mislead */
    if (mcs_assert_check_all(run->asserts, run->nasserts, run, stderr) > 0)
        mcs_run_fail(run, MCS_EXIT_FAIL);
    if (!mcs_tap_finish(&run->tap))
        mcs_run_fail(run, MCS_EXIT_FAIL);
    uint64_t checked = 0, bad = 0;
    for (struct mcs_workload *w = run->workloads; w; w = w->next) {
        checked += w->total.validated;
        bad += w->total.mismatches;
    }
    if (bad > 0) {
        fprintf(stderr, "mcshredder: validation failed: %" PRIu64 " of %" PRIu64
                        " values read were not what a set of their key writes\n", bad, checked);
        mcs_run_fail(run, MCS_EXIT_FAIL);
    }
}

static void run_free(struct mcs_run *run)
{
    for (int i = 0; i < run->nasserts; i++)
        free(run->asserts[i]);
    free(run->asserts);
    for (int i = 0; i < run->nworkers; i++) {
        mcs_worker_free(run->workers[i]);
        free(run->workers[i]);
    }
    free(run->workers);
    lua_close(run->L);
    for (struct mcs_workload *w = run->workloads, *next; w; w = next) {
        next = w->next;
        mcs_stats_free(&w->interval);
        mcs_stats_free(&w->total);
        mcs_series_free(&w->series);
        free(w->name);
        free(w);
    }
    mcs_stats_free(&run->tick_sum);
    mcs_hist_free(run->tick_scratch);
    mcs_tls_ctx_free(run->tls_target.tls);
    free(run->out.buf);
    close(run->out.efd);
    pthread_mutex_destroy(&run->out.lock);
}

/* `mcshredder compare BASE.json NEW.json [--tolerance 5%]`: runs the
 * built-in scripts/compare.lua with the arguments in `arg`; its return
 * value is the exit code. */
static int compare_main(int argc, char **argv)
{
    lua_State *L = luaL_newstate();
    if (L == NULL)
        return MCS_EXIT_FAIL;
    luaL_openlibs(L);
    lua_createtable(L, argc, 0);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i);
    }
    lua_setglobal(L, "arg");
    int code = MCS_EXIT_USAGE;
    if (luaL_loadbuffer(L, mcs_compare_script, sizeof(mcs_compare_script) - 1,
                        "=compare.lua") != LUA_OK || mcs_lua_pcall(L, 0, 1) != LUA_OK)
        fprintf(stderr, "mcshredder compare: %s\n", lua_tostring(L, -1));
    else
        code = (int)luaL_optinteger(L, -1, 0);
    lua_close(L);
    return code;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "compare") == 0)
        return compare_main(argc - 1, argv + 1);
    /* Large blocks (histograms made for a moment at every interval) are
     * always mapped and unmapped, never carved from the heap, so that they
     * cannot pin heap memory: a fixed threshold turns off glibc's habit of
     * raising it after the first such free. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    static struct mcs_run run;
    struct mcs_opts o = { .host = "127.0.0.1", .port = "11211" };
    static struct mcs_lctx lctx;
    char nthreads[16];

    run.interval_s = 1;
    run.timeout_ns = 5000000000ULL;
    mcs_tap_init(&run.tap);
    run.wl_tail = &run.workloads;
    snprintf(nthreads, sizeof(nthreads), "%ld", sysconf(_SC_NPROCESSORS_ONLN));
    set_builtin(&o, "threads", nthreads);
    parse_args(argc, argv, &o, &run);
    run.script_path = o.conf;
    run.script_text = mcs_default_script;
    if (o.conf && access(o.conf, R_OK) != 0) {
        fprintf(stderr, "mcshredder: cannot read script %s: %s\n", o.conf, strerror(errno));
        return MCS_EXIT_USAGE;
    }
    pthread_mutex_init(&run.out.lock, NULL);
    run.out.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!run.seed_given)
        run.seed = random_seed();
    lctx.run = &run;
    run.L = mcs_lua_new(&lctx);
    if (run.L == NULL || run.out.efd < 0) {
        fprintf(stderr, "mcshredder: out of memory\n");
        return MCS_EXIT_FAIL;
    }
    if (!o.help)
        setup_targets(&run, &o);
    setup_signals(&run);
    raise_nofile(&run);
    run.t0_ns = mcs_now_ns();
    if (o.hdr_log && !o.help)
        open_hdrlog(&run, o.hdr_log);
    run_config(&run, &o);
    report(&run, &o);
    run_checks(&run);
    if (atomic_load(&run.interrupted))
        fprintf(stderr, "mcshredder: interrupted; the results cover the time it ran\n");
    if (run.hdrlog && mcs_hdrlog_close(run.hdrlog) < 0) {
        fprintf(stderr, "mcshredder: cannot write %s\n", o.hdr_log);
        mcs_run_fail(&run, MCS_EXIT_FAIL);
    }
    int code = atomic_load(&run.exit_code);
    run_free(&run);
    return code;
}
