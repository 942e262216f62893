-- validate_sweep.lua: write every key, read every key back, check every
-- value.
--
-- Phase 1 ("sweep_write") sets each key of the key space once; phase 2
-- ("sweep_read") gets each key once with the workload option
-- validate = true, which checks every value read against what a set of
-- that key writes (values are generated from the key and the length). A
-- wrong value is counted as a mismatch ("validated N values: M
-- mismatches" in the summary, validate_mismatches in the JSON, the first
-- ones printed with their key on stderr) and makes the exit code 1. So do
-- more than max_misses misses (keys that are gone: evicted, expired,
-- flushed). Both phases end when the sweep is done; there is no duration.
-- write=off skips phase 1, to check what an earlier run wrote (e.g. after
-- a server restart with a persistent cache, or through a proxy).
--
--   mcshredder --server 127.0.0.1:11211 --conf scripts/validate_sweep.lua \
--       --arg keys=1000000,value_size=10-5000 && echo all values intact

local SCRIPT = "validate_sweep.lua"
local ABOUT = "set every key, then read every key back with validation; exit 1 on mismatches"
local ARGS = {
    { "keys", "10000", "key space: KEY_PREFIX1 .. KEY_PREFIXkeys, each written and read once" },
    { "value_size", "100", "value sizes, as --value-size: 100, 10-5000, pareto (lists: --value-size 100:70,1000:30)" },
    { "write", "on", "run the write phase (off: only read back and check)" },
    { "max_misses", "0", "fail (exit 1) when more reads than this miss" },
    { "batch", "16", "requests each client pipelines per run (text: one multi-key get)" },
    { "proto", "meta", "meta (mg/ms) or text (get/set)" },
    { "clients", "4", "clients per thread" },
    { "threads", "CPUs", "worker threads (--threads N or --arg threads=N)" },
    { "key_prefix", "mcs:", "key prefix" },
}

-- ---- shared helpers: scripts/lib/mcs_args.lua -------------------------------

local A = require("mcs_args").new(SCRIPT, ABOUT, ARGS)
help = A.help

-- ---- config ----------------------------------------------------------------

function config(args)
    A.check_names(args)
    local a = A.common_opts(args)    -- a.keys, a.value_size, a.meta (proto=meta), a.prefix
    a.batch = A.int(args, "batch", 1, 1000)
    local write = A.bool(args, "write")
    local max_misses = A.int(args, "max_misses", 0)
    local nthreads = A.int(args, "threads", 1, 256)
    local clients = A.int(args, "clients", 1, 100000)
    mcs.size_dist(a.value_size)

    local threads = A.make_threads(nthreads)
    local per_thread, limit = A.sweep_plan(a.keys, nthreads, clients, a.batch)
    if write then
        mcs.add(threads, { func = "sweep_write", clients = per_thread * nthreads,
                           rate_limit = 0, init = true, limit = limit }, a)
        mcs.shredder(threads)
    end
    mcs.add(threads, { func = "sweep_read", clients = per_thread * nthreads,
                       rate_limit = 0, init = true, limit = limit, validate = true }, a)
    mcs.assert("sweep_read:misses<=" .. max_misses)
    mcs.assert("sweep_read:errors==0")
    mcs.shredder(threads)
end

-- ---- workloads -------------------------------------------------------------

-- Once per client: the clients together set every key once.
function sweep_write(a)
    return A.sweep_set(a, A.ms_or_set(a.meta, a.prefix))
end

-- Once per client: the clients together read every key once.
function sweep_read(a)
    if a.meta then
        -- one mg per key, a.batch of them per run; k: the key in mismatch messages
        return A.sweep(a, mcs.mg_factory(a.prefix, "v", "k"))
    end
    -- text: one `get k1 k2 ...` per run; VALUE lines for the hits, then END
    local kd = mcs.key_dist("sequential:shared", a.keys)
    local res = mcs.res_new()
    local knums = {}
    local take = A.sweep_keys(kd, a.batch, knums)
    local write_factory, flush, read = mcs.write_factory, mcs.flush, mcs.read
    local getf = mcs.get_factory(a.prefix)
    local unpack, res_type = table.unpack, mcs.res_type
    return function()
        local n = take()
        if n == 0 then return end
        write_factory(getf, unpack(knums, 1, n))
        flush()
        repeat
            read(res)
        until res_type(res) ~= "VALUE"
    end
end
