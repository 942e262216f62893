-- reliability_idle.lua: many mostly idle connections on one thread.
-- args: clients (default 10000), rate (runs/s in total, default 500),
-- secs (default 8).  Each run is one mn round trip.
function config(args)
    local t = mcs.thread()
    mcs.add(t, { func = "idle", clients = tonumber(args.clients) or 10000,
                 rate_limit = tonumber(args.rate) or 500 })
    mcs.shredder(t, tonumber(args.secs) or 8)
end

function idle()
    mcs.write(mcs.mn())
    mcs.flush()
    mcs.read()
end
