#!/usr/bin/perl
# api_requests.t: every request builder of the Lua API (classic, meta,
# factories) against a real memcached: the response the script reads, and
# the effect on the server, checked from here with raw requests.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use MCS;
use LuaCheck;

sub run_once {
    my ($mc, $body, @args) = @_;
    return run_lua($mc, once_script($body), { timeout => 25 }, '--quiet', @args);
}

# The value of $key as memcached has it: [flags, data] or undef.
sub mc_get {
    my ($mc, $key) = @_;
    my $out = mc_cmd($mc, "get $key\r\n", until => qr/END\r\n\z/);
    return undef unless $out =~ /^VALUE \S+ (\d+) (\d+)\r\n/;
    my ($flags, $len) = ($1, $2);
    return [$flags, substr($out, length($&), $len)];
}

my $mc = start_memcached(args => ['-I', '2m', '-m', '128']);
my $version = (mc_cmd($mc, "version\r\n") =~ /^VERSION (\S+)/)[0];
ok($version, "memcached $version is up");

# ---- classic commands ----------------------------------------------------------

mc_cmd($mc, "set rq:ap 0 0 5\r\nhello\r\n");
mc_cmd($mc, "set rq:pp 0 0 5\r\nworld\r\n");
mc_cmd($mc, "set rq:n 0 0 2\r\n10\r\n");
mc_cmd($mc, "set rq:d1 0 0 3\r\nabc\r\n");
mc_cmd($mc, "set rq:g1 3 0 4\r\nabcd\r\n");

my $classic = run_once($mc, <<'LUA', '--arg', "pid=" . $mc->pid . ",version=$version");
function f(a)
    -- set / get / match
    local set = mcs.set("rq:s", 1, 42, 0, 10)
    local res = rt(set)
    check_eq("set: STORED", mcs.resline(res), "STORED")
    local get = mcs.get("rq:s", 1)
    res = rt(get)
    check_eq("get: VALUE line", mcs.resline(res), "VALUE rq:s1 42 10")
    check_eq("get: res_type", mcs.res_type(res), "VALUE")
    check_eq("get: res_ntokens", mcs.res_ntokens(res), 3)
    check_eq("get: res_token 2 is the key", mcs.res_token(res, 2), "rq:s1")
    check_eq("get: res_token 3 is the flags", mcs.res_token(res, 3), "42")
    check_eq("get: value length", #(mcs.res_value(res) or ""), 10)
    check("get: match with the get request", (mcs.match(get, res)))
    check("get: match with the set request", (mcs.match(set, res)))
    res = mcs.read(res)
    check_eq("get: END after the value", mcs.resline(res), "END")
    local lines = rt_lines(mcs.get("rq:missing", 1))
    check_eq("get miss: only END", table.concat(lines, "|"), "END")
    lines = rt_lines(mcs.get("rq:s1", -1))
    check_eq("num -1: key is the prefix", lines[1], "VALUE rq:s1 42 10")

    -- gets / cas
    res = rt(mcs.gets("rq:s", 1))
    check_eq("gets: 4 tokens after VALUE", mcs.res_ntokens(res), 4)
    local cas = mcs.res_token(res, 5)
    check_like("gets: cas token is a number", cas, "^%d+$")
    check_eq("gets: END", mcs.resline(mcs.read()), "END")
    res = rt(mcs.cas("rq:s", 1, 7, 0, 12, tonumber(cas)))
    check_eq("cas with the gets value: STORED", mcs.resline(res), "STORED")
    res = rt(mcs.cas("rq:s", 1, 7, 0, 12, tonumber(cas)))
    check_eq("cas with a stale value: EXISTS", mcs.resline(res), "EXISTS")
    res = rt(mcs.cas("rq:nocas", 1, 0, 0, 5, 1))
    check_eq("cas on a missing key: NOT_FOUND", mcs.resline(res), "NOT_FOUND")

    -- add / replace / append / prepend
    check_eq("add_req existing: NOT_STORED",
             mcs.resline(rt(mcs.add_req("rq:s", 1, 0, 0, 3))), "NOT_STORED")
    check_eq("add_req new: STORED",
             mcs.resline(rt(mcs.add_req("rq:add", 1, 5, 0, 6))), "STORED")
    check_eq("replace missing: NOT_STORED",
             mcs.resline(rt(mcs.replace("rq:norep", 1, 0, 0, 3))), "NOT_STORED")
    check_eq("replace existing: STORED",
             mcs.resline(rt(mcs.replace("rq:add", 1, 9, 0, 8))), "STORED")
    check_eq("append: STORED", mcs.resline(rt(mcs.append("rq:ap", -1, 0, 0, 5))), "STORED")
    check_eq("prepend: STORED", mcs.resline(rt(mcs.prepend("rq:pp", -1, 0, 0, 3))), "STORED")

    -- incr / decr
    res = rt(mcs.incr("rq:n", -1, 5))
    check_eq("incr 10 by 5", mcs.resline(res), "15")
    res = rt(mcs.decr("rq:n", -1, 3))
    check_eq("decr 15 by 3", mcs.resline(res), "12")
    res = rt(mcs.incr("rq:n", 7, 1))
    check_eq("incr missing: NOT_FOUND", mcs.resline(res), "NOT_FOUND")

    -- touch / gat / gats
    check_eq("touch: TOUCHED", mcs.resline(rt(mcs.touch("rq:s", 1, 1000))), "TOUCHED")
    check_eq("touch missing: NOT_FOUND", mcs.resline(rt(mcs.touch("rq:none", 1, 10))), "NOT_FOUND")
    lines = rt_lines(mcs.gat("rq:g", 1, 500))
    check_eq("gat: VALUE then END", table.concat(lines, "|"), "VALUE rq:g1 3 4|END")
    res = rt(mcs.gats("rq:g", 1, 600))
    check_eq("gats: VALUE with cas", mcs.res_ntokens(res), 4)
    check_eq("gats: value", mcs.res_value(res), "abcd")
    check_eq("gats: END", mcs.resline(mcs.read()), "END")

    -- delete
    check_eq("delete: DELETED", mcs.resline(rt(mcs.delete("rq:d", 1))), "DELETED")
    check_eq("delete again: NOT_FOUND", mcs.resline(rt(mcs.delete("rq:d", 1))), "NOT_FOUND")

    -- noreply: no response at all; the mn after it answers first
    mcs.write(mcs.set("rq:nr", 1, 0, 0, 7, true))
    check_eq("set noreply: next response is mn's", mcs.resline(rt(mcs.mn())), "MN")

    -- stats, with res_statname / res_stat
    local stats, first = {}, nil
    mcs.write(mcs.stats())
    mcs.flush()
    res = mcs.res_new()
    while true do
        mcs.read(res)
        if mcs.resline(res) == "END" then break end
        first = first or mcs.res_type(res)
        stats[mcs.res_statname(res)] = mcs.res_stat(res)
    end
    check_eq("stats: STAT lines", first, "STAT")
    check_eq("stats: pid", stats.pid, a.pid)
    check_eq("stats: version", stats.version, a.version)
    check_like("stats: cmd_get", stats.cmd_get, "^%d+$")
    local settings = {}
    mcs.write(mcs.stats("settings"))
    mcs.flush()
    while true do
        mcs.read(res)
        if mcs.resline(res) == "END" then break end
        settings[mcs.res_statname(res)] = mcs.res_stat(res)
    end
    check_eq("stats settings: item_size_max", settings.item_size_max, "2097152")

    -- version / verbosity
    res = rt(mcs.version())
    check_eq("version", mcs.resline(res), "VERSION " .. a.version)
    check_eq("version: res_token 2", mcs.res_token(res, 2), a.version)
    check_eq("verbosity: OK", mcs.resline(rt(mcs.verbosity(1))), "OK")
    check_eq("verbosity 0: OK", mcs.resline(rt(mcs.verbosity(0))), "OK")
end
LUA
is($classic->{exit}, 0, 'classic script exits 0') or diag($classic->{err});
lua_checks($classic, 45, 'classic');

# The server's side of it.
my $s1 = mc_get($mc, 'rq:s1') // [-1, ''];
is($s1->[0], 7, 'cas stored flags 7');
is(length $s1->[1], 12, 'cas stored 12 bytes');
my $add1 = mc_get($mc, 'rq:add1') // [-1, ''];
is($add1->[0], 9, 'replace stored flags 9');
is(length $add1->[1], 8, 'replace stored 8 bytes');
my $ap = mc_get($mc, 'rq:ap');
like($ap->[1], qr/\Ahello/, 'append kept the old value in front');
is(length $ap->[1], 10, 'append added 5 bytes');
my $pp = mc_get($mc, 'rq:pp');
like($pp->[1], qr/world\z/, 'prepend kept the old value at the end');
is(length $pp->[1], 8, 'prepend added 3 bytes');
is(mc_get($mc, 'rq:n')->[1], '12', 'incr/decr left 12');
is(mc_get($mc, 'rq:d1'), undef, 'delete removed the key');
is(length((mc_get($mc, 'rq:nr1') // [0, ''])->[1]), 7, 'set noreply stored 7 bytes');
like(mc_cmd($mc, "mg rq:s1 t\r\n"), qr/^HD t(99\d|1000)\r\n/, 'touch set the TTL to 1000');
like(mc_cmd($mc, "mg rq:g1 t\r\n"), qr/^HD t(59\d|600)\r\n/, 'gats set the TTL to 600');
is(mc_stats($mc, 'settings')->{verbosity}, 0, 'verbosity is back to 0');

# ---- flush_all -----------------------------------------------------------------

my $flush = run_once($mc, <<'LUA');
function f()
    check_eq("flush_all: OK", mcs.resline(rt(mcs.flush_all())), "OK")
    check_eq("get after flush_all: miss", table.concat(rt_lines(mcs.get("rq:s", 1)), "|"), "END")
    check_eq("set after flush", mcs.resline(rt(mcs.set("rq:f", 1, 0, 0, 5))), "STORED")
    check_eq("flush_all 0: OK", mcs.resline(rt(mcs.flush_all(0))), "OK")
end
LUA
is($flush->{exit}, 0, 'flush_all script exits 0') or diag($flush->{err});
lua_checks($flush, 4, 'flush_all');
is(mc_get($mc, 'rq:ap'), undef, 'flush_all emptied the cache');
is(mc_get($mc, 'rq:f1'), undef, 'flush_all 0 emptied it again');

# ---- meta commands -------------------------------------------------------------

my $meta = run_once($mc, <<'LUA');
function f()
    local ms = mcs.ms("rq:m", 1, 20, "T0", "F7")
    local res = rt(ms)
    check_eq("ms: HD", mcs.resline(res), "HD")
    check_eq("ms: res_type", mcs.res_type(res), "HD")
    check_eq("ms old form (vlen last): HD", mcs.resline(rt(mcs.ms("rq:mo", 1, "T0", 12))), "HD")

    local mg = mcs.mg("rq:m", 1, "v", "k", "f", "t", "s", "c")
    res = rt(mg)
    check_eq("mg: res_type VA", mcs.res_type(res), "VA")
    check_eq("mg: VA size token", mcs.res_token(res, 2), "20")
    check_eq("mg: res_ntokens", mcs.res_ntokens(res), 6)
    check("mg: res_hasflag k", mcs.res_hasflag(res, "k"))
    check("mg: res_hasflag c", mcs.res_hasflag(res, "c"))
    check("mg: no O flag", not mcs.res_hasflag(res, "O"))
    local ok, key = mcs.res_flagtoken(res, "k")
    check_eq("mg: flagtoken k", tostring(ok) .. " " .. tostring(key), "true rq:m1")
    ok, key = mcs.res_flagtoken(res, "f")
    check_eq("mg: flagtoken f", key, "7")
    ok, key = mcs.res_flagtoken(res, "t")
    check_eq("mg: flagtoken t (no expiry)", key, "-1")
    ok, key = mcs.res_flagtoken(res, "s")
    check_eq("mg: flagtoken s", key, "20")
    check_eq("mg: flagtoken of an absent flag", mcs.res_flagtoken(res, "O"), false)
    check_eq("mg: value length", #(mcs.res_value(res) or ""), 20)
    check("mg: match against the ms", (mcs.match(ms, res)))
    check("mg: match against the mg", (mcs.match(mg, res)))
    check_eq("mg: res_len counts line and value", mcs.res_len(res), #mcs.resline(res) + 2 + 20 + 2)
    res = rt(mcs.mg("rq:m", 1, "O123", "v"))
    local _, opaque = mcs.res_flagtoken(res, "O")
    check_eq("mg: opaque echoed", opaque, "123")
    res = rt(mcs.mg("rq:mo", 1, "s"))
    check_eq("mg without v: HD with size", mcs.resline(res), "HD s12")

    res = rt(mcs.mg("rq:none", 1, "v"))
    check_eq("mg miss: EN", mcs.resline(res), "EN")
    check_eq("mg miss: res_type", mcs.res_type(res), "EN")

    -- quiet mode: a miss says nothing, a hit answers, mn ends the batch
    mcs.write(mcs.mg("rq:none", 2, "q", "v"))
    mcs.write(mcs.mg("rq:m", 1, "q", "v", "k"))
    mcs.write(mcs.mg("rq:none", 3, "q", "v"))
    mcs.write(mcs.ms("rq:mq", 1, 5, "q"))
    mcs.write(mcs.mn())
    mcs.flush()
    res = mcs.read()
    check_eq("quiet batch: the hit answers", mcs.resline(res), "VA 20 krq:m1")
    res = mcs.read(res)
    check_eq("quiet batch: then MN", mcs.resline(res), "MN")
    check_eq("mn: res_type", mcs.res_type(res), "MN")

    -- md
    check_eq("md: HD", mcs.resline(rt(mcs.md("rq:mo", 1))), "HD")
    check_eq("md again: NF", mcs.resline(rt(mcs.md("rq:mo", 1))), "NF")

    -- ma
    res = rt(mcs.ma("rq:ctr", -1, "N0", "J13", "v"))
    check_eq("ma autovivify: VA 2", mcs.resline(res), "VA 2")
    check_eq("ma autovivify: initial value", mcs.res_value(res), "13")
    res = rt(mcs.ma("rq:ctr", -1, "v", "D5"))
    check_eq("ma incr by 5", mcs.res_value(res), "18")
    res = rt(mcs.ma("rq:ctr", -1, "v", "MD", "D3"))
    check_eq("ma decr by 3", mcs.res_value(res), "15")
    check_eq("ma without v: HD", mcs.resline(rt(mcs.ma("rq:ctr", -1))), "HD")
    check_eq("ma missing: NF", mcs.resline(rt(mcs.ma("rq:noctr", -1))), "NF")

    -- ms modes
    check_eq("ms add mode on an existing key: NS",
             mcs.resline(rt(mcs.ms("rq:m", 1, 5, "ME"))), "NS")

    -- me
    res = rt(mcs.me("rq:m", 1))
    check_like("me: ME line for the key", mcs.resline(res), "^ME rq:m1 ")
    check_eq("me: res_type", mcs.res_type(res), "ME")
    check_eq("mn: MN", mcs.resline(rt(mcs.mn())), "MN")
end
LUA
is($meta->{exit}, 0, 'meta script exits 0') or diag($meta->{err});
lua_checks($meta, 37, 'meta');
like(mc_cmd($mc, "mg rq:m1 f s v\r\n"), qr/^VA 20 f7 s20\r\n/, 'ms stored 20 bytes with flags 7');
like(mc_cmd($mc, "mg rq:mq1 s\r\n"), qr/^HD s5\r\n/, 'quiet ms stored its key');
is(mc_get($mc, 'rq:mo1'), undef, 'md removed the key');
is(mc_get($mc, 'rq:ctr')->[1], '16', 'ma counter is 16');

# ---- factories -----------------------------------------------------------------

mc_cmd($mc, "set rq:fd2 0 0 1\r\nx\r\n");
my $fac = run_once($mc, <<'LUA');
function f()
    local ms = mcs.ms_factory("rq:f", "T0", "F5")
    mcs.write_factory(ms, 1, 100)
    mcs.flush()
    local res = mcs.read()
    check_eq("ms_factory: HD", mcs.resline(res), "HD")
    mcs.write_factory(ms, 2, 300)
    mcs.flush()
    check_eq("ms_factory vlen 300: HD", mcs.resline(mcs.read(res)), "HD")

    local mg = mcs.mg_factory("rq:f", "v", "f")
    mcs.write_factory(mg, 1)
    mcs.flush()
    mcs.read(res)
    check_eq("mg_factory: VA 100", mcs.resline(res), "VA 100 f5")
    check("mg_factory: match after ms_factory's set", (mcs.match(mg, res)))
    mcs.write_factory(mg, 2)
    mcs.flush()
    mcs.read(res)
    check_eq("mg_factory: VA 300", mcs.resline(res), "VA 300 f5")
    check("mg_factory: match on the second key", (mcs.match(mg, res)))
    mcs.write_factory(mg, 9)
    mcs.flush()
    check_eq("mg_factory miss: EN", mcs.resline(mcs.read(res)), "EN")

    local set = mcs.set_factory("rq:sf", 6, 0)
    mcs.write_factory(set, 1, 50)
    mcs.flush()
    check_eq("set_factory: STORED", mcs.resline(mcs.read(res)), "STORED")
    local get = mcs.get_factory("rq:sf")
    mcs.write_factory(get, 1)
    mcs.flush()
    mcs.read(res)
    check_eq("get_factory: VALUE", mcs.resline(res), "VALUE rq:sf1 6 50")
    check("get_factory: match", (mcs.match(get, res)))
    check_eq("get_factory: END", mcs.resline(mcs.read(res)), "END")

    local md = mcs.md_factory("rq:fd")
    mcs.write_factory(md, 2)
    mcs.flush()
    check_eq("md_factory: HD", mcs.resline(mcs.read(res)), "HD")
    local ma = mcs.ma_factory("rq:fa", "N0", "J5", "v")
    mcs.write_factory(ma, 1)
    mcs.flush()
    mcs.read(res)
    check_eq("ma_factory: autovivified to 5", mcs.res_value(res), "5")

    local mgq = mcs.mg_factory("rq:f", "q", "v")
    mcs.write_factory(mgq, 7)
    mcs.write(mcs.mn())
    mcs.flush()
    check_eq("quiet mg_factory miss: only MN", mcs.resline(mcs.read(res)), "MN")

    -- a factory serves many numbers in a pipeline
    for i = 10, 19 do
        mcs.write_factory(ms, i, i)
    end
    mcs.flush()
    local hd = 0
    for i = 10, 19 do
        if mcs.resline(mcs.read(res)) == "HD" then hd = hd + 1 end
    end
    check_eq("ms_factory pipelined: 10 HD", hd, 10)
end
LUA
is($fac->{exit}, 0, 'factory script exits 0') or diag($fac->{err});
lua_checks($fac, 15, 'factories');
like(mc_cmd($mc, "mg rq:f1 s f\r\n"), qr/^HD s100 f5\r\n/, 'ms_factory stored 100 bytes, flags 5');
like(mc_cmd($mc, "mg rq:f2 s\r\n"), qr/^HD s300\r\n/, 'ms_factory stored 300 bytes');
like(mc_cmd($mc, "mg rq:f15 s\r\n"), qr/^HD s15\r\n/, 'pipelined ms_factory stored key 15');
is(mc_get($mc, 'rq:fd2'), undef, 'md_factory deleted the key');
is(mc_get($mc, 'rq:fa1')->[1], '5', 'ma_factory counter is 5');

# ---- mcs.match false after the value changed behind the tool's back --------------

# Values are generated from the key, so a later run can check what an
# earlier one wrote.  Overwrite one key (same length, other bytes) here.
my $orig = mc_get($mc, 'rq:f1')->[1];
my $other = join '', map { chr(ord($_) ^ 1) } split //, $orig;
like(mc_cmd($mc, "set rq:f1 5 0 100\r\n$other\r\n"), qr/^STORED/, 'overwrote rq:f1 behind the tool');
my $match = run_once($mc, <<'LUA');
function f()
    local mg = mcs.mg_factory("rq:f", "v")
    local res = mcs.res_new()
    mcs.write_factory(mg, 1)
    mcs.flush()
    mcs.read(res)
    check_eq("changed key: still VA 100", mcs.resline(res), "VA 100")
    check_eq("changed key: match is false", (mcs.match(mg, res)), false)
    mcs.write_factory(mg, 2)
    mcs.flush()
    mcs.read(res)
    check_eq("untouched key (written by an earlier run): match is true", (mcs.match(mg, res)), true)
    local get = mcs.get("rq:f", 1)
    res = rt(get)
    check_eq("changed key via get: match is false", (mcs.match(get, res)), false)
    local ok, elapsed = mcs.match(get, res)
    check("match gives an elapsed time", math.type(elapsed) == "integer" and elapsed >= 0,
          "elapsed " .. tostring(elapsed))
    mcs.read(res)
end
LUA
is($match->{exit}, 0, 'match script exits 0') or diag($match->{err});
lua_checks($match, 5, 'match');

# ---- 1 MB values ---------------------------------------------------------------

my $big = run_once($mc, <<'LUA');
function f()
    local MB = 1024 * 1024
    local set = mcs.set("rq:big", 1, 0, 0, MB)
    check_eq("1 MB set: STORED", mcs.resline(rt(set)), "STORED")
    local get = mcs.get("rq:big", 1)
    local res = rt(get)
    check_eq("1 MB get: VALUE", mcs.resline(res), "VALUE rq:big1 0 " .. MB)
    check_eq("1 MB get: value length", #(mcs.res_value(res) or ""), MB)
    check("1 MB get: match", (mcs.match(get, res)))
    check_eq("1 MB get: END", mcs.resline(mcs.read(res)), "END")
    local ms = mcs.ms("rq:big", 2, MB, "T0")
    check_eq("1 MB ms: HD", mcs.resline(rt(ms)), "HD")
    local mg = mcs.mg("rq:big", 2, "v", "s")
    res = rt(mg)
    check_eq("1 MB mg: VA", mcs.resline(res), "VA " .. MB .. " s" .. MB)
    check("1 MB mg: match", (mcs.match(mg, res)))
    -- a factory with a 1 MB value, then a pipeline of two 1 MB reads
    local msf = mcs.ms_factory("rq:big", "T0")
    mcs.write_factory(msf, 3, MB)
    mcs.flush()
    check_eq("1 MB ms_factory: HD", mcs.resline(mcs.read(res)), "HD")
    local g1, g3 = mcs.mg("rq:big", 1, "v"), mcs.mg("rq:big", 3, "v")
    mcs.write(g1)
    mcs.write(g3)
    mcs.flush()
    local r1 = mcs.read()
    check("1 MB pipelined mg 1: match", (mcs.match(g1, r1)))
    local r3 = mcs.read()
    check("1 MB pipelined mg 3: match", (mcs.match(g3, r3)))
end
LUA
is($big->{exit}, 0, '1 MB script exits 0') or diag($big->{err});
lua_checks($big, 11, '1 MB values');
like(mc_cmd($mc, "mg rq:big1 s\r\n"), qr/^HD s1048576\r\n/, 'memcached holds the 1 MB set');
like(mc_cmd($mc, "mg rq:big3 s\r\n"), qr/^HD s1048576\r\n/, 'memcached holds the 1 MB ms_factory set');

# ---- every kind is counted -----------------------------------------------------

mc_cmd($mc, "set rq:k1 0 0 2\r\n10\r\n");
my $jf = json_path();
my $kinds = run_once($mc, <<'LUA', '--json', $jf);
function f()
    rt_lines(mcs.get("rq:k", 1))          -- get hit
    rt_lines(mcs.gets("rq:k", 2))         -- get miss
    rt(mcs.set("rq:k", 3, 0, 0, 5))       -- set
    rt(mcs.append("rq:k", 3, 0, 0, 5))    -- set
    rt(mcs.delete("rq:k", 3))             -- delete
    rt(mcs.touch("rq:k", 1, 100))         -- touch
    rt(mcs.incr("rq:k", 1, 1))            -- incr
    rt(mcs.decr("rq:k", 1, 1))            -- incr
    rt(mcs.mg("rq:k", 1, "v"))            -- mg hit
    rt(mcs.mg("rq:k", 9, "v"))            -- mg miss
    rt(mcs.ms("rq:k", 4, 5))              -- ms
    rt(mcs.md("rq:k", 4))                 -- md
    rt(mcs.ma("rq:k", 1))                 -- ma
    rt(mcs.mn())                          -- mn
    rt(mcs.version())                     -- other
    rt(mcs.verbosity(0))                  -- other
    mcs.write(mcs.set("rq:k", 5, 0, 0, 5, true))   -- set, noreply: done when written
    mcs.write(mcs.mg("rq:k", 8, "q", "v"))         -- mg, quiet miss: done at the mn
    rt(mcs.mn())                                   -- mn
    check("kinds ran", true)
end
LUA
is($kinds->{exit}, 0, 'kinds script exits 0') or diag($kinds->{err});
lua_checks($kinds, 1, 'kinds');
SKIP: {
    my $j = eval { read_json($jf) };
    ok($j, 'kinds: JSON written') or skip('no JSON', 6);
    my $w = $j->{workloads}[0];
    my %ops = map { $_ => $w->{commands}{$_}{ops} } keys %{ $w->{commands} };
    is_deeply(\%ops, { get => 2, set => 3, delete => 1, touch => 1, incr => 2,
                       mg => 3, ms => 1, md => 1, ma => 1, mn => 2, other => 2 },
              'kinds: every request counted under its kind (noreply and quiet too)');
    is($w->{ops}, 19, 'kinds: 19 ops in all');
    is($w->{hits}, 2, 'kinds: hits from get and mg');
    is($w->{misses}, 3, 'kinds: misses from gets, mg and the quiet mg');
    is($w->{errors}, 0, 'kinds: no errors');
    is($w->{connects}, 1, 'kinds: one connection');
}

# a graceful stop waits for memcached's next clock tick; nothing is left to save
$_->stop('KILL') for ($mc);

done_testing();
