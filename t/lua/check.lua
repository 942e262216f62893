-- check.lua: assertions for the Lua scripts of the integration tests.
-- A .t file puts this text in front of its script.  Each check prints one
-- line on stdout, which the .t file turns into a TAP test:
--   CHECK ok <name>
--   CHECK not ok <name>: <what went wrong>
-- Lines from several worker threads may interleave; each is one print call.

local function emit(ok, name, detail)
    if ok then
        print("CHECK ok " .. name)
    else
        print("CHECK not ok " .. name .. ": " .. tostring(detail))
    end
    io.stdout:flush()
    return ok
end

local function show(v)
    if type(v) == "string" then
        return string.format("%q", v)
    end
    return tostring(v)
end

-- check(name, cond [, detail])
function check(name, cond, detail)
    return emit(cond and true or false, name, detail or "condition is false")
end

-- check_eq(name, got, want): got == want
function check_eq(name, got, want)
    return emit(got == want, name, "got " .. show(got) .. ", want " .. show(want))
end

-- check_like(name, got, pattern): got is a string matching the Lua pattern
function check_like(name, got, pattern)
    local ok = type(got) == "string" and got:find(pattern) ~= nil
    return emit(ok, name, "got " .. show(got) .. ", want a match for " .. show(pattern))
end

-- Request helpers for workload functions (default connection).
-- rt(req): write req, flush, read one response; returns it.
function rt(req)
    mcs.write(req)
    mcs.flush()
    return mcs.read()
end

-- rt_lines(req): write req, flush, read responses up to and including the
-- one whose first line is "END" (or any other one-line response that is not
-- VALUE/STAT); returns the list of first lines and the list of values.
function rt_lines(req)
    mcs.write(req)
    mcs.flush()
    local lines, values = {}, {}
    while true do
        local res = mcs.read()
        local line = mcs.resline(res)
        lines[#lines + 1] = line
        values[#values + 1] = mcs.res_value(res) or false
        local t = mcs.res_type(res)
        if t ~= "VALUE" and t ~= "STAT" then
            break
        end
    end
    return lines, values
end
