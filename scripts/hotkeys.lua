-- hotkeys.lua: zipf key popularity over a key space bigger than the cache.
--
-- Clients read keys drawn from a zipf distribution (exponent s; key 1 is
-- the hottest) and, like a cache-aside application, set a key after a
-- miss. Only the popular keys stay in the cache, so the hit ratio shows
-- how well memcached's LRU keeps the hot set. For a meaningful result the
-- key space (keys x value_size) must be much larger than memcached's
-- memory: start memcached with a small cache, e.g. `memcached -m 64`, or
-- raise keys. At the end the script prints the server's own hit ratio,
-- evictions and item count for the run (taken from `stats`).
--
--   memcached -m 64 &
--   mcshredder --server 127.0.0.1:11211 --conf scripts/hotkeys.lua \
--       --arg keys=5000000,s=1.1,value_size=1000,duration=60

local SCRIPT = "hotkeys.lua"
local ABOUT = "zipf(s) key popularity, fill on miss, over a key space larger than the cache"
local ARGS = {
    { "keys", "1000000", "key space (make keys x value_size much larger than memcached -m)" },
    { "s", "0.99", "zipf exponent: higher is more skewed (key 1 is the hottest)" },
    { "value_size", "1000", "value sizes, as --value-size: 1000, 500-2000, pareto" },
    { "fill", "on", "set a key after its get missed (cache-aside) (on/off)" },
    { "set_ratio", "0", "weight of extra sets (updates of zipf keys) in the mix" },
    { "get_ratio", "1", "weight of gets in the mix" },
    { "ttl", "0", "TTL of the sets in seconds (0: never expire)" },
    { "proto", "meta", "meta (mg/ms) or text (get/set)" },
    { "clients", "25", "clients per thread" },
    { "threads", "CPUs", "worker threads (--threads N or --arg threads=N)" },
    { "duration", "10", "length of the run: 10, 10s, 500ms, 2m" },
    { "rate", "0", "runs (a get and its fill, or a set) per second in total (0: no limit)" },
    { "arrival", "uniform", "uniform or poisson spacing of the runs, with a rate" },
    { "key_prefix", "mcs:", "key prefix" },
    { "min_hit", "0", "fail (exit 1) when the hit ratio is below this (0: no check)" },
}

-- ---- shared helpers: scripts/lib/mcs_args.lua -------------------------------

local A = require("mcs_args").new(SCRIPT, ABOUT, ARGS)
help = A.help

-- ---- config ----------------------------------------------------------------

-- The server counters printed before and after the load.
local STATS = { "get_hits", "get_misses", "evictions", "curr_items", "limit_maxbytes", "bytes" }

-- Runs `snapshot` once (its own phase) and returns the counters it saw.
local function server_stats(threads)
    mcs.add_custom(threads[1], { func = "snapshot" })
    mcs.shredder(threads[1])
    local st = {}
    local line = mcs.out_readline()
    while line do
        local name, value = line:match("^hotkeys_stat\t(%S+)\t(%d+)$")
        if name then st[name] = tonumber(value) end
        line = mcs.out_readline()
    end
    return st
end

local function mib(n)
    return string.format("%.1f MiB", (n or 0) / 1048576)
end

function config(args)
    A.check_names(args)
    local s = tonumber(A.raw(args, "s"))
    if s == nil or s <= 0 then A.bad("s", A.raw(args, "s"), "a number > 0") end
    -- a.keys, a.value_size, a.sets (set_ratio), a.gets (get_ratio), a.ttl,
    -- a.meta (proto=meta), a.prefix
    local a = A.common_opts(args)
    a.key_dist = string.format("zipf:%g", s)
    a.fill = A.bool(args, "fill")
    if a.sets + a.gets == 0 then A.bad("get_ratio", "0", "set_ratio + get_ratio > 0") end
    local nthreads, clients, duration, rate, arrival = A.load_opts(args)
    local min_hit = A.frac(args, "min_hit")
    mcs.key_dist(a.key_dist, a.keys)
    mcs.size_dist(a.value_size)

    local threads = A.make_threads(nthreads)
    local before = server_stats(threads)
    mcs.add(threads, { func = "hotkeys", clients = clients * nthreads, init = true,
                       rate_limit = rate, arrival = arrival }, a)
    if min_hit > 0 then
        mcs.assert(string.format("hotkeys:hit_ratio>=%.6f", min_hit))
    end
    mcs.shredder(threads, duration)
    local after = server_stats(threads)

    local function delta(name) return (after[name] or 0) - (before[name] or 0) end
    local hits, misses = delta("get_hits"), delta("get_misses")
    print(string.format("hotkeys: zipf s=%g over %d keys: server hit ratio %s "
                        .. "(get_hits %d, get_misses %d), evictions %d",
                        s, a.keys,
                        hits + misses > 0 and string.format("%.1f%%", 100 * hits / (hits + misses))
                                          or "-",
                        hits, misses, delta("evictions")))
    print(string.format("hotkeys: memcached holds %d items, %s of its %s (-m)",
                        after.curr_items or 0, mib(after.bytes), mib(after.limit_maxbytes)))
    if after.evictions and delta("evictions") == 0 then
        print("hotkeys: no evictions: the key space fits in the cache; start memcached "
              .. "with a smaller -m or raise keys to test hot keys in a full cache")
    end
end

-- ---- workloads -------------------------------------------------------------

-- add_custom: one `stats`, the counters in STATS to the out stream.
function snapshot()
    local c = mcs.client_new()
    local ok, err = mcs.client_connect(c)
    if not ok then
        io.stderr:write("hotkeys: stats connection failed: " .. tostring(err) .. "\n")
        return
    end
    mcs.client_write(c, mcs.stats())
    mcs.client_flush(c)
    local want = {}
    for _, name in ipairs(STATS) do want[name] = true end
    local res = mcs.client_read(c)
    while res and mcs.res_type(res) == "STAT" do
        local name = mcs.res_statname(res)
        if want[name] then mcs.out("hotkeys_stat", name, mcs.res_stat(res)) end
        res = mcs.client_read(c, res)
    end
    mcs.client_disconnect(c)
end

-- Once per client; returns the function each run calls.
function hotkeys(a)
    local kd = mcs.key_dist(a.key_dist, a.keys)
    local sd = mcs.size_dist(a.value_size)
    local fill = a.fill
    local getf = A.mg_or_get(a.meta, a.prefix)
    local setf = A.ms_or_set(a.meta, a.prefix, a.ttl)
    local res = mcs.res_new()
    local sets, total = a.sets, a.sets + a.gets
    local random, write_factory, flush, read = math.random, mcs.write_factory, mcs.flush, mcs.read
    local res_type = mcs.res_type

    return function()
        if sets > 0 and random(total) <= sets then
            write_factory(setf, kd:next_write(), sd:next())
            flush()
            read(res)
            return
        end
        local k = kd:next()
        write_factory(getf, k)
        flush()
        read(res)
        local t = res_type(res)
        if t == "VALUE" then
            read(res)                        -- the END after a classic hit
        elseif fill and (t == "EN" or t == "END") then
            write_factory(setf, k, sd:next())
            flush()
            read(res)
        end
    end
end
