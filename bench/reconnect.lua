-- reconnect.lua: bench cases plain_reconnect, tls_reconnect_full and
-- tls_reconnect_resumed: every run opens a new connection (reconn_every = 1),
-- does one classic text `get` of a random key, and the connection is closed
-- after it; closed loop, as fast as possible.  So one request costs one
-- connect + (with --tls) one TLS handshake + one get + one close.  With
-- --tls the handshakes are resumed (session tickets) unless --tls-no-resume.
-- Keys are <prefix>1 .. <prefix><keys>, all set by preload.lua first, so
-- every get should hit.
--
--   mcshredder --conf bench/reconnect.lua --threads 1 --clients 50 --keys 10000 --duration 10 [--tls --tls-ca CA]
--
-- mcshredder puts its own flags in args, and always a `threads` (default: the
-- number of CPUs), so give --threads explicitly.
-- args: threads (1), clients (50, per thread), duration (seconds, 10),
--       keys (10000), prefix ("mcs:")

local function num(args, name, default)
    local v = tonumber(args[name])
    if v == nil then return default end
    return v
end

function config(args)
    local threads = {}
    for i = 1, num(args, "threads", 1) do threads[i] = mcs.thread() end
    mcs.add(threads, { func = "reconnect", rate_limit = 0, init = true, reconn_every = 1,
                       clients = num(args, "clients", 50) * #threads }, args)
    mcs.shredder(threads, num(args, "duration", 10))
end

function reconnect(args)
    local keys = num(args, "keys", 10000)
    local getf = mcs.get_factory(args.prefix or "mcs:")
    local res = mcs.res_new()
    local random, write_factory, flush, read = math.random, mcs.write_factory, mcs.flush, mcs.read
    local startswith = mcs.res_startswith
    return function()
        write_factory(getf, random(keys))
        flush()
        read(res)
        -- a hit answers VALUE <key> <flags> <len> + data, then END
        if startswith(res, "VALUE") then
            read(res)
        end
    end
end
