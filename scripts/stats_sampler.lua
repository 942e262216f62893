-- stats_sampler.lua: a get/set load plus the server's view of it.
--
-- Beside a plain get/set load (workload "load"), a custom client
-- (workload "sampler", on a thread of its own) sends `stats` every
-- `interval` and prints how the server's counters moved since the last
-- sample: cmd_get, cmd_set, get_hits, get_misses, bytes_read,
-- bytes_written and evictions as "+delta", and curr_connections as its
-- current value. The lines go to stderr, between mcshredder's own live
-- lines, so the client's ops/s and hit ratio can be compared with what the
-- server counted:
--
--   [   2s] 61,204 ops/s  hit 88.1%  p50 84us  p99 310us  errors 0
--   server [   2s] cmd_get +55120 cmd_set +6101 get_hits +48570 ...
--
-- The server's counters include every other client of that memcached.
--
--   mcshredder --server 127.0.0.1:11211 --conf scripts/stats_sampler.lua \
--       --arg interval=1,clients=10,duration=30

local SCRIPT = "stats_sampler.lua"
local ABOUT = "a get/set load; every interval, the server's stats deltas beside the live line"
local ARGS = {
    { "interval", "1", "seconds between two `stats` samples: 1, 500ms, 5s" },
    { "stats", "cmd_get cmd_set get_hits get_misses curr_connections bytes_read bytes_written evictions",
      "the counters printed, separated by spaces" },
    { "to", "stderr", "where the sample lines go: stderr (beside the live line) or stdout" },
    { "keys", "10000", "key space of the load: KEY_PREFIX1 .. KEY_PREFIXkeys" },
    { "set_ratio", "1", "weight of sets in the load" },
    { "get_ratio", "9", "weight of gets in the load" },
    { "value_size", "100", "value sizes, as --value-size" },
    { "proto", "meta", "meta (mg/ms) or text (get/set)" },
    { "clients", "25", "load clients per thread" },
    { "threads", "CPUs", "load threads (give --threads N; the sampler gets one more)" },
    { "duration", "10", "length of the run: 10, 10s, 500ms, 2m" },
    { "rate", "0", "load requests per second in total (0: as fast as the server answers)" },
    { "arrival", "uniform", "uniform or poisson spacing of the runs, with a rate" },
    { "key_prefix", "mcs:", "key prefix" },
}

-- ---- shared helpers: scripts/lib/mcs_args.lua -------------------------------

local A = require("mcs_args").new(SCRIPT, ABOUT, ARGS)
help = A.help

-- ---- config ----------------------------------------------------------------

-- counters shown as their current value, not as a change
local GAUGES = {
    curr_connections = true, curr_items = true, bytes = true, limit_maxbytes = true,
    threads = true, connection_structures = true, hash_power_level = true,
    uptime = true, time = true, pid = true,
}

function config(args)
    A.check_names(args)
    -- a.keys, a.sets (set_ratio), a.gets (get_ratio), a.value_size,
    -- a.meta (proto=meta), a.prefix
    local a = A.common_opts(args)
    if a.sets + a.gets == 0 then A.bad("set_ratio", "0", "set_ratio + get_ratio > 0") end
    local s = {
        interval_ms = math.floor(A.secs(args, "interval") * 1000 + 0.5),
        to = A.choice(args, "to", "stderr", "stdout"),
        names = {},
    }
    if s.interval_ms < 10 then A.bad("interval", A.raw(args, "interval"), "at least 10ms") end
    local list = A.raw(args, "stats")
    if type(list) ~= "string" then A.bad("stats", list, "stat names separated by spaces") end
    for name in list:gmatch("%S+") do
        if not name:match("^[%w_:]+$") then
            A.bad("stats", list, "stat names separated by spaces")
        end
        s.names[#s.names + 1] = name
    end
    if #s.names == 0 then A.bad("stats", list, "at least one stat name") end
    local nthreads, clients, duration, rate, arrival = A.load_opts(args)
    mcs.size_dist(a.value_size)

    local threads = A.make_threads(nthreads)
    mcs.add(threads, { func = "load", clients = clients * nthreads, init = true,
                       rate_limit = rate, arrival = arrival }, a)
    local st = mcs.thread()
    mcs.add_custom(st, { func = "sampler" }, s)
    threads[#threads + 1] = st
    mcs.shredder(threads, duration)
end

-- ---- workloads -------------------------------------------------------------

-- Once per client; returns the function each run calls.
function load(a)
    local sd = mcs.size_dist(a.value_size)
    local getf = A.mg_or_get(a.meta, a.prefix)
    local setf = A.ms_or_set(a.meta, a.prefix)
    local res = mcs.res_new()
    local keys, sets, total = a.keys, a.sets, a.sets + a.gets
    local random, write_factory, flush = math.random, mcs.write_factory, mcs.flush
    -- reads one response; a classic get that hits answers VALUE ... then END
    local read_response = A.response_reader(a.meta)
    return function()
        if random(total) <= sets then
            write_factory(setf, random(keys), sd:next())
        else
            write_factory(getf, random(keys))
        end
        flush()
        read_response(res)
    end
end

-- add_custom: samples `stats` every interval until the phase ends.
function sampler(s)
    local out = s.to == "stdout" and io.stdout or io.stderr
    local names, n = s.names, #s.names
    local want = {}
    for _, name in ipairs(names) do want[name] = true end
    local prev, cur = {}, {}
    local parts = {}                         -- the pieces of one line, reused
    local c = mcs.client_new()
    local req, res = mcs.stats(), mcs.res_new()
    local res_type, statname, stat = mcs.res_type, mcs.res_statname, mcs.res_stat
    local t0 = mcs.time_millis()
    local next_t, have_prev = t0, false

    while true do
        local err
        if not mcs.client_connected(c) then
            local ok, why = mcs.client_connect(c)
            if not ok then err = why end
        end
        if not err then
            mcs.client_write(c, req)
            local ok, why = mcs.client_flush(c)
            if not ok then err = why end
        end
        while not err do
            local r, why = mcs.client_read(c, res)
            if not r then
                err = why
            elseif res_type(res) ~= "STAT" then
                break                        -- END
            else
                local name = statname(res)
                if want[name] then cur[name] = tonumber(stat(res)) end
            end
        end
        local t = mcs.time_millis()
        if err then
            out:write(string.format("server [%4.0fs] stats failed: %s\n",
                                    (t - t0) / 1000, tostring(err)))
            mcs.client_disconnect(c)
            have_prev = false
        else
            if have_prev then
                for i = 1, n do
                    local name = names[i]
                    local v, p = cur[name], prev[name]
                    if v == nil then
                        parts[i] = name .. " -"
                    elseif GAUGES[name] or p == nil then
                        parts[i] = string.format("%s %.0f", name, v)
                    else
                        parts[i] = string.format("%s %+.0f", name, v - p)
                    end
                end
                out:write(string.format("server [%4.0fs] %s\n", (t - t0) / 1000,
                                        table.concat(parts, " ", 1, n)))
                out:flush()
            end
            prev, cur = cur, prev
            have_prev = true
        end
        next_t = next_t + s.interval_ms
        if next_t < t then next_t = t end    -- fell behind: do not burst
        mcs.sleep_millis(next_t - t)
    end
end
