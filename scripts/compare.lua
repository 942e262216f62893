-- compare.lua: `mcshredder compare BASE.json NEW.json [options]`.
--
-- Compares two `mcshredder --json` results (docs/json.md) metric by metric,
-- prints a table per workload and for the totals, and returns the exit code:
-- 0 no regression, 1 at least one regression, 2 usage or input error.
-- Compiled into the binary (scripts/embed.sh); mcshredder.c runs it with the
-- standard libraries and the arguments in the global `arg` (arg[1] on).
-- The output and the --json schema are described in docs/ci.md.

local PROG = "mcshredder compare"
local USAGE = "usage: " .. PROG .. " BASE.json NEW.json [--tolerance P]"
    .. " [--tolerance-latency P] [--tolerance-throughput P] [--json OUT] [--quiet]"

local HELP = USAGE .. [[


Compares two results written by `mcshredder --json` and reports every
metric that got worse by more than the tolerance. Workloads are matched by
name and phase; the totals are compared too.

  --tolerance P             allowed change for every metric, in percent:
                            "5%" or "5" (default 10%). For the hit ratio it
                            is in percentage points.
  --tolerance-latency P     for the latencies (default: --tolerance)
  --tolerance-throughput P  for ops/s (default: --tolerance)
  --json OUT                also write the comparison as JSON to OUT
  --quiet                   print only the regressions and the summary
  --help                    print this help

Judged: ops/s (lower is worse), latency p50, p90, p99, p99.9 (higher is
worse), errors (higher is worse; any error where there were none is a
regression), hit ratio (lower is worse), per command kind ops/s and
p99, and for the totals the client's CPU time per request (higher is worse,
with the throughput tolerance). Latency max is shown but not judged.

Exit status: 0 no regression, 1 regressions, 2 usage or input error.
]]

local DEFAULT_TOLERANCE = 10
-- Changes are compared with this much slack, so that a change of exactly
-- the tolerance is not turned into a regression by floating point rounding.
local EPSILON = 1e-9

-- ---- errors ------------------------------------------------------------------
--
-- Usage and input errors are raised as tables and caught in main(), which
-- prints them as one line and returns 2. Anything else is a bug and reaches
-- mcshredder.c with a traceback.

local function raise(fmt, ...)
    error({ message = string.format(fmt, ...) }, 0)
end

local function usage_error(fmt, ...)
    error({ message = string.format(fmt, ...) .. " (" .. USAGE .. ")" }, 0)
end

-- ---- JSON decoding -----------------------------------------------------------

-- JSON null. A Lua nil cannot be stored in a table, and it would make keys
-- with a null value look absent; readers treat NULL as absent anyway.
local NULL = setmetatable({}, { __name = "null" })
-- Decoded arrays carry this metatable, so that [] and {} can be told apart.
local ARRAY = { __name = "array" }
local MAX_DEPTH = 200

local ESCAPES = {
    ['"'] = '"', ["\\"] = "\\", ["/"] = "/",
    b = "\b", f = "\f", n = "\n", r = "\r", t = "\t",
}

-- json_decode(text, name) -> value. `name` (the file name) goes into the
-- error message, with the 0-based byte offset and the line and column.
local function json_decode(text, name)
    local pos = 1
    local depth = 0

    local function fail(msg, at)
        at = at or pos
        local before = text:sub(1, at - 1)
        local _, newlines = before:gsub("\n", "")
        local line_start = before:match(".*\n()") or 1
        raise("%s: invalid JSON at byte offset %d (line %d, column %d): %s",
              name, at - 1, newlines + 1, at - line_start + 1, msg)
    end

    local function found(at)
        at = at or pos
        if at > #text then return "end of input" end
        local c = text:sub(at, at)
        if c:match("^%g$") then return "'" .. c .. "'" end
        return string.format("byte 0x%02x", c:byte())
    end

    local function skip_space()
        pos = text:find("[^ \t\r\n]", pos) or #text + 1
    end

    local function expect(byte, what)
        skip_space()
        if text:byte(pos) ~= byte then
            fail("expected " .. what .. ", found " .. found())
        end
        pos = pos + 1
    end

    local parse_value

    -- \uXXXX at `at`: returns the code point and the position after it.
    -- A surrogate pair makes one code point; a lone surrogate becomes U+FFFD.
    local function parse_u_escape(at)
        local hex = text:match("^%x%x%x%x", at + 2)
        if not hex then fail("invalid \\u escape (4 hex digits expected)", at) end
        local cp, after = tonumber(hex, 16), at + 6
        if cp >= 0xD800 and cp <= 0xDBFF then
            local low = text:match("^\\u(%x%x%x%x)", after)
            low = low and tonumber(low, 16)
            if low and low >= 0xDC00 and low <= 0xDFFF then
                return 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00), after + 6
            end
            return 0xFFFD, after
        elseif cp >= 0xDC00 and cp <= 0xDFFF then
            return 0xFFFD, after
        end
        return cp, after
    end

    local function parse_string()
        local start = pos
        pos = pos + 1
        local parts = {}
        while true do
            -- the next quote, backslash or control character (0x00-0x1f)
            local i = text:find('["\\\0-\31]', pos)
            if not i then fail("unterminated string", start) end
            parts[#parts + 1] = text:sub(pos, i - 1)
            local c = text:sub(i, i)
            if c == '"' then
                pos = i + 1
                return table.concat(parts)
            elseif c ~= "\\" then
                fail("control character in a string (it must be escaped)", i)
            end
            local e = text:sub(i + 1, i + 1)
            if e == "" then fail("unterminated string", start) end
            if e == "u" then
                local cp
                cp, pos = parse_u_escape(i)
                parts[#parts + 1] = utf8.char(cp)
            elseif ESCAPES[e] then
                parts[#parts + 1] = ESCAPES[e]
                pos = i + 2
            else
                fail("invalid escape '\\" .. e .. "'", i)
            end
        end
    end

    -- Numbers follow the JSON grammar exactly: no leading zeros, no '+',
    -- no bare '.', no hex, no inf/nan.
    local function parse_number()
        local after_int = text:match("^-?[1-9]%d*()", pos) or text:match("^-?0()", pos)
        if not after_int then fail("invalid number") end
        local p = after_int
        if text:find("^%d", p) then fail("invalid number (leading zero)") end
        -- the common case, a plain integer, needs no more matching
        if text:find("^[.eE]", p) then
            p = text:match("^%.%d+()", p) or p
            if text:sub(p, p) == "." then
                fail("invalid number (digits expected after '.')", p + 1)
            end
            if text:find("^[eE]", p) then
                p = text:match("^[eE][-+]?%d+()", p)
                    or fail("invalid number (digits expected in the exponent)", p + 1)
            end
        end
        local v = tonumber(text:sub(pos, p - 1))
        if v ~= v or v == math.huge or v == -math.huge then
            fail("number out of range")
        end
        pos = p
        return v
    end

    local function enter()
        depth = depth + 1
        if depth > MAX_DEPTH then fail("nested more than " .. MAX_DEPTH .. " deep") end
        pos = pos + 1
    end

    local function parse_object()
        enter()
        local obj = {}
        skip_space()
        if text:sub(pos, pos) == "}" then
            pos = pos + 1
            depth = depth - 1
            return obj
        end
        while true do
            skip_space()
            if text:sub(pos, pos) ~= '"' then
                fail("expected a string key, found " .. found())
            end
            local key = parse_string()
            expect(58, "':'")
            obj[key] = parse_value()
            skip_space()
            local c = text:sub(pos, pos)
            pos = pos + 1
            if c == "}" then break end
            if c ~= "," then fail("expected ',' or '}', found " .. found(pos - 1), pos - 1) end
        end
        depth = depth - 1
        return obj
    end

    local function parse_array()
        enter()
        local arr = setmetatable({}, ARRAY)
        skip_space()
        if text:sub(pos, pos) == "]" then
            pos = pos + 1
            depth = depth - 1
            return arr
        end
        while true do
            arr[#arr + 1] = parse_value()
            skip_space()
            local c = text:sub(pos, pos)
            pos = pos + 1
            if c == "]" then break end
            if c ~= "," then fail("expected ',' or ']', found " .. found(pos - 1), pos - 1) end
        end
        depth = depth - 1
        return arr
    end

    local LITERALS = { t = { "true", true }, f = { "false", false }, n = { "null", NULL } }

    parse_value = function()
        skip_space()
        local c = text:sub(pos, pos)
        if c == "{" then return parse_object() end
        if c == "[" then return parse_array() end
        if c == '"' then return parse_string() end
        if c == "-" or (c >= "0" and c <= "9") then return parse_number() end
        local lit = LITERALS[c]
        if lit and text:sub(pos, pos + #lit[1] - 1) == lit[1] then
            pos = pos + #lit[1]
            return lit[2]
        end
        fail("expected a value, found " .. found())
    end

    local value = parse_value()
    skip_space()
    if pos <= #text then fail("unexpected " .. found() .. " after the JSON value") end
    return value
end

-- ---- JSON encoding (for --json OUT) ------------------------------------------

local SHORT_ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n",
                        ["\r"] = "\\r", ["\t"] = "\\t" }

local function json_string(s)
    return '"' .. s:gsub('[%c"\\]', function(c)
        return SHORT_ESCAPES[c] or string.format("\\u%04x", c:byte())
    end) .. '"'
end

local function json_number(v)
    if math.type(v) == "integer" then return tostring(v) end
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    if v == math.floor(v) and math.abs(v) < 2^53 then return string.format("%d", v) end
    return (string.format("%.6f", v):gsub("0+$", ""):gsub("%.$", ""))
end

-- json_object("key1", value1, "key2", value2, ...): an object for
-- json_encode that keeps its keys in this order (a Lua table would not).
-- Keys whose value is nil are left out; use NULL for a JSON null.
local OBJECT = {}
local function json_object(...)
    local pairs_list = table.pack(...)
    return setmetatable({ n = pairs_list.n, list = pairs_list }, OBJECT)
end

-- json_encode(value[, indent]): JSON text, two-space indented, one value
-- per line. Lua tables without the OBJECT metatable are written as arrays.
local function json_encode(v, indent)
    indent = indent or ""
    local inner = indent .. "  "
    if v == nil or v == NULL then return "null" end
    local t = type(v)
    if t == "boolean" then return tostring(v) end
    if t == "number" then return json_number(v) end
    if t == "string" then return json_string(v) end
    local items = {}
    if getmetatable(v) == OBJECT then
        for i = 1, v.n, 2 do
            if v.list[i + 1] ~= nil then
                items[#items + 1] = inner .. json_string(v.list[i]) .. ": "
                    .. json_encode(v.list[i + 1], inner)
            end
        end
        if #items == 0 then return "{}" end
        return "{\n" .. table.concat(items, ",\n") .. "\n" .. indent .. "}"
    end
    for _, item in ipairs(v) do items[#items + 1] = inner .. json_encode(item, inner) end
    if #items == 0 then return "[]" end
    return "[\n" .. table.concat(items, ",\n") .. "\n" .. indent .. "]"
end

-- ---- command line ------------------------------------------------------------

-- "5%", "5" and "2.5" are percent; returns the number, and whether it had
-- a '%' sign. Anything else (negative, empty, "1e3", "abc") is nil.
local function parse_percent(s)
    local num, sign = s:match("^(%d+%.?%d*)(%%?)$")
    if not num then num, sign = s:match("^(%.%d+)(%%?)$") end
    if not num then return nil end
    return tonumber(num), sign == "%"
end

local OPTIONS = {
    ["--tolerance"] = "tolerance",
    ["--tolerance-latency"] = "latency",
    ["--tolerance-throughput"] = "throughput",
    ["--json"] = "json",
}

-- parse_args(arg) -> opts, or nil for --help. Options may come before,
-- between or after the two files; "--opt=value" works too; "--" ends options.
local function parse_args(argv)
    local opts, files = { warnings = {} }, {}
    local i, only_files = 1, false
    while argv[i] ~= nil do
        local a = argv[i]
        i = i + 1
        if only_files or a == "-" or a:sub(1, 1) ~= "-" then
            files[#files + 1] = a
        elseif a == "--" then
            only_files = true
        elseif a == "--help" or a == "-h" then
            return nil
        elseif a == "--quiet" then
            opts.quiet = true
        else
            local name, value = a:match("^(%-%-[%w-]+)=(.*)$")
            name = name or a
            local key = OPTIONS[name]
            if not key then usage_error("unknown option '%s'", a) end
            if not value then
                value = argv[i]
                if value == nil then usage_error("%s needs a value", name) end
                i = i + 1
            end
            if key == "json" then
                if value == "" then usage_error("--json needs a file name") end
                opts.json = value
            else
                local p, had_sign = parse_percent(value)
                if not p then
                    usage_error("%s: '%s' is not a percentage (e.g. 5%% or 5)", name, value)
                end
                if not had_sign and p > 0 and p < 1 then
                    opts.warnings[#opts.warnings + 1] = string.format(
                        "%s: note: %s %s means %s%%, not %s%%", PROG, name, value, value,
                        string.format("%g", p * 100))
                end
                opts[key] = p
            end
        end
    end
    if #files < 2 then usage_error("two result files are needed, BASE.json and NEW.json") end
    if #files > 2 then usage_error("unexpected argument '%s'", files[3]) end
    opts.base, opts.new = files[1], files[2]
    local all = opts.tolerance or DEFAULT_TOLERANCE
    opts.tol = {
        throughput = opts.throughput or all,
        latency = opts.latency or all,
        other = all,
    }
    -- A drop is at most 100% (or 100 points): such a tolerance never fails.
    if opts.tol.throughput >= 100 then
        opts.warnings[#opts.warnings + 1] = string.format("%s: note: with a throughput "
            .. "tolerance of %g%%, no drop in ops/s can be a regression", PROG, opts.tol.throughput)
    end
    if opts.tol.other >= 100 then
        opts.warnings[#opts.warnings + 1] = string.format("%s: note: with a tolerance of %g%%, "
            .. "no drop in the hit ratio can be a regression", PROG, opts.tol.other)
    end
    return opts
end

-- ---- reading a result file ---------------------------------------------------

local function is_array(v) return type(v) == "table" and getmetatable(v) == ARRAY end
local function is_object(v)
    return type(v) == "table" and getmetatable(v) == nil
end

local function read_file(path)
    if path == "" then raise("an empty file name") end
    local f, err = io.open(path, "rb")
    if not f then raise("%s", err) end
    local text, rerr = f:read("a")
    f:close()
    if not text then raise("%s: %s", path, rerr or "read error") end
    return text
end

-- load_result(path) -> decoded file, checked for what identifies workloads.
-- Metrics may be missing (older or hand-written files); they are checked
-- when read (see value_at).
local function load_result(path)
    local doc = json_decode(read_file(path), path)
    if not is_object(doc) then raise("%s: not an mcshredder result (not a JSON object)", path) end
    local v = doc.version
    if v == nil or v == NULL then
        raise("%s: no \"version\" key: not an mcshredder --json result", path)
    end
    if type(v) ~= "number" then raise("%s: \"version\" is not a number", path) end
    if v ~= 1 then
        raise("%s: result schema version %s is not supported (this mcshredder reads version 1)",
              path, tostring(v))
    end
    if not is_array(doc.workloads) then
        raise("%s: \"workloads\" is missing or not an array", path)
    end
    for i, w in ipairs(doc.workloads) do
        if not is_object(w) or type(w.name) ~= "string" or math.type(w.phase) ~= "integer" then
            raise("%s: workloads[%d] is not a workload (needs a string \"name\" and an "
                  .. "integer \"phase\")", path, i - 1)
        end
    end
    if doc.totals ~= nil and doc.totals ~= NULL and not is_object(doc.totals) then
        raise("%s: \"totals\" is not an object", path)
    end
    if doc.totals == NULL then doc.totals = nil end
    return doc
end

-- value_at(stats, path, where) -> number or nil. `path` is a list of keys;
-- an absent or null key anywhere gives nil (not in this file), a value of
-- the wrong type is an input error naming `where`.
local function value_at(stats, path, where)
    local v = stats
    for i, key in ipairs(path) do
        if not is_object(v) then
            raise("%s.%s is not an object", where, table.concat(path, ".", 1, i - 1))
        end
        v = v[key]
        if v == nil or v == NULL then return nil end
    end
    if type(v) ~= "number" then
        raise("%s.%s is not a number", where, table.concat(path, "."))
    end
    return v
end

-- ---- metrics -----------------------------------------------------------------
--
-- A metric has an id (its key in the --json output), a label (in the
-- table), a getter, which way is worse, a tolerance family and a format.
--   worse = "lower" | "higher" | nil (shown, never judged)
--   points: the change is in absolute percentage points, not relative

local function hit_ratio(stats, where)
    local hits = value_at(stats, { "hits" }, where)
    local misses = value_at(stats, { "misses" }, where)
    if not hits or not misses or hits + misses <= 0 then return nil end
    return hits / (hits + misses)
end

local function path_getter(path)
    return function(stats, where) return value_at(stats, path, where) end
end

local function latency_metric(key, label, judged)
    return { id = "latency_us." .. key, label = label, get = path_getter({ "latency_us", key }),
             worse = judged and "higher" or nil, family = "latency", format = "latency" }
end

local METRICS = {
    { id = "ops_per_sec", label = "ops/s", get = path_getter({ "ops_per_sec" }),
      worse = "lower", family = "throughput", format = "rate" },
    latency_metric("p50", "p50", true),
    latency_metric("p90", "p90", true),
    latency_metric("p99", "p99", true),
    latency_metric("p999", "p99.9", true),
    latency_metric("max", "max", false),
    { id = "errors", label = "errors", get = path_getter({ "errors" }),
      worse = "higher", family = "other", format = "count" },
    { id = "hit_ratio", label = "hit ratio", get = hit_ratio,
      worse = "lower", family = "other", format = "ratio", points = true },
    -- totals only: the worker threads' CPU time per request
    { id = "cpu_us_per_op", label = "client cpu/op", get = path_getter({ "cpu_us_per_op" }),
      worse = "higher", family = "throughput", format = "latency" },
}

-- The per-command metrics of one kind.
local function command_metrics(kind)
    return {
        { id = "commands." .. kind .. ".ops_per_sec", label = kind .. " ops/s",
          get = path_getter({ "commands", kind, "ops_per_sec" }),
          worse = "lower", family = "throughput", format = "rate" },
        { id = "commands." .. kind .. ".latency_us.p99", label = kind .. " p99",
          get = path_getter({ "commands", kind, "latency_us", "p99" }),
          worse = "higher", family = "latency", format = "latency" },
    }
end

-- The command kinds in either stats object, sorted.
local function command_kinds(a, b)
    local seen, kinds = {}, {}
    for _, stats in ipairs({ a, b }) do
        if is_object(stats.commands) then
            for kind in pairs(stats.commands) do
                if not seen[kind] then
                    seen[kind] = true
                    kinds[#kinds + 1] = kind
                end
            end
        end
    end
    table.sort(kinds)
    return kinds
end

-- ---- judging -----------------------------------------------------------------

-- change(m, base, new) -> the change in percent (relative) or percentage
-- points (m.points), or nil when it has no finite value (a base of 0).
local function change_of(m, base, new)
    if m.points then return (new - base) * 100 end
    if base == 0 then return new == 0 and 0 or nil end
    return (new - base) / math.abs(base) * 100
end

-- judge(m, base, new, tol) -> change, verdict, where verdict is one of
-- "ok", "regression", "better", "info" (shown, never judged) and "n/a"
-- (cannot be judged: missing in a file, or nothing recorded).
local function judge(m, base, new, tol)
    if base == nil or new == nil then return nil, "n/a" end
    local change = change_of(m, base, new)
    if not m.worse then return change, "info" end
    -- A latency of 0 means nothing was recorded: there is nothing to compare.
    if m.format == "latency" and (base == 0 or new == 0) then return change, "n/a" end
    local sign = m.worse == "higher" and 1 or -1
    if change == nil then
        -- From 0 to anything is past any tolerance: any new error is a
        -- regression, any throughput where there was none an improvement.
        return nil, (new - base) * sign > 0 and "regression" or "better"
    end
    local worse_by = change * sign
    if worse_by > tol + EPSILON then return change, "regression" end
    if -worse_by > tol + EPSILON then return change, "better" end
    return change, "ok"
end

-- compare_stats(base, new, where_base, where_new, tol) -> list of rows:
-- { metric, base, new, change, verdict, tolerance }
local function compare_stats(b, n, wb, wn, tol)
    local metrics = {}
    for _, m in ipairs(METRICS) do metrics[#metrics + 1] = m end
    for _, kind in ipairs(command_kinds(b, n)) do
        for _, m in ipairs(command_metrics(kind)) do metrics[#metrics + 1] = m end
    end
    local rows = {}
    for _, m in ipairs(metrics) do
        local bv, nv = m.get(b, wb), m.get(n, wn)
        -- in neither file (or no lookups on either side): nothing to show
        if bv ~= nil or nv ~= nil then
            local t = tol[m.family]
            local change, verdict = judge(m, bv, nv, t)
            rows[#rows + 1] = { metric = m, base = bv, new = nv, change = change,
                                verdict = verdict, tolerance = m.worse and t or nil }
        end
    end
    return rows
end

-- ---- matching workloads ------------------------------------------------------

-- Workloads are matched by (name, phase). The same pair can occur more than
-- once (two mcs.add calls with the same function in one phase): the k-th
-- occurrence in BASE is matched with the k-th in NEW.
local function keyed(workloads)
    local seen, list = {}, {}
    for i, w in ipairs(workloads) do
        local id = w.name .. "\0" .. w.phase
        seen[id] = (seen[id] or 0) + 1
        list[#list + 1] = { w = w, index = i - 1, occurrence = seen[id],
                            key = id .. "\0" .. seen[id] }
    end
    return list
end

local function workload_title(e)
    local extra = e.occurrence > 1 and string.format(", #%d", e.occurrence) or ""
    return string.format("workload %s (phase %d%s)", e.w.name, e.w.phase, extra)
end

-- compare(base_doc, new_doc, opts) -> a list of sections:
-- { kind = "workload"|"totals", title, status = "compared"|"added"|"removed",
--   name, phase, occurrence, rows }
local function compare(bdoc, ndoc, opts)
    local blist, nlist = keyed(bdoc.workloads), keyed(ndoc.workloads)
    local nby = {}
    for _, e in ipairs(nlist) do nby[e.key] = e end
    local sections, matched = {}, {}
    for _, be in ipairs(blist) do
        local ne = nby[be.key]
        local s = { kind = "workload", title = workload_title(be), name = be.w.name,
                    phase = be.w.phase, occurrence = be.occurrence }
        if ne then
            matched[ne.key] = true
            s.status = "compared"
            s.rows = compare_stats(be.w, ne.w,
                string.format("%s: workloads[%d]", opts.base, be.index),
                string.format("%s: workloads[%d]", opts.new, ne.index), opts.tol)
        else
            s.status = "removed"
        end
        sections[#sections + 1] = s
    end
    for _, ne in ipairs(nlist) do
        if not matched[ne.key] then
            sections[#sections + 1] = { kind = "workload", title = workload_title(ne),
                name = ne.w.name, phase = ne.w.phase, occurrence = ne.occurrence,
                status = "added" }
        end
    end
    local t = { kind = "totals", title = "totals" }
    if bdoc.totals and ndoc.totals then
        t.status = "compared"
        t.rows = compare_stats(bdoc.totals, ndoc.totals, opts.base .. ": totals",
                               opts.new .. ": totals", opts.tol)
    elseif bdoc.totals then
        t.status = "removed"
    elseif ndoc.totals then
        t.status = "added"
    end
    if t.status then sections[#sections + 1] = t end
    return sections
end

-- ---- formatting --------------------------------------------------------------

-- 1234567.8 -> "1,234,568"
local function commas(v)
    local s = string.format("%.0f", v)
    local sign, digits = s:match("^(-?)(%d+)$")
    if not digits then return s end
    digits = digits:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", "")
    return sign .. digits
end

-- Latencies are in microseconds in the files.
local function format_latency(us)
    if us < 1000 then return string.format("%.1fµs", us) end
    if us < 1000000 then return string.format("%.2fms", us / 1000) end
    return string.format("%.2fs", us / 1000000)
end

local FORMATS = {
    rate = function(v) return v >= 100 and commas(v) or string.format("%.1f", v) end,
    latency = format_latency,
    count = commas,
    ratio = function(v) return string.format("%.1f%%", v * 100) end,
}

local function format_value(m, v)
    if v == nil then return "-" end
    return FORMATS[m.format](v)
end

local function format_change(row)
    if row.change == nil then
        return (row.base == nil or row.new == nil) and "" or "n/a"
    end
    return string.format(row.metric.points and "%+.1fpp" or "%+.1f%%", row.change)
end

local VERDICT_TEXT = { ok = "ok", regression = "REGRESSION", better = "better",
                       info = "-", ["n/a"] = "n/a" }

-- Pads by characters, not bytes ("µs" is two bytes in UTF-8).
local function pad(s, width, right)
    local fill = string.rep(" ", math.max(0, width - (utf8.len(s) or #s)))
    return right and fill .. s or s .. fill
end

local function format_table(rows)
    local cells = { { "metric", "base", "new", "change", "verdict" } }
    for _, r in ipairs(rows) do
        cells[#cells + 1] = { r.metric.label, format_value(r.metric, r.base),
            format_value(r.metric, r.new), format_change(r), VERDICT_TEXT[r.verdict] }
    end
    local widths = { 0, 0, 0, 0 }
    for _, c in ipairs(cells) do
        for i = 1, 4 do widths[i] = math.max(widths[i], utf8.len(c[i]) or #c[i]) end
    end
    local lines = {}
    for _, c in ipairs(cells) do
        lines[#lines + 1] = "  " .. pad(c[1], widths[1]) .. "  " .. pad(c[2], widths[2], true)
            .. "  " .. pad(c[3], widths[3], true) .. "  " .. pad(c[4], widths[4], true)
            .. "  " .. c[5]
    end
    return table.concat(lines, "\n")
end

local function format_tolerance(row)
    return string.format(row.metric.points and "%gpp" or "%g%%", row.tolerance)
end

-- One self-contained line per regression, for --quiet.
local function regression_line(section, row)
    local m = row.metric
    local how = row.change and format_change(row) .. ", tolerance " .. format_tolerance(row)
        or "none in BASE"
    return string.format("REGRESSION %s: %s %s -> %s (%s)", section.title, m.label,
                         format_value(m, row.base), format_value(m, row.new), how)
end

local function plural(n, word)
    return string.format("%d %s%s", n, word, n == 1 and "" or "s")
end

local function count_verdicts(sections)
    local counts = { regression = 0, better = 0, added = 0, removed = 0 }
    for _, s in ipairs(sections) do
        if s.status ~= "compared" then
            if s.kind == "workload" then counts[s.status] = counts[s.status] + 1 end
        else
            for _, r in ipairs(s.rows) do
                if counts[r.verdict] then counts[r.verdict] = counts[r.verdict] + 1 end
            end
        end
    end
    return counts
end

local function summary_line(counts)
    local parts = { counts.regression == 0 and "no regressions"
                    or plural(counts.regression, "regression") }
    if counts.better > 0 then parts[#parts + 1] = plural(counts.better, "improvement") end
    local line = table.concat(parts, ", ")
    local unmatched = {}
    if counts.added > 0 then unmatched[#unmatched + 1] = counts.added .. " added" end
    if counts.removed > 0 then unmatched[#unmatched + 1] = counts.removed .. " removed" end
    if #unmatched > 0 then
        line = line .. "; workloads not compared: " .. table.concat(unmatched, ", ")
    end
    return line
end

local function status_line(s)
    if s.status == "added" then
        return string.format("added: %s is only in NEW (not compared, not a regression)", s.title)
    end
    return string.format("removed: %s is only in BASE (not compared, not a regression)", s.title)
end

local function print_report(sections, counts, opts)
    local out = {}
    local function say(s) out[#out + 1] = s end
    if opts.quiet then
        for _, s in ipairs(sections) do
            for _, r in ipairs(s.rows or {}) do
                if r.verdict == "regression" then say(regression_line(s, r)) end
            end
        end
    else
        say(string.format("base %s  new %s", opts.base, opts.new))
        say(string.format("tolerance: throughput %g%%, latency %g%%, errors %g%%, "
            .. "hit ratio %gpp", opts.tol.throughput, opts.tol.latency,
            opts.tol.other, opts.tol.other))
        for _, s in ipairs(sections) do
            if s.status == "compared" then
                say("")
                say(s.title)
                say(format_table(s.rows))
            end
        end
        local first = true
        for _, s in ipairs(sections) do
            if s.status ~= "compared" then
                if first then say("") first = false end
                say(status_line(s))
            end
        end
        say("")
    end
    say(summary_line(counts))
    io.stdout:write(table.concat(out, "\n"), "\n")
end

-- ---- --json OUT --------------------------------------------------------------

local function json_rows(rows)
    local list = {}
    for _, r in ipairs(rows) do
        list[#list + 1] = json_object(
            "metric", r.metric.id,
            "base", r.base == nil and NULL or r.base,
            "new", r.new == nil and NULL or r.new,
            "change", r.change == nil and NULL or r.change,
            "change_unit", r.metric.points and "points" or "percent",
            "tolerance", r.tolerance == nil and NULL or r.tolerance,
            "verdict", r.verdict)
    end
    return list
end

local function json_section(s)
    if s.kind == "totals" then
        return json_object("status", s.status, "metrics", s.rows and json_rows(s.rows))
    end
    return json_object("name", s.name, "phase", s.phase, "occurrence", s.occurrence,
                       "status", s.status, "metrics", s.rows and json_rows(s.rows))
end

local function write_json(path, sections, counts, opts)
    local workloads, totals = {}, NULL
    for _, s in ipairs(sections) do
        if s.kind == "totals" then totals = json_section(s)
        else workloads[#workloads + 1] = json_section(s) end
    end
    local doc = json_object(
        "version", 1,
        "base", opts.base,
        "new", opts.new,
        "tolerance", json_object("throughput", opts.tol.throughput,
                                 "latency", opts.tol.latency, "other", opts.tol.other),
        "regressions", counts.regression,
        "improvements", counts.better,
        "workloads_added", counts.added,
        "workloads_removed", counts.removed,
        "workloads", workloads,
        "totals", totals)
    local f, err = io.open(path, "wb")
    if not f then raise("cannot write %s", err) end
    local ok, werr = f:write(json_encode(doc), "\n")
    local closed, cerr = f:close()
    if not ok or not closed then raise("cannot write %s: %s", path, werr or cerr) end
end

-- ---- main --------------------------------------------------------------------

local function main(argv)
    local opts = parse_args(argv)
    if not opts then
        io.stdout:write(HELP)
        return 0
    end
    for _, w in ipairs(opts.warnings) do io.stderr:write(w, "\n") end
    local bdoc = load_result(opts.base)
    local ndoc = load_result(opts.new)
    local sections = compare(bdoc, ndoc, opts)
    local counts = count_verdicts(sections)
    if opts.json then write_json(opts.json, sections, counts, opts) end
    print_report(sections, counts, opts)
    return counts.regression > 0 and 1 or 0
end

-- Our own errors (tables) are printed as one line; anything else is a bug,
-- passed on to mcshredder.c with a traceback.
local ok, result = xpcall(main, function(e)
    if type(e) == "table" then return e end
    return debug.traceback(tostring(e), 2)
end, arg or {})
if ok then return result end
if type(result) == "table" then
    io.stderr:write(PROG, ": ", result.message, "\n")
    return 2
end
error(result, 0)
