-- getset.lua: a get/set mix with a hit ratio you choose.
--
-- First every key of the key space is set once (phase "preload"; preload=off
-- skips it). Then the clients mix sets and gets for `duration` seconds
-- (phase "getset"). A share `miss_ratio` of the gets asks for keys that are
-- never set (same numbers, prefix KEY_PREFIX.."miss:"), so the hit ratio
-- comes out near 1 - miss_ratio as long as the key space fits in
-- memcached's memory.
--
--   mcshredder --server 127.0.0.1:11211 --conf scripts/getset.lua \
--       --arg keys=100000,miss_ratio=0.2,value_size=500,clients=10,duration=30

local SCRIPT = "getset.lua"
local ABOUT = "a get/set mix; miss_ratio of the gets go to keys never set"
local ARGS = {
    { "keys", "10000", "key space: KEY_PREFIX1 .. KEY_PREFIXkeys" },
    { "key_dist", "uniform", "key popularity, as --key-dist: uniform, zipf:0.99, latest, ..." },
    { "miss_ratio", "0", "share of the gets sent to keys that are never set (0..1 or 20%)" },
    { "set_ratio", "1", "weight of sets in the mix (--ratio SET:GET sets both)" },
    { "get_ratio", "9", "weight of gets in the mix" },
    { "value_size", "100", "value sizes, as --value-size: 100, 100-1000, pareto (lists: --value-size 100:70,1000:30)" },
    { "ttl", "0", "TTL of the sets in seconds (0: never expire)" },
    { "preload", "on", "set every key once before the mix (on/off)" },
    { "proto", "meta", "meta (mg/ms) or text (get/set)" },
    { "pipeline", "1", "requests each client writes before it reads the responses" },
    { "clients", "25", "clients per thread" },
    { "threads", "CPUs", "worker threads (--threads N or --arg threads=N)" },
    { "duration", "10", "length of the mix phase: 10, 10s, 500ms, 2m" },
    { "rate", "0", "requests per second in total (0: as fast as the server answers)" },
    { "arrival", "uniform", "uniform or poisson spacing of the runs, with a rate" },
    { "key_prefix", "mcs:", "key prefix" },
    { "validate", "off", "check every value read against what was written (on/off)" },
}

-- ---- shared helpers: scripts/lib/mcs_args.lua -------------------------------

local A = require("mcs_args").new(SCRIPT, ABOUT, ARGS)
help = A.help

-- ---- config ----------------------------------------------------------------

function config(args)
    A.check_names(args)
    -- a.keys, a.key_dist, a.sets (set_ratio), a.gets (get_ratio),
    -- a.value_size, a.ttl, a.meta (proto=meta), a.pipeline, a.prefix
    local a = A.common_opts(args)
    a.miss_ratio = A.frac(args, "miss_ratio")
    if a.sets + a.gets == 0 then A.bad("set_ratio", "0", "set_ratio + get_ratio > 0") end
    local nthreads, clients, duration, rate, arrival = A.load_opts(args)
    local validate = A.bool(args, "validate")
    -- a bad distribution spec fails here, before anything runs
    mcs.key_dist(a.key_dist, a.keys)
    mcs.size_dist(a.value_size)

    local threads = A.make_threads(nthreads)
    if A.bool(args, "preload") then
        a.batch = 16
        local per_thread, limit = A.sweep_plan(a.keys, nthreads, math.min(clients, 4), a.batch)
        mcs.add(threads, { func = "preload", clients = per_thread * nthreads,
                           rate_limit = 0, init = true, limit = limit }, a)
        mcs.shredder(threads)
    end
    mcs.add(threads, { func = "getset", clients = clients * nthreads, init = true,
                       rate_limit = rate > 0 and math.max(1, rate // a.pipeline) or 0,
                       arrival = arrival, validate = validate or nil }, a)
    mcs.shredder(threads, duration)
end

-- ---- workloads -------------------------------------------------------------

-- Once per client: the clients together set every key once.
function preload(a)
    return A.sweep_set(a, A.ms_or_set(a.meta, a.prefix, a.ttl))
end

-- Once per client; returns the function each run calls.
function getset(a)
    local kd = mcs.key_dist(a.key_dist, a.keys)
    local sd = mcs.size_dist(a.value_size)
    local getf = A.mg_or_get(a.meta, a.prefix)
    local missf = A.mg_or_get(a.meta, a.prefix .. "miss:")
    local setf = A.ms_or_set(a.meta, a.prefix, a.ttl)
    local res = mcs.res_new()
    local depth, sets, total, miss = a.pipeline, a.sets, a.sets + a.gets, a.miss_ratio
    local random, write_factory, flush = math.random, mcs.write_factory, mcs.flush
    -- reads one response; a classic get that hits answers VALUE ... then END
    local read_response = A.response_reader(a.meta)

    return function()
        for _ = 1, depth do
            if random(total) <= sets then
                write_factory(setf, kd:next_write(), sd:next())
            elseif miss > 0 and random() < miss then
                write_factory(missf, kd:next())
            else
                write_factory(getf, kd:next())
            end
        end
        flush()
        for _ = 1, depth do
            read_response(res)
        end
    end
end
