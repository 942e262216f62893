#!/usr/bin/perl
# api_config.t: the config side of the Lua API against a real memcached:
# phases, per-thread globals, limit, reconn_every, init, rate_limit,
# rate_period, clients divided over threads, mcs.run, --arg, and scripts
# written for the original mcshredder, run unchanged.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use MCS;
use LuaCheck;

my $mc = start_memcached(threads => 2);
# memcached counts a connection in total_connections when a worker thread
# takes it over, not at accept: let start_memcached's probe be counted.
mc_stats($mc);
sleep 0.3;

# run($lua, @args) -> (result, memcached stats delta, JSON or undef)
sub run_counted {
    my ($lua, @args) = @_;
    my $opt = (@args && ref $args[0] eq 'HASH') ? shift @args : { timeout => 25 };
    my $jf = json_path();
    my $before = mc_stats($mc);
    my $res = run_lua($mc, $lua, $opt, '--quiet', '--json', $jf, @args);
    my $after = mc_stats($mc);
    my %delta = map { $_ => ($after->{$_} // 0) - ($before->{$_} // 0) }
        grep { ($after->{$_} // '') =~ /^\d+$/ } keys %$after;
    # the mc_stats connection made after the first one
    $delta{total_connections}--;
    my $j = eval { read_json($jf) };
    return ($res, \%delta, $j);
}

sub wl {
    my ($j, $name) = @_;
    return (grep { $_->{name} eq $name } @{ $j ? $j->{workloads} : [] })[0] // {};
}

# ---- --arg -------------------------------------------------------------------------

my $args = run_lua($mc, $CHECK_LUA . <<'LUA', { timeout => 10 }, '--quiet',
function config(args)
    check_eq("--arg k=v", args.foo, "bar")
    check_eq("--arg k alone is true", args.flag, true)
    check_eq("--arg k= is the empty string", args.empty, "")
    check_eq("--arg: a later pair replaces an earlier one", args.dup, "2")
    check_eq("built-in flags are in args too (--clients)", args.clients, "7")
    check_like("threads is always in args", args.threads, "^%d+$")
end
LUA
    '--arg', 'foo=bar,flag,empty=,dup=1,dup=2', '--clients', 7);
is($args->{exit}, 0, '--arg: a config without workloads exits 0') or diag($args->{err});
lua_checks($args, 6, '--arg');

# ---- phases and per-thread globals ----------------------------------------------

my ($res, $d, $j) = run_counted($CHECK_LUA . <<'LUA');
function config()
    local t1, t2 = mcs.thread(), mcs.thread()
    config_only = "config"
    mcs.add(t1, { func = "count", clients = 1, limit = 5, rate_limit = 0 })
    mcs.shredder({ t1 })
    mcs.add(t1, { func = "report1", clients = 1, limit = 1, rate_limit = 0 })
    mcs.add(t2, { func = "report2", clients = 1, limit = 1, rate_limit = 0 })
    mcs.shredder({ t1, t2 })
end

loaded = (loaded or 0) + 1   -- top-level code runs once in each VM
counter = 0

function count()
    rt(mcs.mn())
    counter = counter + 1
end

function report1()
    rt(mcs.mn())
    check_eq("phase 2, thread 1: counter kept from phase 1", counter, 5)
    check_eq("thread 1: script loaded once in its VM", loaded, 1)
    check_eq("thread 1: config's globals are not here", config_only, nil)
end

function report2()
    rt(mcs.mn())
    check_eq("phase 2, thread 2: its own globals", counter, 0)
end
LUA
is($res->{exit}, 0, 'phases: exit 0') or diag($res->{err});
lua_checks($res, 4, 'phases');
is(scalar @{ $j ? $j->{workloads} : [] }, 3, 'phases: JSON has the 3 workloads');
is(wl($j, 'count')->{phase}, 1, 'phases: count ran in phase 1');
is(wl($j, 'count')->{ops}, 5, 'phases: count did 5 ops');
is(wl($j, 'report1')->{phase}, 2, 'phases: report1 ran in phase 2');
is(wl($j, 'report2')->{phase}, 2, 'phases: report2 ran in phase 2');
is($j && $j->{totals}{ops}, 7, 'phases: totals add the phases up');

# ---- limit -------------------------------------------------------------------------

my $GET_LUA = <<'LUA';
function config(args)
    local threads = {}
    for i = 1, tonumber(args.nthreads or 1) do threads[i] = mcs.thread() end
    mcs.add(threads, { func = "get", clients = tonumber(args.nclients or 1),
                       limit = tonumber(args.limit), rate_limit = 0,
                       reconn_every = tonumber(args.reconn) })
    mcs.shredder(threads, 20)
end

function get()
    mcs.write(mcs.get("cfg:limit", 1))
    mcs.flush()
    mcs.read()
end
LUA

($res, $d, $j) = run_counted($GET_LUA, '--arg', 'limit=100');
is($res->{exit}, 0, 'limit=100: exit 0') or diag($res->{err});
is($d->{cmd_get}, 100, 'limit=100, 1 client: exactly 100 gets reached memcached');
is(wl($j, 'get')->{ops}, 100, 'limit=100: JSON ops 100');
is(wl($j, 'get')->{connects}, 1, 'limit=100: one connection');
cmp_ok($res->{elapsed}, '<', 10, 'limit=100: the phase ended when the limit was reached');

($res, $d, $j) = run_counted($GET_LUA, '--arg', 'limit=100,nthreads=2,nclients=2');
is($res->{exit}, 0, 'limit over 2 threads: exit 0') or diag($res->{err});
is($d->{cmd_get}, 100, 'limit=100, 2 clients on 2 threads: 50 + 50 gets');
is(wl($j, 'get')->{ops}, 100, 'limit over 2 threads: JSON ops 100');
is(wl($j, 'get')->{connects}, 2, 'limit over 2 threads: two connections');

($res, $d, $j) = run_counted($GET_LUA, '--arg', 'limit=10,nthreads=2,nclients=4');
is($res->{exit}, 0, 'limit=10, 4 clients, 2 threads: exit 0') or diag($res->{err});
is($d->{cmd_get}, 20, 'limit=10, 4 clients over 2 threads: 5 runs per client');

# ---- reconn_every --------------------------------------------------------------------

($res, $d, $j) = run_counted($GET_LUA, '--arg', 'limit=50,reconn=10');
is($res->{exit}, 0, 'reconn_every: exit 0') or diag($res->{err});
is($d->{cmd_get}, 50, 'reconn_every: 50 gets');
ok($d->{total_connections} >= 5 && $d->{total_connections} <= 6,
   'reconn_every=10 over 50 runs: 5 connections (the tool may probe once)')
    or diag("connections: $d->{total_connections}");
is(wl($j, 'get')->{connects}, 5, 'reconn_every: JSON connects 5');
is(wl($j, 'get')->{reconnects}, 4, 'reconn_every: JSON reconnects 4');

# ---- init=true and the arg table ------------------------------------------------------

mc_cmd($mc, "set cfg:init:1 0 0 2\r\nhi\r\n");
($res, $d, $j) = run_counted($CHECK_LUA . <<'LUA', '--arg', 'pfx=cfg:init:');
function config(args)
    check_eq("config gets --arg values", args.pfx, "cfg:init:")
    local t = mcs.thread()
    mcs.add(t, { func = "make", clients = 3, limit = 2, rate_limit = 0, init = true },
            { prefix = args.pfx, n = 1, nested = { x = 42 } })
    mcs.shredder({ t })
    mcs.add(t, { func = "plain", clients = 1, limit = 2, rate_limit = 0 }, { word = "hello" })
    mcs.shredder({ t })
    mcs.add(t, { func = "report", clients = 1, limit = 1, rate_limit = 0 })
    mcs.shredder({ t })
end

inits, closure_runs, plain_runs = 0, 0, 0

function make(a)
    inits = inits + 1
    check_eq("init: arg table passed (prefix)", a.prefix, "cfg:init:")
    check_eq("init: nested tables copied", a.nested and a.nested.x, 42)
    local req = mcs.mg_factory(a.prefix, "v")
    local res = mcs.res_new()
    return function()
        mcs.write_factory(req, a.n)
        mcs.flush()
        mcs.read(res)
        closure_runs = closure_runs + 1
    end
end

function plain(a)
    check_eq("no init: the arg table comes with every run", a and a.word, "hello")
    rt(mcs.mn())
    plain_runs = plain_runs + 1
end

function report()
    rt(mcs.mn())
    check_eq("init ran once per client", inits, 3)
    check_eq("the returned function ran limit x clients times", closure_runs, 6)
    check_eq("the plain function ran twice", plain_runs, 2)
end
LUA
is($res->{exit}, 0, 'init: exit 0') or diag($res->{err});
lua_checks($res, 1 + 3 * 2 + 2 + 3, 'init');
is(wl($j, 'make')->{hits}, 6, 'init: the closure read the key named by the arg table 6 times');
is(wl($j, 'make')->{connects}, 3, 'init: 3 clients, 3 connections');

# ---- clients divided over threads, mcs.run, add with a table of threads -------------

($res, $d, $j) = run_counted($CHECK_LUA . <<'LUA');
function config()
    local threads = { mcs.thread(), mcs.thread(), mcs.thread() }
    mcs.run(threads, { func = "client", clients = 6, limit = 6, rate_limit = 0, init = true })
    mcs.shredder(threads)
    for i, t in ipairs(threads) do
        mcs.add(t, { func = "report", clients = 1, limit = 1, rate_limit = 0 })
    end
    mcs.shredder(threads)
end

clients_here = 0

function client()
    clients_here = clients_here + 1
    return function() rt(mcs.mn()) end
end

function report()
    rt(mcs.mn())
    check_eq("2 of the 6 clients on this thread", clients_here, 2)
end
LUA
is($res->{exit}, 0, 'clients over threads: exit 0') or diag($res->{err});
lua_checks($res, 3, 'clients over threads');
is(wl($j, 'client')->{connects}, 6, 'clients over threads: 6 connections');
is(wl($j, 'client')->{ops}, 6 * 2, 'clients over threads: limit 6 / 3 threads = 2 runs each');

# ---- print from several threads at once: whole lines ------------------------------

($res) = run_counted(<<'LUA');
function config()
    local threads = { mcs.thread(), mcs.thread(), mcs.thread(), mcs.thread() }
    mcs.run(threads, { func = "chatter", clients = 8, limit = 4, rate_limit = 0 })
    mcs.shredder(threads)
end

function chatter()
    local pad = string.rep("x", 300)
    for i = 1, 200 do
        print("LINE", i, pad, "END")
    end
end
LUA
is($res->{exit}, 0, 'print over 4 threads: exit 0') or diag($res->{err});
my @lines = grep { /LINE/ } split /\n/, $res->{out}; # the summary follows them
my @whole = grep { /^LINE\t\d+\tx{300}\tEND$/ } @lines;
is(scalar(() = $res->{out} =~ /LINE/g), 8 * 200, 'print over 4 threads: 8 clients x 200 lines');
is(scalar @whole, scalar @lines, 'print over 4 threads: every line whole, none interleaved')
    or diag((grep { !/^LINE\t\d+\tx{300}\tEND$/ } @lines)[0]);

# ---- rate_limit -----------------------------------------------------------------------

my $RATE_LUA = <<'LUA';
function config(args)
    local t1, t2 = mcs.thread(), mcs.thread()
    local opts = { func = "get", clients = tonumber(args.nclients) }
    opts.rate_limit = tonumber(args.rate)
    opts.rate_period = tonumber(args.period)
    mcs.add({ t1, t2 }, opts)
    mcs.shredder({ t1, t2 }, tonumber(args.secs))
end

function get()
    mcs.write(mcs.get("cfg:rate", 1))
    mcs.flush()
    mcs.read()
end
LUA

($res, $d, $j) = run_counted($RATE_LUA, '--arg', 'nclients=4,rate=200,secs=3');
is($res->{exit}, 0, 'rate_limit=200: exit 0') or diag($res->{err});
ok(abs($d->{cmd_get} - 600) <= 60, 'rate_limit=200 over 4 clients for 3 s: 600 runs +-10%')
    or diag("gets: $d->{cmd_get}");
ok(abs(wl($j, 'get')->{ops} - 600) <= 60, 'rate_limit=200: JSON ops 600 +-10%')
    or diag("ops: " . wl($j, 'get')->{ops});

($res, $d, $j) = run_counted($RATE_LUA, '--arg', 'nclients=4,rate=10,period=500,secs=2');
is($res->{exit}, 0, 'rate_period: exit 0') or diag($res->{err});
ok($d->{cmd_get} >= 34 && $d->{cmd_get} <= 46,
   'rate_limit=10 per 500 ms for 2 s: 40 runs +-15%')
    or diag("gets: $d->{cmd_get}");

($res, $d, $j) = run_counted($RATE_LUA, '--arg', 'nclients=4,secs=2');
is($res->{exit}, 0, 'no rate_limit: exit 0') or diag($res->{err});
ok($d->{cmd_get} >= 6 && $d->{cmd_get} <= 14,
   'no rate_limit: one run per second per client (4 clients, 2 s)')
    or diag("gets: $d->{cmd_get}");

($res, $d, $j) = run_counted($RATE_LUA, '--arg', 'nclients=2,rate=0,secs=1');
is($res->{exit}, 0, 'rate_limit=0: exit 0') or diag($res->{err});
cmp_ok($d->{cmd_get}, '>', 500, 'rate_limit=0: unlimited');

# ---- the original mcshredder example -------------------------------------------------
# Verbatim but for `rate_limit = 0` on the warm workload: in the current
# original, as here, a workload without rate_limit runs once per second per
# client, so the example's 1000 warm runs need the explicit 0 (as the
# original's newer example scripts write it).

my $ORIGINAL = <<'LUA';
function config()
    local warm = mcs.thread()
    mcs.run(warm, { func = "warm", clients = 1, limit = 1000, rate_limit = 0 })
    mcs.shredder({warm}, 30)
    local t1 = mcs.thread()
    mcs.run(t1, { func = "metaget", clients = 5, rate_limit = 100 })
    mcs.shredder({t1}, 3)
end
local counter = 0
function warm()
    local req = mcs.set("doot", counter, 0, 300, 50)
    mcs.write(req)
    mcs.flush()
    local res = mcs.read()
    counter = counter + 1
end
function metaget()
    local num = math.random(20)
    local req = mcs.mg("toast/", num, "v")
    mcs.write(req)
    mcs.flush()
    local res = mcs.read()
    if mcs.resline(res) == "EN" then
        local set = mcs.ms("toast/", num, 50, "T90")
        mcs.write(set)
        mcs.flush()
        local res = mcs.read()
    end
end
LUA

# The warm phase needs 1000 runs of one client within its 30 s; the whole
# script takes about 4 s when warm runs unthrottled.  12 s keeps this file
# short when it does not.
($res, $d, $j) = run_counted($ORIGINAL, { timeout => 12 });
ok(!$res->{timed_out}, 'original example: finished in time (warm phase: limit = 1000, rate_limit = 0)')
    or diag('killed after 12 s; warm did ' . (wl($j, 'warm')->{ops} // 0) . ' of its 1000 runs');
SKIP: {
    skip('the original example did not finish', 11) if $res->{timed_out};
    is($res->{exit}, 0, 'original example: exit 0') or diag($res->{err});
    is($res->{err}, '', 'original example: nothing on stderr with --quiet');
    my $keys = join ' ', map { "doot$_" } 0 .. 999;
    my $got = mc_cmd($mc, "get $keys doot1000\r\n", until => qr/END\r\n\z/, timeout => 10);
    my @values = $got =~ /^VALUE doot\d+ 0 50\r\n/mg;
    is(scalar @values, 1000, 'original example: the 1000 doot keys exist');
    unlike($got, qr/^VALUE doot1000 /m, 'original example: and no more');
    ok($d->{cmd_set} >= 1000 && $d->{cmd_set} <= 1020,
       'original example: 1000 warm sets plus a few toast sets') or diag("sets: $d->{cmd_set}");
    is(wl($j, 'warm')->{phase}, 1, 'original example: warm is phase 1');
    is(wl($j, 'warm')->{ops}, 1000, 'original example: warm did 1000 sets');
    is(wl($j, 'metaget')->{phase}, 2, 'original example: metaget is phase 2');
    my $mg = wl($j, 'metaget');
    ok(abs(($mg->{commands}{mg}{ops} // 0) - 300) <= 45,
       'original example: metaget ran 100/s for 3 s')
        or diag("mg ops: " . ($mg->{commands}{mg}{ops} // 0));
    my $toast = mc_cmd($mc, join('', map { "mg toast/$_ s\r\n" } 1 .. 20) . "mn\r\n",
                       until => qr/MN\r\n\z/);
    my @toast = $toast =~ /^HD s50\r\n/mg;
    cmp_ok(scalar @toast, '>=', 10, 'original example: metaget filled in toast/ keys');
}

# ---- the original "init factory" style ----------------------------------------------------

($res, $d, $j) = run_counted(<<'LUA');
local total_keys = 200
local prefix = "cfgfac:"
local vsize = 100

function config()
    local warm = mcs.thread()
    mcs.run(warm, { func = "warm", clients = 1, limit = total_keys, rate_limit = 0 })
    mcs.shredder({warm}, 30)

    local threads = {}
    for x = 1, 2 do
        table.insert(threads, mcs.thread())
    end
    mcs.add(threads, { func = "basic", clients = 50, rate_limit = 0, init = true },
            { total = total_keys, prefix = prefix, vsize = vsize })
    mcs.shredder(threads, 1)
end

local counter = 1
function warm()
    local req = mcs.set(prefix, counter, 0, 9999, vsize)
    mcs.write(req)
    mcs.flush()
    local res = mcs.res_new()
    mcs.read(res)
    counter = counter + 1
end

function basic(a)
    local total = a.total
    local req = mcs.mg_factory(a.prefix, "v")
    local res = mcs.res_new()

    return function()
        local num = math.random(total)
        mcs.write_factory(req, num)
        mcs.flush()
        mcs.read(res)
        if mcs.resline(res) ~= "VA " .. a.vsize or not mcs.match(req, res) then
            print("CHECK not ok init factory: bad response " .. mcs.resline(res))
        end
    end
end
LUA
is($res->{exit}, 0, 'init factory style: exit 0') or diag($res->{err});
unlike($res->{out}, qr/^CHECK not ok/m, 'init factory style: every value matched');
my $basic = wl($j, 'basic');
is($basic->{connects}, 50, 'init factory style: 50 clients (25 per thread)');
cmp_ok($basic->{hits}, '>', 100, 'init factory style: mg hits');
is($basic->{misses}, 0, 'init factory style: no misses after the warm phase');
is($basic->{errors}, 0, 'init factory style: no errors');
is(wl($j, 'warm')->{ops}, 200, 'init factory style: warm set 200 keys');

# a graceful stop waits for memcached's next clock tick; nothing is left to save
$_->stop('KILL') for ($mc);

done_testing();
