-- conn_churn.lua: connection churn, a reconnect storm.
--
-- Every client connects, sends `requests` gets (pipelined), reads the
-- answers, and closes its connection; the next run connects again
-- (mcs.add's reconn_every option). This loads memcached's accept path,
-- its connection set-up and tear-down, and with --tls the TLS handshake:
-- run it with --tls (and --tls-ca, or --tls-insecure) against memcached
-- -Z, and with --tls-no-resume to make every handshake a full one. The
-- summary's connects/reconnects and, with TLS, the handshake counts and
-- times are the figures to look at; latency counts each run's requests
-- only, not the connect. Many short connections leave sockets in
-- TIME_WAIT on the client: at very high rates against a remote server
-- the local ports can run out.
--
--   mcshredder --server 127.0.0.1:11211 --conf scripts/conn_churn.lua \
--       --arg clients=20,requests=1,duration=30
--   mcshredder --server 127.0.0.1:11212 --tls --tls-ca ca.pem \
--       --conf scripts/conn_churn.lua --arg rate=2000

local SCRIPT = "conn_churn.lua"
local ABOUT = "each client reconnects every run (reconnect storm); works with --tls"
local ARGS = {
    { "requests", "1", "gets each connection sends (pipelined) before it is closed" },
    { "reconn_every", "1", "runs per connection: reconnect after every N runs" },
    { "keys", "1000", "key space of the gets: KEY_PREFIX1 .. KEY_PREFIXkeys" },
    { "proto", "meta", "meta (mg) or text (get)" },
    { "clients", "10", "clients per thread" },
    { "threads", "CPUs", "worker threads (--threads N or --arg threads=N)" },
    { "duration", "10", "length of the run: 10, 10s, 500ms, 2m" },
    { "rate", "0", "runs (connections, with reconn_every=1) per second in total (0: no limit)" },
    { "arrival", "uniform", "uniform or poisson spacing of the runs, with a rate" },
    { "key_prefix", "mcs:", "key prefix" },
}

-- ---- shared helpers: scripts/lib/mcs_args.lua -------------------------------

local A = require("mcs_args").new(SCRIPT, ABOUT, ARGS)
help = A.help

-- ---- config ----------------------------------------------------------------

function config(args)
    A.check_names(args)
    local a = A.common_opts(args)    -- a.keys, a.meta (proto=meta), a.prefix
    a.requests = A.int(args, "requests", 1, 100000)
    local nthreads, clients, duration, rate, arrival = A.load_opts(args)
    local reconn_every = A.int(args, "reconn_every", 1)

    local threads = A.make_threads(nthreads)
    mcs.add(threads, { func = "conn_churn", clients = clients * nthreads, init = true,
                       rate_limit = rate, arrival = arrival,
                       reconn_every = reconn_every }, a)
    mcs.shredder(threads, duration)
end

-- ---- workloads -------------------------------------------------------------

-- Once per client; returns the function each run calls.
function conn_churn(a)
    local getf = A.mg_or_get(a.meta, a.prefix)
    local res = mcs.res_new()
    local n, keys = a.requests, a.keys
    local random, write_factory, flush = math.random, mcs.write_factory, mcs.flush
    -- reads one response; a classic get that hits answers VALUE ... then END
    local read_response = A.response_reader(a.meta)

    return function()
        for _ = 1, n do
            write_factory(getf, random(keys))
        end
        flush()
        for _ = 1, n do
            read_response(res)
        end
    end
end
