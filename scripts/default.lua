-- default.lua: the built-in workload, run when mcshredder gets no --conf.
-- Its settings come from the command line flags, passed in as args:
-- threads, clients (per thread), duration, keys, key_dist, key_prefix,
-- value_size (a size spec), ttl, set/get/delete/touch_ratio, multiget,
-- pipeline, rate (total operations/s, 0 = unlimited), arrival (uniform or
-- poisson, with a rate), proto (meta or text), preload, validate.

local function num(args, name, default)
    local v = tonumber(args[name])
    if v == nil then return default end
    return v
end

function help()
    print("The built-in workload mixes sets, gets, deletes and touches;")
    print("its settings are mcshredder's own flags (see mcshredder --help).")
end

-- Sets every key once, as a phase of its own: the clients share one walk
-- of the key space, a batch of up to 32 sets per round trip.
local PRELOAD_BATCH = 32

local function preload_phase(threads, args)
    local keys = num(args, "keys", 10000)
    local per_thread = math.max(1, math.min(num(args, "clients", 25), keys // #threads))
    local clients = per_thread * #threads
    -- runs per client: its share of the keys, PRELOAD_BATCH at a time
    local share = (keys + clients - 1) // clients
    local runs = (share + PRELOAD_BATCH - 1) // PRELOAD_BATCH
    mcs.add(threads, { func = "preload", clients = clients, rate_limit = 0,
                       init = true, limit = runs * #threads }, args)
    mcs.shredder(threads)
end

function config(args)
    local nthreads = num(args, "threads", 1)
    local threads = {}
    for i = 1, nthreads do
        threads[i] = mcs.thread()
    end
    if args.preload then
        preload_phase(threads, args)
    end
    local depth = num(args, "pipeline", 1)
    local rate = num(args, "rate", 0)
    local rate_limit = 0
    if rate > 0 then
        -- a run sends `depth` operations
        rate_limit = math.max(1, rate // depth)
    end
    mcs.add(threads, { func = "mixed", clients = num(args, "clients", 25) * nthreads,
                       rate_limit = rate_limit, init = true,
                       arrival = args.arrival or "uniform",
                       validate = args.validate ~= nil }, args)
    mcs.shredder(threads, num(args, "duration", 10))
end

-- The factories of one client for the flags' protocol.
local function factories(args)
    local prefix = args.key_prefix or "mcs:"
    local ttl = num(args, "ttl", 0)
    local f = {}
    if args.proto ~= "text" then
        -- k: a validation mismatch names its key
        f.get = mcs.mg_factory(prefix, args.validate and "v k" or "v")
        f.set = ttl > 0 and mcs.ms_factory(prefix, "T" .. ttl) or mcs.ms_factory(prefix)
        f.delete = mcs.md_factory(prefix)
        f.touch = mcs.mg_factory(prefix, "T" .. ttl)
    else
        f.get = mcs.get_factory(prefix)
        f.set = mcs.set_factory(prefix, 0, ttl)
        f.delete = mcs.delete_factory(prefix)
        f.touch = mcs.touch_factory(prefix, ttl)
    end
    return f
end

function preload(args)
    local keys = num(args, "keys", 10000)
    -- this client's part of one walk over every key: it wraps when done
    local kd = mcs.key_dist("sequential:shared", keys)
    local sd = mcs.size_dist(args.value_size or "100")
    local f = factories(args)
    local res = mcs.res_new()
    local write_factory, read = mcs.write_factory, mcs.read
    local last = 0

    return function()
        local n = 0
        while n < PRELOAD_BATCH and last >= 0 do
            local k = kd:next()
            if k <= last then
                last = -1 -- wrapped: every key of this client is written
            else
                write_factory(f.set, k, sd:next())
                last = k
                n = n + 1
            end
        end
        mcs.flush()
        for _ = 1, n do
            read(res)
        end
    end
end

-- Called once per client; returns the function each run calls.
function mixed(args)
    local keys = num(args, "keys", 10000)
    local depth = num(args, "pipeline", 1)
    local multiget = num(args, "multiget", 1)
    local sets = num(args, "set_ratio", 1)
    local gets = sets + num(args, "get_ratio", 9)
    local deletes = gets + num(args, "delete_ratio", 0)
    local total = deletes + num(args, "touch_ratio", 0)
    local meta = args.proto ~= "text"
    local kd = mcs.key_dist(args.key_dist or "uniform", keys)
    local sd = mcs.size_dist(args.value_size or "100")
    local op = mcs.key_dist("uniform", total) -- this client's own stream
    local f = factories(args)
    local res = mcs.res_new()
    local multi = {} -- key numbers of one multi-key get, reused
    local is_get = {}
    local write_factory, read, unpack = mcs.write_factory, mcs.read, table.unpack
    local startswith = mcs.res_startswith

    -- one get of `multiget` keys: a single "get k1 k2 ..." in text, that
    -- many pipelined mg requests in meta; returns the responses to read
    local function write_get()
        if multiget == 1 then
            write_factory(f.get, kd) -- the key is drawn from kd, in C
            return 1
        end
        if meta then
            for _ = 1, multiget do
                write_factory(f.get, kd)
            end
            return multiget
        end
        for j = 1, multiget do
            multi[j] = kd:next()
        end
        write_factory(f.get, unpack(multi, 1, multiget))
        return 1
    end

    return function()
        local responses = 0
        for i = 1, depth do
            local r = op:next()
            is_get[i] = false
            if r <= sets then
                write_factory(f.set, kd:next_write(), sd:next())
                responses = responses + 1
            elseif r <= gets then
                is_get[i] = true
                responses = responses + write_get()
            elseif r <= deletes then
                write_factory(f.delete, kd)
                responses = responses + 1
            else
                write_factory(f.touch, kd)
                responses = responses + 1
            end
        end
        mcs.flush()
        if meta then
            read(res, responses) -- one response per request
            return
        end
        for i = 1, depth do
            read(res)
            -- a classic get answers VALUE ... for each hit, then END
            if is_get[i] then
                while startswith(res, "VALUE") do
                    read(res)
                end
            end
        end
    end
end
