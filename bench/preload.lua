-- preload.lua: the bench harness's (unmeasured) preload phase.
-- Sets every key <prefix>1 .. <prefix><keys> exactly once with a value of
-- value_size bytes, from one thread and one connection, `batch` sets per
-- round trip.  Stops when all keys are set.
--
--   mcshredder --conf bench/preload.lua --keys 10000 --value-size 32
--
-- args: keys (10000), value_size (32), batch (100), prefix ("mcs:"),
--       timeout (seconds, 60: upper bound on the phase)

local function num(args, name, default)
    local v = tonumber(args[name])
    if v == nil then return default end
    return v
end

function config(args)
    local keys = num(args, "keys", 10000)
    local batch = num(args, "batch", 100)
    local t = mcs.thread()
    mcs.add({ t }, { func = "load", clients = 1, rate_limit = 0, init = true,
                     limit = (keys + batch - 1) // batch }, args)
    mcs.shredder({ t }, num(args, "timeout", 60))
end

-- Called once for the one client; returns the function each run calls.
function load(args)
    local keys = num(args, "keys", 10000)
    local batch = num(args, "batch", 100)
    local vsize = num(args, "value_size", 32)
    local setf = mcs.set_factory(args.prefix or "mcs:", 0, 0)
    local res = mcs.res_new()
    local next_key = 1
    return function()
        local n = 0
        while n < batch and next_key <= keys do
            mcs.write_factory(setf, next_key, vsize)
            next_key = next_key + 1
            n = n + 1
        end
        if n == 0 then return end
        mcs.flush()
        for _ = 1, n do
            mcs.read(res)
            if not mcs.res_startswith(res, "STORED") then
                error("preload: set failed: " .. tostring(mcs.resline(res)))
            end
        end
    end
end
