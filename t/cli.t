#!/usr/bin/perl
# cli.t: the command line: --help, --version, and a table of usage and
# script errors, each of which must exit 2 with one line on stderr that
# names the cause; an unreachable server exits 3.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use MCS;

my $TMP = tempdir('mcs-cli-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $mc = start_memcached();

sub script {
    my ($name, $text) = @_;
    my $path = "$TMP/$name";
    open my $fh, '>', $path or die "$path: $!";
    print $fh $text;
    close $fh;
    return $path;
}

# ---- --help, --version --------------------------------------------------------------

for my $flag (qw(--help -h)) {
    my $r = run_mcs({ timeout => 10 }, $flag);
    is($r->{exit}, 0, "$flag: exit 0");
    for my $opt (qw(--server --sock --conf --arg --threads --clients --duration --keys
                    --ratio --value-size --pipeline --rate --proto --json --interval --quiet
                    --key-dist --key-prefix --ttl --multiget --preload --validate --seed)) {
        like($r->{out}, qr/\Q$opt\E\b/, "$flag mentions $opt");
    }
    is($r->{err}, '', "$flag: nothing on stderr");
}

my $with_help = script('withhelp.lua', <<'LUA');
function help()
    print("this script takes --arg keys=N")
end
function config()
end
LUA
my $r = run_mcs({ timeout => 10 }, '--help', '--conf', $with_help);
is($r->{exit}, 0, '--help --conf: exit 0');
like($r->{out}, qr/this script takes --arg keys=N/, "--help --conf: prints the script's help()");
like($r->{out}, qr/--server/, '--help --conf: and the options');

$r = run_mcs({ timeout => 10 }, '--version');
is($r->{exit}, 0, '--version: exit 0');
like($r->{out}, qr/^mcshredder \d+\.\d+\S*\n\z/, '--version: one line "mcshredder X.Y"');

# ---- usage and script errors: exit 2, one line naming the cause ---------------------------

# The first line of stderr names the cause; the only other lines allowed are
# a "(see mcshredder --help)" hint and, for Lua errors, a stack traceback
# (docs/cli.md: "Lua runtime errors come with a stack traceback").
sub cause_lines {
    my ($err) = @_;
    my @lines;
    my $in_traceback = 0;
    for my $l (split /\n/, $err) {
        next unless $l =~ /\S/;
        next if $l =~ /^\(?see .*--help\)?$/;
        if ($l eq 'stack traceback:') {
            $in_traceback = 1;
            next;
        }
        next if $in_traceback && $l =~ /^\s/;
        $in_traceback = 0;
        push @lines, $l;
    }
    return @lines;
}

my @cases = (
    # [name, [args], qr/what the line must say/, ...]
    ['unknown flag', ['--bogus'], qr/--bogus/],
    ['--clients -1', ['--clients', '-1'], qr/--clients/, qr/-1/],
    ['--clients abc', ['--clients', 'abc'], qr/--clients/, qr/abc/],
    ['--clients without a value', ['--clients'], qr/--clients/, qr/value|argument/i],
    ['--threads 0', ['--threads', '0'], qr/--threads/],
    ['--rate abc', ['--rate', 'abc'], qr/--rate/, qr/abc/],
    ['--duration xyz', ['--duration', 'xyz'], qr/--duration/, qr/xyz/],
    ['--ratio 5', ['--ratio', '5'], qr/--ratio/],
    ['--ratio 0:0', ['--ratio', '0:0'], qr/--ratio/],
    ['--proto foo', ['--proto', 'foo'], qr/--proto/, qr/foo/],
    ['--ratio 1:2:3:4:5', ['--ratio', '1:2:3:4:5'], qr/--ratio/, qr/more/],
    ['--ratio 1:x', ['--ratio', '1:x'], qr/--ratio/, qr/'x'/],
    ['--key-dist foo', ['--key-dist', 'foo'], qr/--key-dist/, qr/'foo'/, qr/zipf/],
    ['--key-dist zipf:-1', ['--key-dist', 'zipf:-1'], qr/--key-dist/, qr/zipf:-1/],
    ['--key-dist hotspot:2,0.5', ['--key-dist', 'hotspot:2,0.5'], qr/--key-dist/, qr/hotspot/],
    ['--value-size 10-5', ['--value-size', '10-5'], qr/--value-size/, qr/10-5/],
    ['--value-size abc', ['--value-size', 'abc'], qr/--value-size/, qr/abc/],
    ['--value-size 100:0', ['--value-size', '100:0'], qr/--value-size/],
    ['--ttl -1', ['--ttl', '-1'], qr/--ttl/, qr/-1/],
    ['--multiget 0', ['--multiget', '0'], qr/--multiget/],
    ['--seed x', ['--seed', 'x'], qr/--seed/, qr/'x'/],
    ['--key-prefix with a space', ['--key-prefix', 'a b'], qr/--key-prefix/],
    ['--port 70000', ['--port', '70000'], qr/--port/, qr/70000/],
    ['--interval 0', ['--interval', '0'], qr/--interval/],
    ['a stray argument', ['stray'], qr/stray/],
    ['missing --conf file', ['--conf', "$TMP/missing.lua"], qr/missing\.lua/],
    ['syntax error', [script => 'syntax.lua', <<'LUA'], qr/syntax\.lua:3:/],
function config()
    local x = 1
    x = = 2
end
LUA
    ['error() in config', [script => 'cfgerror.lua', <<'LUA'], qr/cfgerror\.lua:3:/, qr/boom in config/],
function config()
    local t = mcs.thread()
    error("boom in config")
end
LUA
    ['unknown func name', [script => 'nofunc.lua', <<'LUA'], qr/nofunc\.lua:3:/, qr/nosuchfunc/],
function config()
    local t = mcs.thread()
    mcs.add(t, { func = "nosuchfunc", clients = 1 })
    mcs.shredder({ t }, 1)
end
LUA
    ['script without config()', [script => 'noconfig.lua', <<'LUA'], qr/noconfig\.lua/, qr/config/],
function notconfig()
end
LUA
    ['mcs.read in config', [script => 'readcfg.lua', <<'LUA'], qr/readcfg\.lua:2:/, qr/mcs\.read/],
function config()
    local res = mcs.read()
end
LUA
    ['mcs.add without func', [script => 'nofuncopt.lua', <<'LUA'], qr/nofuncopt\.lua:3:/, qr/func/],
function config()
    local t = mcs.thread()
    mcs.add(t, { clients = 1 })
end
LUA
    ['error() in a workload', [script => 'wlerror.lua', <<'LUA'], qr/wlerror\.lua:7:/, qr/boom in workload/],
function config()
    local t = mcs.thread()
    mcs.add(t, { func = "work", clients = 1, rate_limit = 0 })
    mcs.shredder({ t }, 5)
end
function work()
    error("boom in workload")
end
LUA
    ['runtime error in a workload', [script => 'wlnil.lua', <<'LUA'], qr/wlnil\.lua:8:/],
function config()
    local t = mcs.thread()
    mcs.add(t, { func = "work", clients = 1, rate_limit = 0 })
    mcs.shredder({ t }, 5)
end
function work()
    local x
    x.field = 1
end
LUA
    ['mcs.thread in a workload', [script => 'wlthread.lua', <<'LUA'], qr/wlthread\.lua:7:/, qr/mcs\.thread/],
function config()
    local t = mcs.thread()
    mcs.add(t, { func = "work", clients = 1, rate_limit = 0 })
    mcs.shredder({ t }, 5)
end
function work()
    mcs.thread()
end
LUA
);

for my $case (@cases) {
    my ($name, $args, @want) = @$case;
    my @args = @$args;
    if (@args && $args[0] eq 'script') {
        @args = ('--conf', script($args[1], $args[2]));
    }
    my $r = run_mcs({ timeout => 10 }, '--server', $mc->addr, '--quiet', '--duration', 1, @args);
    is($r->{exit}, 2, "$name: exit 2")
        or diag("exit " . ($r->{exit} // "signal $r->{signal}") . "; stderr: $r->{err}");
    ok($r->{elapsed} < 8, "$name: fails fast");
    my @lines = cause_lines($r->{err});
    is(scalar @lines, 1, "$name: one line on stderr (besides a hint or a traceback)")
        or diag("stderr:\n$r->{err}");
    my $line = $lines[0] // '';
    like((split /\n/, $r->{err})[0] // '', qr/^mcshredder: /, "$name: the first line is the message");
    for my $re (@want) {
        like($line, $re, "$name: the line names the cause ($re)");
    }
}

# ---- a script error in a workload stops the whole run ------------------------------------

my $later = script('laterphase.lua', <<'LUA');
function config()
    local t = mcs.thread()
    mcs.add(t, { func = "bad", clients = 1, rate_limit = 0 })
    mcs.shredder({ t }, 10)
    mcs.add(t, { func = "later", clients = 1, limit = 1, rate_limit = 0 })
    mcs.shredder({ t }, 10)
end
function bad()
    mcs.write(mcs.mn())
    mcs.flush()
    mcs.read()
    error("phase one fails")
end
function later()
    print("LATER PHASE RAN")
end
LUA
my $jf = "$TMP/scripterror.json";
$r = run_mcs({ timeout => 30 }, '--server', $mc->addr, '--conf', $later, '--quiet', '--json', $jf);
is($r->{exit}, 2, 'workload error: exit 2') or diag($r->{err});
cmp_ok($r->{elapsed}, '<', 5, 'workload error: stops its 10 s phase at once');
unlike($r->{out}, qr/LATER PHASE RAN/, 'workload error: later phases do not run');
my $ej = eval { read_json($jf) };
ok($ej, 'workload error: the JSON is still written');
is($ej && $ej->{workloads}[0]{ops}, 1, 'workload error: with the request done before the error');

# ---- an unreachable server: exit 3 ------------------------------------------------------

my $closed = free_port();
$jf = "$TMP/unreachable.json";
$r = run_mcs({ timeout => 15 }, '--server', "127.0.0.1:$closed", qw(--duration 30 --quiet),
             '--json', $jf);
is($r->{exit}, 3, 'closed port: exit 3') or diag($r->{err});
is($r->{out}, '', 'closed port: no summary on stdout');
ok(eval { read_json($jf) }, 'closed port: the JSON is still written');
cmp_ok($r->{elapsed}, '<', 10, 'closed port: within 10 s of a 30 s run');
like($r->{err}, qr/cannot connect to 127\.0\.0\.1:$closed: /, 'closed port: "cannot connect to HOST:PORT: ..."');
is(scalar(grep { /\S/ } split /\n/, $r->{err}), 1, 'closed port: one line on stderr')
    or diag("stderr:\n$r->{err}");

$r = run_mcs({ timeout => 15 }, '--ip', '127.0.0.1', '--port', $closed, qw(--duration 30 --quiet));
is($r->{exit}, 3, '--ip/--port to a closed port: exit 3') or diag($r->{err});
like($r->{err}, qr/cannot connect to 127\.0\.0\.1:$closed/, '--ip/--port: names the address');

my $unreach = script('unreach.lua', <<'LUA');
function config()
    local t = mcs.thread()
    mcs.add(t, { func = "work", clients = 2, rate_limit = 0 })
    mcs.shredder({ t }, 30)
end
function work()
    mcs.write(mcs.mn())
    mcs.flush()
    mcs.read()
end
LUA
$r = run_mcs({ timeout => 15 }, '--server', "127.0.0.1:$closed", '--conf', $unreach, '--quiet');
is($r->{exit}, 3, 'closed port with a script: exit 3') or diag($r->{err});
cmp_ok($r->{elapsed}, '<', 10, 'closed port with a script: within 10 s');
like($r->{err}, qr/cannot connect/, 'closed port with a script: "cannot connect"');

# A connect to a closed port of this host may pick that port as its own
# source port and connect to itself. In a network namespace whose ephemeral
# range is that one port, every connect does: still "connection refused".
SKIP: {
    my $netns = 'ip link set lo up && echo "$1 $1" > /proc/sys/net/ipv4/ip_local_port_range';
    my $ns = run_cmd({ timeout => 10 }, 'unshare', '-n', 'sh', '-c', $netns, 'sh', 40001);
    skip 'needs unshare -n (root), ip and a writable ip_local_port_range: '
         . ((split /\n/, $ns->{err})[0] // "exit $ns->{exit}"), 3
        if ($ns->{exit} // 1) != 0;
    $r = run_cmd({ timeout => 20 }, 'unshare', '-n', 'sh', '-c',
        "$netns && " . 'exec "$2" --server "127.0.0.1:$1" --clients 1 --threads 1 --duration 30 --quiet',
        'sh', 40001, mcs_bin());
    is($r->{exit}, 3, 'a connect to itself: exit 3') or diag($r->{err});
    like($r->{err}, qr/cannot connect to 127\.0\.0\.1:40001: Connection refused/,
         'a connect to itself: "Connection refused"');
    cmp_ok($r->{elapsed}, '<', 10, 'a connect to itself: within 10 s');
}

$r = run_mcs({ timeout => 15 }, '--sock', "$TMP/no.sock", qw(--duration 30 --quiet));
is($r->{exit}, 3, 'missing unix socket: exit 3') or diag($r->{err});
cmp_ok($r->{elapsed}, '<', 10, 'missing unix socket: within 10 s');
like($r->{err}, qr/cannot connect to \Q$TMP\E\/no\.sock/, 'missing unix socket: names the path');

# a graceful stop waits for memcached's next clock tick; nothing is left to save
$_->stop('KILL') for ($mc);

done_testing();
