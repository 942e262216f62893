-- compare.lua: `mcshredder compare BASE.json NEW.json [--tolerance 5%]`.
-- Placeholder until the comparison is written: says so and fails.
io.stderr:write("mcshredder compare: not written yet\n")
return 2
