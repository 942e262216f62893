-- meta_mix.lua: a meta protocol mix: mg with the flags you choose, ms with
-- a TTL, and optionally a share of md.
--
-- Each request is picked at random by the weights get_ratio (mg),
-- set_ratio (ms) and delete_ratio (md). mg asks for `flags` (default
-- "v k t f s": value, key, remaining TTL, client flags, size), so the
-- responses are the size a client using those flags would see.
--
--   mcshredder --server 127.0.0.1:11211 --conf scripts/meta_mix.lua \
--       --arg "keys=50000,flags=v t,ttl=60,delete_ratio=1,duration=30"

local SCRIPT = "meta_mix.lua"
local ABOUT = "mg (with the given flags) / ms (with a TTL) / md mix"
local ARGS = {
    { "keys", "10000", "key space: KEY_PREFIX1 .. KEY_PREFIXkeys" },
    { "key_dist", "uniform", "key popularity, as --key-dist: uniform, zipf:0.99, latest, ..." },
    { "flags", "v k t f s", "flags of every mg, separated by spaces" },
    { "ms_flags", "", "extra flags of every ms, e.g. F5 or I (the T flag comes from ttl)" },
    { "ttl", "300", "TTL of every ms in seconds (T flag; 0: never expire)" },
    { "get_ratio", "8", "weight of mg in the mix" },
    { "set_ratio", "2", "weight of ms in the mix" },
    { "delete_ratio", "0", "weight of md in the mix" },
    { "value_size", "100", "value sizes, as --value-size: 100, 100-1000, pareto (lists: --value-size 100:70,1000:30)" },
    { "pipeline", "1", "requests each client writes before it reads the responses" },
    { "clients", "25", "clients per thread" },
    { "threads", "CPUs", "worker threads (--threads N or --arg threads=N)" },
    { "duration", "10", "length of the run: 10, 10s, 500ms, 2m" },
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
    -- a.keys, a.key_dist, a.ttl, a.gets (get_ratio), a.sets (set_ratio),
    -- a.deletes (delete_ratio), a.value_size, a.pipeline, a.prefix
    local a = A.common_opts(args)
    a.flags = A.raw(args, "flags")
    a.ms_flags = args.ms_flags or ""
    if args.proto ~= nil and args.proto ~= "meta" then
        A.bad("proto", args.proto, "meta (this script sends only meta requests)")
    end
    if a.gets + a.sets + a.deletes == 0 then
        A.bad("get_ratio", "0", "get_ratio + set_ratio + delete_ratio > 0")
    end
    if type(a.flags) ~= "string" or a.flags:find("%c") then
        A.bad("flags", a.flags, "meta flags separated by spaces, like \"v k t\"")
    end
    if type(a.ms_flags) ~= "string" or a.ms_flags:find("%c") then
        A.bad("ms_flags", a.ms_flags, "meta flags separated by spaces")
    end
    local nthreads, clients, duration, rate, arrival = A.load_opts(args)
    local validate = A.bool(args, "validate")
    mcs.key_dist(a.key_dist, a.keys)
    mcs.size_dist(a.value_size)

    local threads = A.make_threads(nthreads)
    mcs.add(threads, { func = "meta_mix", clients = clients * nthreads, init = true,
                       rate_limit = rate > 0 and math.max(1, rate // a.pipeline) or 0,
                       arrival = arrival, validate = validate or nil }, a)
    mcs.shredder(threads, duration)
end

-- ---- workloads -------------------------------------------------------------

-- Once per client; returns the function each run calls.
function meta_mix(a)
    local kd = mcs.key_dist(a.key_dist, a.keys)
    local sd = mcs.size_dist(a.value_size)
    local getf = mcs.mg_factory(a.prefix, a.flags)
    local setf = mcs.ms_factory(a.prefix, a.ttl > 0 and ("T" .. a.ttl) or "", a.ms_flags)
    local delf = mcs.md_factory(a.prefix)
    local res = mcs.res_new()
    local depth = a.pipeline
    local gets, sets = a.gets, a.gets + a.sets
    local total = sets + a.deletes
    local random, write_factory, flush, read = math.random, mcs.write_factory, mcs.flush, mcs.read

    return function()
        for _ = 1, depth do
            local r = random(total)
            if r <= gets then
                write_factory(getf, kd:next())
            elseif r <= sets then
                write_factory(setf, kd:next_write(), sd:next())
            else
                write_factory(delf, kd:next())
            end
        end
        flush()
        -- every meta response is one line (and a VA its value)
        for _ = 1, depth do
            read(res)
        end
    end
end
