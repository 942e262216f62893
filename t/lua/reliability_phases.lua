-- reliability_phases.lua: three phases, for interrupting the second one.
-- Phase 1 ("first") runs 0.5 s, phase 2 ("second") 30 s, phase 3 ("third")
-- 30 s.  config prints a marker line before and after each phase (flushed
-- at once), so a test can see where the run is.
local function mark(s)
    print("MARK " .. s)
    io.stdout:flush()
end

function config(args)
    local t = mcs.thread()
    mark("phase1 start")
    mcs.add(t, { func = "first", clients = 2, rate_limit = 0 })
    mcs.shredder(t, 0.5)
    mark("phase1 end")
    mcs.add(t, { func = "second", clients = 2, rate_limit = 0 })
    mark("phase2 start")
    mcs.shredder(t, 30)
    mark("phase2 end")
    mcs.add(t, { func = "third", clients = 2, rate_limit = 0 })
    mcs.shredder(t, 30)
    mark("phase3 end")
end

local function roundtrip()
    mcs.write(mcs.mn())
    mcs.flush()
    mcs.read()
end

first = roundtrip
second = roundtrip
third = roundtrip
