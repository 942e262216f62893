-- mcs_args.lua: what the workload scripts in scripts/ share.
--
-- Argument handling for one script: its help(), and the checks of its
-- --arg values against its ARGS table ({ name, default, meaning } rows),
-- with the script's name in every error; the options many scripts share
-- (keys, key_dist, value_size, the ratios, ttl, proto, pipeline,
-- key_prefix) read in one call. Plus the get and set factories for
-- proto=meta or text, reading a response whole, and the key sweeps (every
-- key once). A script uses it as
--
--   local A = require("mcs_args").new(SCRIPT, ABOUT, ARGS)
--   help = A.help
--   ... A.int(args, "keys", 1), A.secs(args, "duration"), ...
--   ... local a = A.common_opts(args) ...
--
-- Errors are raised with level 0 (no position): mcshredder prints them
-- and exits with code 2 before anything runs.

local M = {}

-- mcshredder's own flags land in args too; accept them even when unused
local FLAGS = {
    threads = true, clients = true, duration = true, keys = true,
    set_ratio = true, get_ratio = true, delete_ratio = true, touch_ratio = true,
    value_size = true, pipeline = true, rate = true, arrival = true,
    proto = true, key_prefix = true, key_dist = true, ttl = true,
    multiget = true, preload = true, validate = true, seed = true,
}

local UNIT = { [""] = 1, s = 1, ms = 0.001, m = 60, h = 3600 }

-- ---- arguments: S is one script's { script, about, list, default } --------

local function help(S)
    print(S.script .. ": " .. S.about)
    print("Arguments: --arg name=value,name=value,... (mcshredder's flags of the same")
    print("name, such as --clients, --duration, --keys, --value-size, set them too):")
    for _, a in ipairs(S.list) do
        print(string.format("  %-13s %s (default: %s)", a[1], a[3],
                            a[2] == "" and "none" or a[2]))
    end
end

local function bad(S, name, value, want)
    error(string.format("%s: bad argument %s=%s: want %s (see --help)",
                        S.script, name, tostring(value), want), 0)
end

-- The value as given, or the default when missing or empty.
local function raw(S, args, name)
    local v = args[name]
    if v == nil or v == "" then v = S.default[name] end
    return v
end

local function int(S, args, name, min, max)
    local s = raw(S, args, name)
    local v = math.tointeger(tonumber(s))
    if v == nil or v < min or (max and v > max) then
        bad(S, name, s, max and ("an integer " .. min .. ".." .. max)
                            or ("an integer >= " .. min))
    end
    return v
end

-- 0..1, or a percentage such as 20%
local function frac(S, args, name)
    local s = raw(S, args, name)
    local v = tonumber(s)
    if v == nil and type(s) == "string" and s:sub(-1) == "%" then
        v = tonumber(s:sub(1, -2))
        v = v and v / 100
    end
    if v == nil or v < 0 or v > 1 then bad(S, name, s, "a fraction 0..1 or a percentage") end
    return v
end

-- A duration in seconds: 10, 10s, 500ms, 2m, 1h
local function secs(S, args, name)
    local s = raw(S, args, name)
    local n, u = tostring(s):match("^(%d*%.?%d+)(%a*)$")
    if n == nil or UNIT[u] == nil then bad(S, name, s, "a duration like 10, 10s, 500ms, 2m") end
    return tonumber(n) * UNIT[u]
end

local function bool(S, args, name)
    local s = raw(S, args, name)
    if s == true or s == "on" or s == "1" or s == "yes" or s == "true" then return true end
    if s == "off" or s == "0" or s == "no" or s == "false" then return false end
    bad(S, name, s, "on or off")
end

-- One of the words given.
local function choice(S, args, name, ...)
    local s = raw(S, args, name)
    for _, c in ipairs({ ... }) do
        if s == c then return s end
    end
    bad(S, name, s, table.concat({ ... }, " or "))
end

-- Refuses a name that is neither in ARGS nor one of mcshredder's flags.
local function check_names(S, args)
    for k in pairs(args) do
        if S.default[k] == nil and not FLAGS[k] then
            error(string.format("%s: unknown argument '%s' (see --help)",
                                S.script, tostring(k)), 0)
        end
    end
end

-- The arguments of a timed load, checked in this order: threads, clients
-- (per thread), duration (seconds), rate, arrival.
local function load_opts(S, args)
    local nthreads = int(S, args, "threads", 1, 256)
    local clients = int(S, args, "clients", 1, 100000)
    local duration = secs(S, args, "duration")
    local rate = int(S, args, "rate", 0)
    return nthreads, clients, duration, rate, choice(S, args, "arrival", "uniform", "poisson")
end

-- The options many scripts share. common_opts reads those the script's
-- ARGS lists, in the order ARGS lists them, into one table: for each
-- argument, the field it goes to and how it is checked.
--   keys          a.keys        an integer >= 1
--   key_dist      a.key_dist    as given: the script checks it with mcs.key_dist
--   value_size    a.value_size  as given: the script checks it with mcs.size_dist
--   set_ratio     a.sets        a weight: an integer 0..1000000
--   get_ratio     a.gets        a weight
--   delete_ratio  a.deletes     a weight
--   touch_ratio   a.touches     a weight
--   ttl           a.ttl         an integer >= 0 (seconds)
--   proto         a.meta        meta or text: true for meta
--   pipeline      a.pipeline    an integer 1..100000
--   key_prefix    a.prefix      as given
local function weight(S, args, name) return int(S, args, name, 0, 1000000) end

local COMMON = {
    keys = { "keys", function(S, args, name) return int(S, args, name, 1) end },
    key_dist = { "key_dist", raw },
    value_size = { "value_size", raw },
    set_ratio = { "sets", weight },
    get_ratio = { "gets", weight },
    delete_ratio = { "deletes", weight },
    touch_ratio = { "touches", weight },
    ttl = { "ttl", function(S, args, name) return int(S, args, name, 0) end },
    proto = { "meta", function(S, args, name)
        return choice(S, args, name, "meta", "text") == "meta"
    end },
    pipeline = { "pipeline", function(S, args, name) return int(S, args, name, 1, 100000) end },
    key_prefix = { "prefix", raw },
}

local function common_opts(S, args)
    local a = {}
    for _, row in ipairs(S.list) do
        local c = COMMON[row[1]]
        if c then a[c[1]] = c[2](S, args, row[1]) end
    end
    return a
end

local BOUND = {
    help = help, bad = bad, raw = raw, int = int, frac = frac, secs = secs,
    bool = bool, choice = choice, check_names = check_names, load_opts = load_opts,
    common_opts = common_opts,
}

-- ---- requests: proto=meta or text ----------------------------------------

-- The factory of a get of one key's value: mg with the v flag (meta) or
-- a classic get (text).
local function mg_or_get(meta, prefix)
    if meta then return mcs.mg_factory(prefix, "v") end
    return mcs.get_factory(prefix)
end

-- The factory of a set with TTL ttl in seconds (0 or nil: never expire):
-- ms with a T flag (meta) or a classic set (text).
local function ms_or_set(meta, prefix, ttl)
    ttl = ttl or 0
    if meta then return mcs.ms_factory(prefix, ttl > 0 and ("T" .. ttl) or "") end
    return mcs.set_factory(prefix, 0, ttl)
end

-- Returns read_response(res), which reads one whole response into res. A
-- classic get that hits answers with two: VALUE (and the value), then END;
-- for text read_response reads the END too. For meta it is mcs.read.
local function response_reader(meta)
    local read = mcs.read
    if meta then return read end
    local startswith = mcs.res_startswith
    return function(res)
        read(res)
        if startswith(res, "VALUE") then
            read(res)                        -- the END after a classic hit
        end
        return res
    end
end

-- ---- threads and sweeps: every key once ------------------------------------

local function make_threads(n)
    local t = {}
    for i = 1, n do t[i] = mcs.thread() end
    return t
end

-- With the key distribution sequential:shared the clients of a workload
-- walk the key space together, each client its own stride of it.
-- sweep_plan returns the clients per thread and mcs.add's `limit` (runs per
-- client, times the threads) for every key to be drawn at least once.
local function sweep_plan(keys, nthreads, want_per_thread, batch)
    local per_thread = math.max(1, math.min(want_per_thread, keys // nthreads))
    local per_round = nthreads * per_thread * batch
    local runs = math.max(1, (keys + per_round - 1) // per_round)
    return per_thread, runs * nthreads
end

-- Returns a function that puts up to `batch` keys of kd in knums[1..] and
-- returns how many. A client stops (0 keys) when its keys wrap around to
-- the start, so that no key is used twice.
local function sweep_keys(kd, batch, knums)
    local last, done = 0, false
    return function()
        if done then return 0 end
        for i = 1, batch do
            local k = kd:next()
            if k <= last then
                done = true
                return i - 1
            end
            last = k
            knums[i] = k
        end
        return batch
    end
end

-- A workload's run function with which the clients together send one
-- request of factory f for every key of a.keys, a.batch keys per run, and
-- read the answers (one response each: meta requests, classic sets). With
-- value_size (a size specification) each request carries a value sized by
-- it, as a set does. Call it once per client.
local function sweep(a, f, value_size)
    local kd = mcs.key_dist("sequential:shared", a.keys)
    local sd = value_size and mcs.size_dist(value_size)
    local res = mcs.res_new()
    local knums = {}
    local take = sweep_keys(kd, a.batch, knums)
    local write_factory, flush, read = mcs.write_factory, mcs.flush, mcs.read
    return function()
        local n = take()
        if n == 0 then return end            -- this client's share is done
        for i = 1, n do
            if sd then
                write_factory(f, knums[i], sd:next())
            else
                write_factory(f, knums[i])
            end
        end
        flush()
        for _ = 1, n do
            read(res)
        end
    end
end

-- sweep() with the set factory setf: every key of a.keys set once, values
-- sized by a.value_size.
local function sweep_set(a, setf)
    return sweep(a, setf, a.value_size)
end

local SHARED = {
    mg_or_get = mg_or_get, ms_or_set = ms_or_set,
    response_reader = response_reader,
    make_threads = make_threads, sweep_plan = sweep_plan,
    sweep_keys = sweep_keys, sweep = sweep, sweep_set = sweep_set,
}

-- ---- the module ------------------------------------------------------------

-- The helpers for one script: those of BOUND with the script's name and
-- ARGS bound in (A.int(args, name, min, max), A.help(), ...), and SHARED.
function M.new(script, about, list)
    local S = { script = script, about = about, list = list, default = {} }
    for _, a in ipairs(list) do S.default[a[1]] = a[2] end
    local A = {}
    for name, f in pairs(BOUND) do
        A[name] = function(...) return f(S, ...) end
    end
    for name, f in pairs(SHARED) do A[name] = f end
    return A
end

return M
