-- idle.lua: the bench harness's idle_memory case.  Opens `clients`
-- connections (one thread) that stay idle: the workload is rate limited to
-- `rate` (50) runs per second in total, so each client runs once every
-- clients/50 s (the first runs are staggered over that period) and nearly
-- every connection sits idle, connected (and with --tls, handshaken), for the
-- whole phase.  A run is one `mg idle1 v` (a miss): write, flush, read.
-- The harness samples the process's VmRSS while it runs, with clients = N and
-- with clients = 1, and reports (RSS_N - RSS_1) / N.  It passes a long
-- --duration and ends the run with SIGINT once it has its sample (about 7 s
-- in; later when the N connections take longer to set up).
--
--   mcshredder --conf bench/idle.lua --threads 1 --clients 5000 --duration 7 [--tls --tls-ca CA]
--
-- args: clients (1), duration (seconds, 7), rate (runs per rate_period in
--       total, 50), rate_period (ms, 1000).  The harness's baseline run (one
--       client) passes rate=1 and rate_period=N/50 s, so that its one client
--       runs as rarely as each of the N.

local function num(args, name, default)
    local v = tonumber(args[name])
    if v == nil then return default end
    return v
end

function config(args)
    local t = mcs.thread()
    mcs.add({ t }, { func = "once", clients = num(args, "clients", 1),
                     rate_limit = num(args, "rate", 50),
                     rate_period = num(args, "rate_period", 1000) })
    mcs.shredder({ t }, num(args, "duration", 7))
end

function once()
    mcs.write(mcs.mg("idle", 1, "v"))
    mcs.flush()
    mcs.read()
end
