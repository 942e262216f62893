-- default.lua: the built-in workload, run when mcshredder gets no --conf.
-- Its settings come from the command line flags, passed in as args:
-- threads, clients (per thread), duration, keys, set_ratio, get_ratio,
-- value_size, pipeline, rate (total requests/s, 0 = unlimited), arrival
-- (uniform or poisson, with a rate), proto, key_prefix.

local function num(args, name, default)
    local v = tonumber(args[name])
    if v == nil then return default end
    return v
end

function help()
    print("The built-in workload mixes sets and gets of random keys;")
    print("its settings are mcshredder's own flags (see mcshredder --help).")
end

function config(args)
    local nthreads = num(args, "threads", 1)
    local threads = {}
    for i = 1, nthreads do
        threads[i] = mcs.thread()
    end
    local depth = num(args, "pipeline", 1)
    local rate = num(args, "rate", 0)
    local rate_limit = 0
    if rate > 0 then
        -- a run sends `depth` requests
        rate_limit = math.max(1, rate // depth)
    end
    mcs.add(threads, { func = "mixed", clients = num(args, "clients", 25) * nthreads,
                       rate_limit = rate_limit, init = true,
                       arrival = args.arrival or "uniform" }, args)
    mcs.shredder(threads, num(args, "duration", 10))
end

-- Called once per client; returns the function each run calls.
function mixed(args)
    local keys = num(args, "keys", 10000)
    local depth = num(args, "pipeline", 1)
    local vsize = num(args, "value_size", 100)
    local sets = num(args, "set_ratio", 1)
    local total = sets + num(args, "get_ratio", 9)
    local prefix = args.key_prefix or "mcs:"
    local meta = args.proto ~= "text"
    local getf, setf
    if meta then
        getf = mcs.mg_factory(prefix, "v")
        setf = mcs.ms_factory(prefix)
    else
        getf = mcs.get_factory(prefix)
        setf = mcs.set_factory(prefix, 0, 0)
    end
    local res = mcs.res_new()
    local is_get = {}
    local random, write_factory, read = math.random, mcs.write_factory, mcs.read
    local startswith = mcs.res_startswith

    return function()
        for i = 1, depth do
            local k = random(keys)
            if random(total) <= sets then
                is_get[i] = false
                write_factory(setf, k, vsize)
            else
                is_get[i] = true
                write_factory(getf, k)
            end
        end
        mcs.flush()
        for i = 1, depth do
            read(res)
            -- a classic get that hits answers VALUE ... then END
            if not meta and is_get[i] and startswith(res, "VALUE") then
                read(res)
            end
        end
    end
end
