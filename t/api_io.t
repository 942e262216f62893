#!/usr/bin/perl
# api_io.t: the I/O side of the Lua API against a real memcached: raw
# string writes, pipelining, the res_* functions on each kind of response,
# the out stream between threads, sleep/time, mcs.stop, mcs.disconnect.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use MCS;
use LuaCheck;

sub run_script {
    my ($mc, $lua, @args) = @_;
    return run_lua($mc, $lua, { timeout => 25 }, '--quiet', @args);
}

sub mc_value {
    my ($mc, $key) = @_;
    my $out = mc_cmd($mc, "get $key\r\n", until => qr/END\r\n\z/);
    return $out =~ /^VALUE \S+ \d+ (\d+)\r\n/ ? substr($out, length($&), $1) : undef;
}

my $mc = start_memcached();

# ---- raw string writes ------------------------------------------------------------

my $raw = run_script($mc, once_script(<<'LUA'));
function f()
    mcs.write("set io:raw 0 0 5\r\n")
    mcs.write("hello\r\n")
    mcs.flush()
    check_eq("set written in two pieces: STORED", mcs.resline(mcs.read()), "STORED")
    -- split in the middle of the command line, the data in a third piece
    mcs.write("set io:ra")
    mcs.write("w2 3 0 5\r")
    mcs.write("\nworld\r\n")
    mcs.flush()
    check_eq("set split mid-line: STORED", mcs.resline(mcs.read()), "STORED")
    mcs.write("get io:raw\r\n")
    mcs.flush()
    local res = mcs.read()
    check_eq("raw get: VALUE line", mcs.resline(res), "VALUE io:raw 0 5")
    check_eq("raw get: value", mcs.res_value(res), "hello")
    check_eq("raw get: END", mcs.resline(mcs.read(res)), "END")
    res = rt("mg io:raw2 v f\r\n")
    check_eq("raw mg: VA line", mcs.resline(res), "VA 5 f3")
    check_eq("raw mg: value", mcs.res_value(res), "world")
    -- two raw requests in one string: two responses
    mcs.write("mn\r\nversion\r\n")
    mcs.flush()
    check_eq("two requests in one write: first", mcs.resline(mcs.read()), "MN")
    check_like("two requests in one write: second", mcs.resline(mcs.read()), "^VERSION ")
    -- raw and built requests mixed
    mcs.write("ms io:mix 2 T0\r\nab\r\n")
    mcs.write(mcs.mg("io:mix", -1, "v"))
    mcs.flush()
    check_eq("raw ms then built mg: HD", mcs.resline(mcs.read()), "HD")
    res = mcs.read()
    check_eq("raw ms then built mg: value", mcs.res_value(res), "ab")
end
LUA
is($raw->{exit}, 0, 'raw write script exits 0') or diag($raw->{err});
lua_checks($raw, 11, 'raw writes');
is(mc_value($mc, 'io:raw'), 'hello', 'raw set stored "hello"');
is(mc_value($mc, 'io:raw2'), 'world', 'split set stored "world"');

# ---- pipelining ------------------------------------------------------------------

my $jf = json_path();
my $pipe = run_script($mc, once_script(<<'LUA'), '--json', $jf);
function f()
    -- 8 sets and 8 gets written, one flush, then 16 responses in order
    local reqs = {}
    for i = 1, 8 do
        reqs[i] = mcs.ms("io:p", i, 10 + i, "T0")
        mcs.write(reqs[i])
    end
    for i = 1, 8 do
        reqs[8 + i] = mcs.mg("io:p", i, "k", "v")
        mcs.write(reqs[8 + i])
    end
    mcs.flush()
    local hd, inorder, matched = 0, 0, 0
    local res = mcs.res_new()
    for i = 1, 16 do
        mcs.read(res)
        if i <= 8 then
            if mcs.resline(res) == "HD" then hd = hd + 1 end
        else
            local n = i - 8
            local _, key = mcs.res_flagtoken(res, "k")
            if key == "io:p" .. n and mcs.res_token(res, 2) == tostring(10 + n) then
                inorder = inorder + 1
            end
            if mcs.match(reqs[i], res) then matched = matched + 1 end
        end
    end
    check_eq("pipelined: 8 HD", hd, 8)
    check_eq("pipelined: 8 VA in request order", inorder, 8)
    check_eq("pipelined: 8 values match", matched, 8)
    check_eq("pipelined: nothing left over", mcs.resline(rt(mcs.mn())), "MN")

    -- 16 classic gets in one flush: VALUE + END each
    for i = 1, 16 do
        mcs.write(mcs.get("io:p", i))
    end
    mcs.flush()
    local values, ends = 0, 0
    for i = 1, 16 do
        mcs.read(res)
        if mcs.res_type(res) == "VALUE" then
            values = values + 1
            mcs.read(res)
        end
        if mcs.resline(res) == "END" then ends = ends + 1 end
    end
    check_eq("pipelined gets: 8 hits", values, 8)
    check_eq("pipelined gets: 16 END", ends, 16)
    check_eq("pipelined gets: nothing left over", mcs.resline(rt(mcs.mn())), "MN")
end
LUA
is($pipe->{exit}, 0, 'pipeline script exits 0') or diag($pipe->{err});
lua_checks($pipe, 7, 'pipelining');
SKIP: {
    my $j = eval { read_json($jf) } or skip('no JSON', 3);
    my $c = $j->{workloads}[0]{commands};
    is($c->{mg}{ops}, 8, 'pipelining: 8 mg counted');
    is($c->{ms}{ops}, 8, 'pipelining: 8 ms counted');
    is($c->{get}{ops}, 16, 'pipelining: 16 get counted');
}

# ---- res_* on each kind of response ------------------------------------------------

mc_cmd($mc, "set io:n 0 0 1\r\n5\r\n");
$jf = json_path();
my $types = run_script($mc, once_script(<<'LUA'), '--json', $jf);
-- expect(name, request, first line (pattern), type, ntokens)
local function expect(name, req, line, typ, ntok)
    local res = rt(req)
    check_like(name .. ": line", mcs.resline(res), line)
    if typ then check_eq(name .. ": res_type", mcs.res_type(res), typ) end
    if ntok then check_eq(name .. ": res_ntokens", mcs.res_ntokens(res), ntok) end
    local split = mcs.res_split(res)
    check_eq(name .. ": res_split", table.concat(split, " "), mcs.resline(res))
    check_eq(name .. ": res_split[1] is res_token 1", split[1], mcs.res_token(res, 1))
    check("" .. name .. ": res_startswith first token", mcs.res_startswith(res, split[1]))
    check_eq(name .. ": res_len of a line", mcs.res_len(res), #mcs.resline(res) + 2)
    return res
end

function f()
    expect("STORED", mcs.set("io:t", 1, 0, 0, 4), "^STORED$", "STORED", 0)
    expect("NOT_STORED", mcs.add_req("io:t", 1, 0, 0, 4), "^NOT_STORED$", "NOT_STORED", 0)
    expect("DELETED", mcs.delete("io:t", 1), "^DELETED$", "DELETED", 0)
    expect("NOT_FOUND", mcs.delete("io:t", 1), "^NOT_FOUND$", "NOT_FOUND", 0)
    expect("TOUCHED", mcs.touch("io:n", -1, 100), "^TOUCHED$", "TOUCHED", 0)
    expect("numeric", mcs.incr("io:n", -1, 2), "^7$", nil, 0)
    expect("END", mcs.get("io:none", -1), "^END$", "END", 0)
    expect("OK", mcs.verbosity(0), "^OK$", "OK", 0)
    expect("VERSION", mcs.version(), "^VERSION %d", "VERSION", 1)
    expect("ERROR", "bogus_command\r\n", "^ERROR", "ERROR", nil)
    expect("CLIENT_ERROR", "incr io:t1x abc\r\n", "^CLIENT_ERROR ", "CLIENT_ERROR", nil)
    expect("SERVER_ERROR", mcs.set("io:huge", 1, 0, 0, 2 * 1024 * 1024), "^SERVER_ERROR ",
           "SERVER_ERROR", nil)
    expect("HD", mcs.ms("io:m", 1, 3, "T0"), "^HD$", "HD", 0)
    expect("EN", mcs.mg("io:none", 1, "v"), "^EN$", "EN", 0)
    expect("NF", mcs.md("io:none", 1), "^NF$", "NF", 0)
    expect("NS", mcs.ms("io:m", 1, 3, "ME"), "^NS$", "NS", 0)
    expect("EX", mcs.ms("io:m", 1, 3, "C1"), "^EX$", "EX", 0)
    expect("MN", mcs.mn(), "^MN$", "MN", 0)

    -- VALUE: the line, the value, END after it
    local res = rt(mcs.gets("io:m", 1))
    check_eq("VALUE: res_type", mcs.res_type(res), "VALUE")
    check_eq("VALUE: res_ntokens", mcs.res_ntokens(res), 4)
    check_eq("VALUE: res_token 4 is the length", mcs.res_token(res, 4), "3")
    check_eq("VALUE: res_token past the end", mcs.res_token(res, 6), nil)
    check_eq("VALUE: res_len counts line and value", mcs.res_len(res), #mcs.resline(res) + 2 + 3 + 2)
    check_eq("VALUE: res_value length", #mcs.res_value(res), 3)
    check("VALUE: res_startswith", mcs.res_startswith(res, "VALUE io:m1 "))
    check("VALUE: not res_startswith", not mcs.res_startswith(res, "END"))
    check_eq("VALUE: then END", mcs.resline(mcs.read(res)), "END")
    check_eq("END: res_value is nil", mcs.res_value(res), nil)
    check_eq("END: res_value returns one result (nil), not none", select("#", mcs.res_value(res)), 1)

    -- VA with flags
    res = rt(mcs.mg("io:m", 1, "v", "s", "k", "O99"))
    check_eq("VA: res_type", mcs.res_type(res), "VA")
    check_eq("VA: res_ntokens", mcs.res_ntokens(res), 4)
    check_eq("VA: res_split", table.concat(mcs.res_split(res), ","), "VA,3,s3,kio:m1,O99")
    check("VA: res_hasflag O", mcs.res_hasflag(res, "O"))
    check("VA: size is no flag", not mcs.res_hasflag(res, "3"))
    check_eq("VA: res_len", mcs.res_len(res), #mcs.resline(res) + 2 + 3 + 2)
    local ok, v = mcs.res_flagtoken(res, "O")
    check_eq("VA: res_flagtoken O", tostring(ok) .. "," .. tostring(v), "true,99")
    res = rt(mcs.mg("io:m", 1, "k", "q", "t"))
    check_eq("HD with flags: line", mcs.resline(res), "HD kio:m1 t-1")
    check_eq("HD with flags: res_flagtoken k", select(2, mcs.res_flagtoken(res, "k")), "io:m1")

    -- STAT lines
    mcs.write(mcs.stats())
    mcs.flush()
    res = mcs.read()
    check_eq("STAT: res_type", mcs.res_type(res), "STAT")
    check_eq("STAT: first is pid", mcs.res_statname(res), "pid")
    check_like("STAT: pid value", mcs.res_stat(res), "^%d+$")
    check_eq("STAT: res_ntokens", mcs.res_ntokens(res), 2)
    local n = 1
    while mcs.resline(mcs.read(res)) ~= "END" do n = n + 1 end
    check("STAT: many lines then END", n > 20, n .. " lines")

    -- read(res) fills and returns the same object; read() a new one
    local r1 = mcs.res_new()
    mcs.write(mcs.mn())
    mcs.flush()
    check("read(res) returns res", rawequal(mcs.read(r1), r1))
    mcs.write(mcs.mn())
    mcs.flush()
    local r2 = mcs.read()
    check("read() returns a new response", not rawequal(r2, r1) and mcs.resline(r2) == "MN")

    -- read(res, n): n responses, the last one kept
    for i = 1, 5 do mcs.write(mcs.mg("io:none", i, "v")) end
    mcs.write(mcs.mn())
    mcs.flush()
    check_eq("read(res, 6): the 6th response", mcs.resline(mcs.read(r1, 6)), "MN")

    -- write_factory(f, kd): the key is drawn from the distribution
    local kd = mcs.key_dist("sequential", 1000)
    local msf = mcs.ms_factory("io:kd")
    mcs.write_factory(msf, kd, 3)
    mcs.write_factory(msf, kd, 3)
    mcs.flush()
    mcs.read(r1, 2)
    check_eq("write_factory(f, kd): key 1 set", mcs.resline(rt(mcs.mg("io:kd", 1, "k"))), "HD kio:kd1")
    check_eq("write_factory(f, kd): then key 2", mcs.resline(rt(mcs.mg("io:kd", 2, "k"))), "HD kio:kd2")
end
LUA
is($types->{exit}, 0, 'response types script exits 0') or diag($types->{err});
lua_checks($types, 152, 'response types');
SKIP: {
    my $j = eval { read_json($jf) } or skip('no JSON', 4);
    my $e = $j->{workloads}[0]{errors_by_kind};
    is($e->{error}, 1, 'ERROR counted as error');
    is($e->{client_error}, 1, 'CLIENT_ERROR counted as client_error');
    is($e->{server_error}, 1, 'SERVER_ERROR counted as server_error');
    is($e->{protocol} + $e->{reset}, 0, 'no protocol or reset errors');
}

# ---- the out stream between threads --------------------------------------------------

my $out = run_script($mc, $CHECK_LUA . <<'LUA');
function config()
    local ts, tr = mcs.thread(), mcs.thread()
    mcs.add_custom(ts, { func = "sender" })
    mcs.add_custom(tr, { func = "receiver" })
    mcs.shredder({ ts, tr }, 10)
end

function sender()
    mcs.sleep_millis(200)        -- the receiver waits first
    mcs.out("first", 1)
    mcs.out({ "second", "third" })
    mcs.sleep_millis(100)
    mcs.out("last")
end

function receiver()
    local got = {}
    local t0 = mcs.time_millis()
    while #got < 4 and mcs.time_millis() - t0 < 5000 do
        mcs.out_wait()
        while true do
            local line = mcs.out_readline()
            if line == nil then break end
            got[#got + 1] = line
        end
    end
    check_eq("out: lines arrive in order", table.concat(got, "|"), "first\t1|second|third|last")
    check_eq("out_readline: nil when empty", mcs.out_readline(), nil)
    mcs.stop()
end
LUA
is($out->{exit}, 0, 'out stream script exits 0') or diag($out->{err});
lua_checks($out, 2, 'out stream');
cmp_ok($out->{elapsed}, '<', 8, 'out stream: mcs.stop ended the 10 s phase');

# ---- sleep_millis / time_millis ------------------------------------------------------

my $sleep = run_script($mc, $CHECK_LUA . <<'LUA');
function config()
    local t = mcs.thread()
    mcs.add(t, { func = "sleeper", clients = 1, limit = 1, rate_limit = 0 })
    mcs.add(t, { func = "worker", clients = 1, rate_limit = 0 })
    mcs.shredder({ t }, 20)
end

worker_runs = 0

function sleeper()
    local t0 = mcs.time_millis()
    check("time_millis is an integer", math.type(t0) == "integer", tostring(t0))
    local before = worker_runs
    mcs.sleep_millis(300)
    local t1 = mcs.time_millis()
    check("sleep_millis(300) slept at least 300 ms", t1 - t0 >= 300, (t1 - t0) .. " ms")
    -- the other client on this thread kept running meanwhile
    check("others ran during the sleep", worker_runs > before,
          "worker runs " .. before .. " -> " .. worker_runs)
    mcs.sleep_millis(0)
    check("sleep_millis(0) returns", true)
    mcs.stop()
end

function worker()
    rt(mcs.mn())
    worker_runs = worker_runs + 1
end
LUA
is($sleep->{exit}, 0, 'sleep script exits 0') or diag($sleep->{err});
lua_checks($sleep, 4, 'sleep');
cmp_ok($sleep->{elapsed}, '<', 10, 'sleep: mcs.stop ended the phase');

# ---- mcs.stop ends the phase, the next one still runs -------------------------------------

$jf = json_path();
my $stop = run_script($mc, $CHECK_LUA . <<'LUA', '--json', $jf);
function config()
    local t1, t2 = mcs.thread(), mcs.thread()
    mcs.add({ t1, t2 }, { func = "busy", clients = 4, rate_limit = 0 })
    mcs.add(t1, { func = "stopper", clients = 1, rate_limit = 0 })
    mcs.shredder({ t1, t2 }, 30)
    mcs.add(t2, { func = "after", clients = 1, limit = 3, rate_limit = 0 })
    mcs.shredder({ t2 }, 30)
end

local runs = 0
function stopper()
    rt(mcs.mn())
    runs = runs + 1
    if runs == 5 then mcs.stop() end
end

function busy()
    rt(mcs.mg("io:busy", 1, "v"))
end

function after()
    rt(mcs.mn())
end
LUA
is($stop->{exit}, 0, 'mcs.stop script exits 0') or diag($stop->{err});
cmp_ok($stop->{elapsed}, '<', 5, 'mcs.stop ended a 30 s phase early');
SKIP: {
    my $j = eval { read_json($jf) } or skip('no JSON', 4);
    my %w = map { $_->{name} => $_ } @{ $j->{workloads} };
    cmp_ok($w{stopper}{ops}, '>=', 5, 'stopper ran (at least) the 5 times before it stopped');
    cmp_ok($w{busy}{ops}, '>', 0, 'busy workload ran in phase 1');
    is($w{after}{phase}, 2, 'the phase after the stopped one ran');
    is($w{after}{ops}, 3, 'and completed its 3 runs');
}

# ---- mcs.disconnect --------------------------------------------------------------

my $before = mc_stats($mc);
$jf = json_path();
my $disc = run_script($mc, $CHECK_LUA . <<'LUA', '--json', $jf);
function config()
    local t = mcs.thread()
    mcs.add(t, { func = "f", clients = 1, limit = 4, rate_limit = 0 })
    mcs.shredder({ t }, 20)
end

function f()
    rt(mcs.get("io:disc", 1))
    mcs.disconnect()
end
LUA
my $after = mc_stats($mc);
is($disc->{exit}, 0, 'disconnect script exits 0') or diag($disc->{err});
is($after->{cmd_get} - $before->{cmd_get}, 4, 'disconnect: 4 gets reached memcached');
# one more for the mc_stats connection itself; the tool may probe once
my $conns = $after->{total_connections} - $before->{total_connections} - 1;
ok($conns >= 4 && $conns <= 5, 'disconnect: a new connection for each run')
    or diag("connections: $conns");
SKIP: {
    my $j = eval { read_json($jf) } or skip('no JSON', 2);
    is($j->{workloads}[0]{connects}, 4, 'disconnect: JSON connects 4');
    is($j->{workloads}[0]{reconnects}, 3, 'disconnect: JSON reconnects 3');
}

# a graceful stop waits for memcached's next clock tick; nothing is left to save
$_->stop('KILL') for ($mc);

done_testing();
