-- churn.lua: delete and touch churn: sets, gets, deletes and touches of
-- keys with a TTL.
--
-- Each request is picked at random by the weights set_ratio, get_ratio,
-- delete_ratio and touch_ratio (like --ratio SET:GET:DELETE:TOUCH). Sets
-- store with TTL `ttl` and touches push a key's expiry out to `ttl` again,
-- so with a short TTL keys keep expiring, being deleted and coming back:
-- the hit ratio and memcached's reclaim/expired counters show the churn.
-- With proto=meta the requests are ms, mg, md; touches are classic
-- `touch` in both protocols, so they are counted on their own (kind
-- `touch`) and not as lookups.
--
--   mcshredder --server 127.0.0.1:11211 --conf scripts/churn.lua \
--       --arg keys=100000,ttl=2,set_ratio=4,get_ratio=4,delete_ratio=1,touch_ratio=1

local SCRIPT = "churn.lua"
local ABOUT = "sets, gets, deletes and touches in a ratio, with TTLs"
local ARGS = {
    { "keys", "10000", "key space: KEY_PREFIX1 .. KEY_PREFIXkeys" },
    { "key_dist", "uniform", "key popularity, as --key-dist" },
    { "ttl", "5", "TTL of sets and touches in seconds (0: never expire)" },
    { "set_ratio", "4", "weight of sets" },
    { "get_ratio", "4", "weight of gets" },
    { "delete_ratio", "1", "weight of deletes" },
    { "touch_ratio", "1", "weight of touches" },
    { "value_size", "100", "value sizes, as --value-size" },
    { "proto", "meta", "meta (ms/mg/md, classic touch) or text (set/get/delete/touch)" },
    { "clients", "25", "clients per thread" },
    { "threads", "CPUs", "worker threads (--threads N or --arg threads=N)" },
    { "duration", "10", "length of the run: 10, 10s, 500ms, 2m" },
    { "rate", "0", "requests per second in total (0: as fast as the server answers)" },
    { "arrival", "uniform", "uniform or poisson spacing of the runs, with a rate" },
    { "key_prefix", "mcs:", "key prefix" },
}

-- ---- shared helpers: scripts/lib/mcs_args.lua -------------------------------

local A = require("mcs_args").new(SCRIPT, ABOUT, ARGS)
help = A.help

-- ---- config ----------------------------------------------------------------

function config(args)
    A.check_names(args)
    -- a.keys, a.key_dist, a.ttl, a.sets (set_ratio), a.gets (get_ratio),
    -- a.deletes (delete_ratio), a.touches (touch_ratio), a.value_size,
    -- a.meta (proto=meta), a.prefix
    local a = A.common_opts(args)
    if a.sets + a.gets + a.deletes + a.touches == 0 then
        A.bad("set_ratio", "0", "at least one ratio above 0")
    end
    local nthreads, clients, duration, rate, arrival = A.load_opts(args)
    mcs.key_dist(a.key_dist, a.keys)
    mcs.size_dist(a.value_size)

    local threads = A.make_threads(nthreads)
    mcs.add(threads, { func = "churn", clients = clients * nthreads, init = true,
                       rate_limit = rate, arrival = arrival }, a)
    mcs.shredder(threads, duration)
end

-- ---- workloads -------------------------------------------------------------

-- Once per client; returns the function each run calls.
function churn(a)
    local kd = mcs.key_dist(a.key_dist, a.keys)
    local sd = mcs.size_dist(a.value_size)
    local getf = A.mg_or_get(a.meta, a.prefix)
    local setf = A.ms_or_set(a.meta, a.prefix, a.ttl)
    local delf = a.meta and mcs.md_factory(a.prefix) or mcs.delete_factory(a.prefix)
    local touchf = mcs.touch_factory(a.prefix, a.ttl)
    local res = mcs.res_new()
    -- cumulative weights
    local s = a.sets
    local g = s + a.gets
    local d = g + a.deletes
    local total = d + a.touches
    local random, write_factory, flush = math.random, mcs.write_factory, mcs.flush
    -- reads one response; a classic get that hits answers VALUE ... then END
    local read_response = A.response_reader(a.meta)

    return function()
        local r = random(total)
        if r <= s then
            write_factory(setf, kd:next_write(), sd:next())
        elseif r <= g then
            write_factory(getf, kd:next())
        elseif r <= d then
            write_factory(delf, kd:next())
        else
            write_factory(touchf, kd:next())
        end
        flush()
        read_response(res)
    end
end
