#!/usr/bin/perl
# api_custom.t: mcs.add_custom functions and the mcs.client_* API against
# real memcached servers: connect/write/flush/read/readline, factories on a
# client, a unix socket client, a connect that fails, and copying keys from
# one memcached to another with client_write_mgres_to_ms.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use MCS;
use LuaCheck;

my $mc = start_memcached();
my $version = (mc_cmd($mc, "version\r\n") =~ /^VERSION (\S+)/)[0];

# A script with one add_custom function `custom`, run until it returns.
sub custom_script {
    my ($body) = @_;
    return $CHECK_LUA . <<'LUA' . $body;
function config(args)
    local t = mcs.thread()
    mcs.add_custom(t, { func = "custom" }, args)
    mcs.shredder({ t })
end
LUA
}

sub run_custom {
    my ($server, $body, @args) = @_;
    return run_lua($server, custom_script($body), { timeout => 20 }, '--quiet', @args);
}

# ---- a client, step by step ---------------------------------------------------------

mc_cmd($mc, "set cu:pre 5 0 3\r\nabc\r\n");
my $jf = json_path();
my $basic = run_custom($mc, <<'LUA', '--json', $jf, '--arg', "port=" . $mc->port . ",version=$version");
runs = 0
function custom(a)
    runs = runs + 1
    check_eq("custom: runs once", runs, 1)
    check("custom: gets its arg table", a and a.version ~= nil and a.port ~= nil)
    -- no default connection in a custom function
    check("custom: mcs.write has no default connection here",
          not pcall(mcs.write, "mn\r\n"))

    local c = mcs.client_new({ host = "127.0.0.1", port = a.port })
    check_eq("client_connected before connect", mcs.client_connected(c), false)
    local ok, err = mcs.client_connect(c)
    check_eq("client_connect: true", ok, true)
    check_eq("client_connected after connect", mcs.client_connected(c), true)

    mcs.client_write(c, "version\r\n")
    mcs.client_flush(c)
    check_eq("client_readline: VERSION", mcs.client_readline(c), "VERSION " .. a.version)

    mcs.client_write(c, "get cu:pre\r\n")
    mcs.client_flush(c)
    check_eq("client_readline: VALUE line", mcs.client_readline(c), "VALUE cu:pre 5 3")
    check_eq("client_readline: the data line", mcs.client_readline(c), "abc")
    check_eq("client_readline: END", mcs.client_readline(c), "END")

    local set = mcs.set("cu:k", 1, 0, 0, 30)
    mcs.client_write(c, set)
    mcs.client_flush(c)
    local res = mcs.client_read(c)
    check_eq("client_read: STORED", mcs.resline(res), "STORED")
    local get = mcs.get("cu:k", 1)
    mcs.client_write(c, get)
    mcs.client_flush(c)
    mcs.client_read(c, res)
    check_eq("client_read(c, res): VALUE", mcs.resline(res), "VALUE cu:k1 0 30")
    check("client_read: match", (mcs.match(get, res)))
    check_eq("client_read: END", mcs.resline(mcs.client_read(c, res)), "END")

    local msf = mcs.ms_factory("cu:f", "T0")
    local mgf = mcs.mg_factory("cu:f", "v")
    mcs.client_write_factory(c, msf, 1, 64)
    mcs.client_flush(c)
    check_eq("client_write_factory ms: HD", mcs.resline(mcs.client_read(c, res)), "HD")
    mcs.client_write_factory(c, mgf, 1)
    mcs.client_flush(c)
    mcs.client_read(c, res)
    check_eq("client_write_factory mg: VA 64", mcs.resline(res), "VA 64")
    check("client_write_factory mg: match", (mcs.match(mgf, res)))

    -- pipelined on a client
    for i = 1, 10 do mcs.client_write_factory(c, msf, i, i) end
    mcs.client_write(c, mcs.mn())
    mcs.client_flush(c)
    local hd = 0
    while true do
        mcs.client_read(c, res)
        if mcs.resline(res) == "MN" then break end
        if mcs.resline(res) == "HD" then hd = hd + 1 end
    end
    check_eq("pipelined on a client: 10 HD then MN", hd, 10)

    mcs.client_disconnect(c)
    check_eq("client_connected after disconnect", mcs.client_connected(c), false)
    check_eq("client_connect again: true", (mcs.client_connect(c)), true)
    mcs.client_write(c, mcs.mn())
    mcs.client_flush(c)
    check_eq("works after reconnecting", mcs.resline(mcs.client_read(c)), "MN")

    -- client_new() without a table: the server from the command line
    local d = mcs.client_new()
    check_eq("client_new(): connects to --server", (mcs.client_connect(d)), true)
    mcs.client_write(d, mcs.mg("cu:k", 1, "s"))
    mcs.client_flush(d)
    check_eq("client_new(): same server", mcs.resline(mcs.client_read(d)), "HD s30")
end
LUA
is($basic->{exit}, 0, 'custom client: exit 0') or diag($basic->{err});
lua_checks($basic, 23, 'custom client');
like(mc_cmd($mc, "mg cu:k1 s\r\n"), qr/^HD s30\r\n/, 'custom client: the set reached memcached');
like(mc_cmd($mc, "mg cu:f7 s\r\n"), qr/^HD s7\r\n/, 'custom client: the pipelined sets reached memcached');
SKIP: {
    my $j = eval { read_json($jf) } or skip('no JSON', 3);
    my $w = $j->{workloads}[0];
    is($w->{name}, 'custom', 'custom client: the workload is in the JSON');
    cmp_ok($w->{ops}, '>=', 15, 'custom client: its requests were counted');
    is($w->{connects}, 3, 'custom client: 3 connects counted');
}
cmp_ok($basic->{elapsed}, '<', 10, 'custom client: the phase ended when the function returned');

# ---- a unix socket client -------------------------------------------------------------

my $umc = start_memcached(unix => 1);
my $unix = run_custom($mc, <<'LUA', '--arg', 'sock=' . $umc->sock);
function custom(a)
    local c = mcs.client_new({ sock = a.sock })
    check_eq("unix client: connects", (mcs.client_connect(c)), true)
    mcs.client_write(c, mcs.ms("cu:unix", 1, 9, "T0"))
    mcs.client_flush(c)
    check_eq("unix client: ms HD", mcs.resline(mcs.client_read(c)), "HD")
end
LUA
is($unix->{exit}, 0, 'unix client: exit 0') or diag($unix->{err});
lua_checks($unix, 2, 'unix client');
like(mc_cmd($umc, "mg cu:unix1 s\r\n"), qr/^HD s9\r\n/, 'unix client: the set reached the unix socket memcached');

# ---- a connect that fails ---------------------------------------------------------------

my $closed = free_port();
# The phase is capped at 5 s: a client_connect that never returns ends there.
my $fail = run_lua($mc, $CHECK_LUA . <<'LUA', { timeout => 15 }, '--quiet',
function config(args)
    local t = mcs.thread()
    mcs.add_custom(t, { func = "custom" }, args)
    mcs.shredder({ t }, 5)
end

function custom(a)
    local bad = mcs.client_new({ host = "127.0.0.1", port = a.closed })
    local t0 = mcs.time_millis()
    local ok, err = mcs.client_connect(bad)
    check_eq("connect to a closed port: false", ok, false)
    check("connect to a closed port: an error message", type(err) == "string" and #err > 0,
          tostring(err))
    check("connect to a closed port: returns promptly", mcs.time_millis() - t0 < 3000)
    check_eq("not connected", mcs.client_connected(bad), false)
    local good = mcs.client_new({ host = "127.0.0.1", port = a.port })
    check_eq("another client still connects", (mcs.client_connect(good)), true)
    mcs.client_write(good, mcs.mn())
    mcs.client_flush(good)
    check_eq("and works", mcs.resline(mcs.client_read(good)), "MN")
end
LUA
    '--arg', "closed=$closed,port=" . $mc->port);
ok(!$fail->{timed_out}, 'failed connect: the run ends');
cmp_ok($fail->{elapsed}, '<', 4, 'failed connect: the function finished before the 5 s cap');
is($fail->{exit}, 0, 'failed connect: exit 0 (a custom client handles its own errors)')
    or diag($fail->{err});
lua_checks($fail, 6, 'failed connect');

# ---- copying keys between two memcached servers -----------------------------------------

my $src = $mc;
my $dst = start_memcached();
my $setup = '';
for my $i (1 .. 20) {
    my $v = "value-$i-" . ('x' x $i);
    $setup .= "set cp:$i $i 0 " . length($v) . "\r\n$v\r\n";
}
mc_cmd($src, $setup, responses => 20);
my $copy = run_custom($src, <<'LUA', '--arg', 'src=' . $src->port . ',dst=' . $dst->port);
function custom(a)
    local from = mcs.client_new({ host = "127.0.0.1", port = a.src })
    local to = mcs.client_new({ host = "127.0.0.1", port = a.dst })
    check("connect to source", (mcs.client_connect(from)))
    check("connect to destination", (mcs.client_connect(to)))
    local res = mcs.res_new()
    local copied = 0
    for i = 1, 21 do   -- cp:21 does not exist
        mcs.client_write(from, mcs.mg("cp:", i, "k", "v", "f", "t"))
        mcs.client_flush(from)
        mcs.client_read(from, res)
        if mcs.client_write_mgres_to_ms(res, to) then
            copied = copied + 1
        end
    end
    check_eq("20 hits turned into ms requests, the miss into none", copied, 20)
    mcs.client_write(to, mcs.mn())
    mcs.client_flush(to)
    -- the ms requests are quiet: only errors would answer before MN
    check_eq("destination answered only the mn", mcs.resline(mcs.client_read(to, res)), "MN")
end
LUA
is($copy->{exit}, 0, 'mgres_to_ms: exit 0') or diag($copy->{err});
lua_checks($copy, 4, 'mgres_to_ms');
my ($same, $flags_ok) = (0, 0);
for my $i (1 .. 20) {
    my $a = mc_cmd($src, "get cp:$i\r\n", until => qr/END\r\n\z/);
    my $b = mc_cmd($dst, "get cp:$i\r\n", until => qr/END\r\n\z/);
    $same++ if $a eq $b && $a =~ /^VALUE/;
    $flags_ok++ if $b =~ /^VALUE cp:$i $i /;
}
is($same, 20, 'mgres_to_ms: the 20 keys are on the second memcached with the same values');
is($flags_ok, 20, 'mgres_to_ms: and the same client flags');
is(mc_cmd($dst, "get cp:21\r\n"), "END\r\n", 'mgres_to_ms: the miss was not copied');

# a graceful stop waits for memcached's next clock tick; nothing is left to save
$_->stop('KILL') for ($mc, $umc, $dst);

done_testing();
