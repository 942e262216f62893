-- bigvalues.lua: large values, 100 KB to 1 MB, with few clients.
--
-- Sets and gets of values whose sizes are drawn from `value_size` (by
-- default uniformly from 100,000 to 1,000,000 bytes; a weighted list such
-- as 100000:50,500000:30,1000000:20 works too). This exercises memcached's
-- large (chunked) items and the network path rather than request rates.
-- memcached's default item size limit (-I 1m) holds values up to about
-- 1,048,000 bytes; for bigger ones start it with e.g. -I 2m. The key space
-- times the mean size should fit in its memory (-m) unless you want
-- evictions: 50 keys of ~550 KB need about 30 MB.
--
--   mcshredder --server 127.0.0.1:11211 --conf scripts/bigvalues.lua \
--       --value-size 100000:50,500000:30,1000000:20 --arg clients=2,duration=30

local SCRIPT = "bigvalues.lua"
local ABOUT = "sets and gets of 100 KB - 1 MB values with few clients"
local ARGS = {
    { "value_size", "100000-1000000", "value sizes, as --value-size: MIN-MAX or N (lists: --value-size SIZE:WEIGHT,...)" },
    { "keys", "50", "key space: KEY_PREFIX1 .. KEY_PREFIXkeys" },
    { "key_dist", "uniform", "key popularity, as --key-dist" },
    { "set_ratio", "1", "weight of sets in the mix" },
    { "get_ratio", "3", "weight of gets in the mix" },
    { "ttl", "0", "TTL of the sets in seconds (0: never expire)" },
    { "proto", "meta", "meta (mg/ms) or text (get/set)" },
    { "clients", "2", "clients per thread" },
    { "threads", "CPUs", "worker threads (--threads N or --arg threads=N)" },
    { "duration", "10", "length of the run: 10, 10s, 500ms, 2m" },
    { "rate", "0", "requests per second in total (0: as fast as the server answers)" },
    { "arrival", "uniform", "uniform or poisson spacing of the runs, with a rate" },
    { "key_prefix", "mcs:big:", "key prefix" },
    { "validate", "off", "check every value read against what was written (on/off)" },
}

-- ---- shared helpers: scripts/lib/mcs_args.lua -------------------------------

local A = require("mcs_args").new(SCRIPT, ABOUT, ARGS)
help = A.help

-- ---- config ----------------------------------------------------------------

function config(args)
    A.check_names(args)
    -- a.value_size, a.keys, a.key_dist, a.sets (set_ratio), a.gets (get_ratio),
    -- a.ttl, a.meta (proto=meta), a.prefix
    local a = A.common_opts(args)
    if a.sets + a.gets == 0 then A.bad("set_ratio", "0", "set_ratio + get_ratio > 0") end
    local nthreads, clients, duration, rate, arrival = A.load_opts(args)
    local validate = A.bool(args, "validate")
    mcs.key_dist(a.key_dist, a.keys)
    mcs.size_dist(a.value_size)

    local threads = A.make_threads(nthreads)
    mcs.add(threads, { func = "bigvalues", clients = clients * nthreads, init = true,
                       rate_limit = rate, arrival = arrival,
                       validate = validate or nil }, a)
    mcs.shredder(threads, duration)
end

-- ---- workloads -------------------------------------------------------------

-- Once per client; returns the function each run calls.
function bigvalues(a)
    local kd = mcs.key_dist(a.key_dist, a.keys)
    local sd = mcs.size_dist(a.value_size)
    local getf = A.mg_or_get(a.meta, a.prefix)
    local setf = A.ms_or_set(a.meta, a.prefix, a.ttl)
    local res = mcs.res_new()
    local sets, total = a.sets, a.sets + a.gets
    local random, write_factory, flush = math.random, mcs.write_factory, mcs.flush
    -- reads one response; a classic get that hits answers VALUE ... then END
    local read_response = A.response_reader(a.meta)

    return function()
        if random(total) <= sets then
            write_factory(setf, kd:next_write(), sd:next())
        else
            write_factory(getf, kd:next())
        end
        flush()
        read_response(res)
    end
end
