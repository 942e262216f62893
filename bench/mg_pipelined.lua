-- mg_pipelined.lua: bench case 2, meta `mg <key> v` of random keys,
-- `pipeline` (16) requests written and flushed together per round trip, then
-- `pipeline` responses read; closed loop, as fast as possible.  Keys are
-- drawn in C (write_factory with a key_dist) and the responses read with one
-- mcs.read(res, depth): the leanest script style, so that the figure is the
-- engine's cost.
-- Keys are <prefix>1 .. <prefix><keys>, all set by preload.lua first, so
-- every mg should hit (answer VA).
--
--   mcshredder --conf bench/mg_pipelined.lua --threads 1 --clients 50 --pipeline 16 --keys 10000
--
-- mcshredder puts its own flags in args, and always a `threads` (default: the
-- number of CPUs), so give --threads explicitly.
-- args: threads (1), clients (50, per thread), duration (seconds, 10),
--       keys (10000), pipeline (16), prefix ("mcs:")

local function num(args, name, default)
    local v = tonumber(args[name])
    if v == nil then return default end
    return v
end

function config(args)
    local threads = {}
    for i = 1, num(args, "threads", 1) do threads[i] = mcs.thread() end
    mcs.add(threads, { func = "mg_pipelined", rate_limit = 0, init = true,
                       clients = num(args, "clients", 50) * #threads }, args)
    mcs.shredder(threads, num(args, "duration", 10))
end

function mg_pipelined(args)
    local keys = num(args, "keys", 10000)
    local depth = num(args, "pipeline", 16)
    local mgf = mcs.mg_factory(args.prefix or "mcs:", "v")
    local res = mcs.res_new()
    local kd = mcs.key_dist("uniform", keys)
    local write_factory, flush, read = mcs.write_factory, mcs.flush, mcs.read
    return function()
        for _ = 1, depth do
            write_factory(mgf, kd)
        end
        flush()
        read(res, depth)
    end
end
