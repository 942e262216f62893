-- warm_measure.lua: warm the cache, then measure reads of a full cache.
--
-- Phase 1 ("preload") writes every key once: the clients walk the key
-- space together (key distribution sequential:shared), and each stops
-- after its share of the keys, so the phase ends when all keys are
-- written. Phase 2 ("measure") sends only gets for `duration` seconds;
-- every key exists, so the hit ratio should be about 100%. With
-- min_hit > 0 the run fails (exit code 1) when it is lower, which means
-- memcached evicted or lost keys (give it more memory with -m, or use
-- fewer keys or smaller values).
--
--   mcshredder --server 127.0.0.1:11211 --conf scripts/warm_measure.lua \
--       --arg keys=1000000,value_size=200,duration=60 --json warm.json

local SCRIPT = "warm_measure.lua"
local ABOUT = "preload every key once, then measure gets (hit ratio ~100%)"
local ARGS = {
    { "keys", "10000", "key space: KEY_PREFIX1 .. KEY_PREFIXkeys, all preloaded" },
    { "value_size", "100", "value sizes, as --value-size: 100, 100-1000, pareto (lists: --value-size 100:70,1000:30)" },
    { "key_dist", "uniform", "key popularity of the measured gets, as --key-dist" },
    { "batch", "16", "sets each preload client pipelines per run" },
    { "min_hit", "0.99", "fail (exit 1) when the measured hit ratio is below this (0: no check)" },
    { "proto", "meta", "meta (mg/ms) or text (get/set)" },
    { "pipeline", "1", "gets each measuring client writes before it reads the responses" },
    { "clients", "25", "clients per thread" },
    { "threads", "CPUs", "worker threads (--threads N or --arg threads=N)" },
    { "duration", "10", "length of the measure phase: 10, 10s, 500ms, 2m" },
    { "rate", "0", "gets per second in total (0: as fast as the server answers)" },
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
    -- a.keys, a.value_size, a.key_dist, a.meta (proto=meta), a.pipeline, a.prefix
    local a = A.common_opts(args)
    a.batch = A.int(args, "batch", 1, 10000)
    local min_hit = A.frac(args, "min_hit")
    local nthreads, clients, duration, rate, arrival = A.load_opts(args)
    local validate = A.bool(args, "validate")
    mcs.key_dist(a.key_dist, a.keys)
    mcs.size_dist(a.value_size)

    local threads = A.make_threads(nthreads)
    local per_thread, limit = A.sweep_plan(a.keys, nthreads, math.min(clients, 4), a.batch)
    mcs.add(threads, { func = "preload", clients = per_thread * nthreads,
                       rate_limit = 0, init = true, limit = limit }, a)
    mcs.shredder(threads)

    mcs.add(threads, { func = "measure", clients = clients * nthreads, init = true,
                       rate_limit = rate > 0 and math.max(1, rate // a.pipeline) or 0,
                       arrival = arrival, validate = validate or nil }, a)
    if min_hit > 0 then
        mcs.assert(string.format("measure:hit_ratio>=%.6f", min_hit))
    end
    mcs.shredder(threads, duration)
end

-- ---- workloads -------------------------------------------------------------

-- Once per client: the clients together set every key once.
function preload(a)
    return A.sweep_set(a, A.ms_or_set(a.meta, a.prefix))
end

-- Once per client; returns the function each run calls.
function measure(a)
    local kd = mcs.key_dist(a.key_dist, a.keys)
    local getf = A.mg_or_get(a.meta, a.prefix)
    local res = mcs.res_new()
    local depth = a.pipeline
    local write_factory, flush = mcs.write_factory, mcs.flush
    -- reads one response; a classic get that hits answers VALUE ... then END
    local read_response = A.response_reader(a.meta)
    return function()
        for _ = 1, depth do
            write_factory(getf, kd:next())
        end
        flush()
        for _ = 1, depth do
            read_response(res)
        end
    end
end
