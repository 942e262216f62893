#!/usr/bin/perl
# faults.t: what a real memcached never does, played by t/lib/MockServer.pm
# (garbage, unsolicited responses, truncated values, resets, closes mid
# request, stalls, one-byte fragments), and a real memcached killed and
# restarted mid-run.  A load tester counts these errors and carries on: the
# run ends on time with exit 0, and the JSON shows the errors and the
# reconnects.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use MCS;
use MockServer;

my $TMP = tempdir('mcs-faults-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $json_n = 0;
sub json_path { return "$TMP/run" . ++$json_n . ".json" }

my $CLIENTS = 2;
my $DURATION = 0.7;

# The built-in workload against $addr for $DURATION s -> (result, JSON totals).
sub run_against {
    my ($addr, @flags) = @_;
    my $jf = json_path();
    my $res = run_mcs({ timeout => 15 }, '--server', $addr, '--threads', 1,
        '--clients', $CLIENTS, '--duration', $DURATION, '--quiet', '--json', $jf, @flags);
    my $j = eval { read_json($jf) };
    return ($res, $j ? $j->{totals} : undef);
}

# The checks every fault case shares: on time, exit 0, JSON written.
sub ran_through {
    my ($name, $res, $t) = @_;
    ok(!$res->{timed_out} && !$res->{signal}, "$name: the run was not killed")
        or diag("signal $res->{signal}, timed out $res->{timed_out}");
    cmp_ok($res->{elapsed}, '<', $DURATION + 3, "$name: ends on time");
    is($res->{exit}, 0, "$name: exit 0") or diag("stderr: $res->{err}");
    ok($t, "$name: JSON written") or return 0;
    return 1;
}

sub errors_of {
    my ($t, $kind) = @_;
    return $t ? $t->{errors_by_kind}{$kind} // 0 : 0;
}

# ---- garbage ---------------------------------------------------------------------

for my $proto (qw(meta text)) {
    my $mock = MockServer->start(steps => [['serve', 5], ['garbage', 40], ['serve']]);
    my ($res, $t) = run_against($mock->addr, '--proto', $proto);
    my $name = "garbage ($proto)";
    if (ran_through($name, $res, $t)) {
        cmp_ok(errors_of($t, 'protocol'), '>', 0, "$name: protocol errors counted");
        cmp_ok($t->{connects}, '>', $CLIENTS, "$name: the clients reconnected");
        cmp_ok($t->{reconnects}, '>', 0, "$name: reconnects counted");
        cmp_ok($t->{ops}, '>=', 5, "$name: the good responses were counted");
        is($t->{errors}, errors_of($t, 'protocol') + errors_of($t, 'reset'),
           "$name: no other kinds of error");
    }
    cmp_ok($mock->connections, '>', $CLIENTS, "$name: the mock saw the reconnects");
}

# ---- responses nobody asked for ---------------------------------------------------------

{
    my $mock = MockServer->start(steps => [['send', "HD\r\n"], ['serve']]);
    my ($res, $t) = run_against($mock->addr);
    ran_through('a response before any request', $res, $t)
        and cmp_ok($t->{ops}, '>', 0, 'a response before any request: requests go on');
}
{
    my $mock = MockServer->start(steps => [['serve', 3], ['send', "VA 2\r\nxx\r\nMN\r\n"], ['serve']]);
    my ($res, $t) = run_against($mock->addr);
    ran_through('extra responses mid-stream', $res, $t)
        and cmp_ok($t->{ops}, '>', 0, 'extra responses mid-stream: requests go on');
}

# ---- a truncated value, then close ---------------------------------------------------------

for my $proto (qw(meta text)) {
    my $mock = MockServer->start(steps => [['serve', 3], ['truncate', 100]]);
    my ($res, $t) = run_against($mock->addr, '--proto', $proto, '--ratio', '0:1');
    my $name = "truncated value ($proto)";
    if (ran_through($name, $res, $t)) {
        cmp_ok(errors_of($t, 'reset') + errors_of($t, 'protocol'), '>', 0,
               "$name: the cut-off connection is counted");
        cmp_ok($t->{reconnects}, '>', 0, "$name: the clients reconnected");
        cmp_ok($t->{connects}, '>', $CLIENTS, "$name: connects > clients");
    }
}

# ---- resets and closes mid-run -------------------------------------------------------------

{
    my $mock = MockServer->start(steps => [['serve', 5], ['reset']]);
    my ($res, $t) = run_against($mock->addr);
    if (ran_through('reset mid-run', $res, $t)) {
        cmp_ok(errors_of($t, 'reset'), '>', 0, 'reset mid-run: reset errors counted');
        cmp_ok($t->{connects}, '>', $CLIENTS, 'reset mid-run: the clients reconnected');
        cmp_ok($t->{reconnects}, '>', 0, 'reset mid-run: reconnects counted');
        cmp_ok($t->{ops}, '>=', 5, 'reset mid-run: the answered requests were counted');
    }
}
{
    my $mock = MockServer->start(steps => [['serve', 5], ['reset']]);
    my ($res, $t) = run_against($mock->addr, '--pipeline', 8, '--value-size', 1000);
    if (ran_through('reset with a pipeline in flight', $res, $t)) {
        cmp_ok(errors_of($t, 'reset'), '>', 0, 'reset with a pipeline in flight: resets counted');
        cmp_ok($t->{reconnects}, '>', 0, 'reset with a pipeline in flight: reconnects');
    }
}
{
    # the connection closes after the first byte of a request
    my $mock = MockServer->start(steps => [['serve', 4], ['close_after', 1]]);
    my ($res, $t) = run_against($mock->addr);
    if (ran_through('close mid-request', $res, $t)) {
        cmp_ok(errors_of($t, 'reset'), '>', 0, 'close mid-request: counted as reset');
        cmp_ok($t->{reconnects}, '>', 0, 'close mid-request: reconnects');
    }
}
{
    # only the first connection of each client fails; later ones work
    my $mock = MockServer->start(conns => [([['serve', 2], ['reset']]) x $CLIENTS],
                                 then => [['serve']]);
    my ($res, $t) = run_against($mock->addr);
    if (ran_through('one reset each', $res, $t)) {
        is($t->{reconnects}, $CLIENTS, 'one reset each: one reconnect per client');
        is($t->{connects}, 2 * $CLIENTS, 'one reset each: connects = 2 x clients');
        is(errors_of($t, 'reset'), $CLIENTS, 'one reset each: one reset per client');
        cmp_ok($t->{ops}, '>', 100, 'one reset each: the run carried on at full speed');
    }
}

# ---- a server that closes every connection at once: unreachable, exit 3 ------------------------

for my $how (qw(close reset)) {
    my $mock = MockServer->start(steps => [[$how]]);
    my ($res, $t) = run_against($mock->addr, '--duration', 30);
    my $name = "every connection " . ($how eq 'close' ? 'closed' : 'reset') . " unanswered";
    ok(!$res->{timed_out}, "$name: the run ends");
    cmp_ok($res->{elapsed}, '<', 10, "$name: within 10 s of a 30 s run");
    is($res->{exit}, 3, "$name: exit 3 (server unreachable)") or diag("stderr: $res->{err}");
    like($res->{err}, qr/mcshredder: /, "$name: says why");
}

# ---- a server that stalls --------------------------------------------------------------------

{
    my $mock = MockServer->start(steps => [['stall']]);
    my ($res, $t) = run_against($mock->addr);
    ok(!$res->{timed_out} && !$res->{signal}, 'stalled server: the run was not killed');
    cmp_ok($res->{elapsed}, '<', $DURATION + 3, 'stalled server: ends on time');
    ok(defined $res->{exit} && $res->{exit} != 2 && $res->{exit} != 3,
       'stalled server: no usage or connect failure (it accepted)')
        or diag('exit ' . ($res->{exit} // 'none') . "; stderr: $res->{err}");
    ok($t, 'stalled server: JSON written');
    is($t && $t->{ops}, 0, 'stalled server: no ops completed');
}
{
    # --timeout: requests unanswered for 200 ms count as timeouts, and each
    # client reconnects and tries again, several times within the run
    my $mock = MockServer->start(steps => [['stall']]);
    my $jf = json_path();
    my $res = run_mcs({ timeout => 15 }, '--server', $mock->addr, '--threads', 1,
        '--clients', 2, '--duration', 2, '--timeout', '200ms', '--quiet', '--json', $jf);
    my $j = eval { read_json($jf) };
    my $t = $j ? $j->{totals} : {};
    is($res->{exit}, 0, 'request timeout: exit 0') or diag($res->{err});
    cmp_ok($t->{errors_by_kind}{timeout} // 0, '>=', 4,
           'request timeout: timed-out requests counted');
    cmp_ok($t->{reconnects} // 0, '>=', 2, 'request timeout: the clients reconnected');
    is($t->{ops}, 0, 'request timeout: nothing completed');

    $jf = json_path();
    $res = run_mcs({ timeout => 15 }, '--server', $mock->addr, '--threads', 1,
        '--clients', 2, '--duration', 1, '--timeout', '0', '--quiet', '--json', $jf);
    $t = eval { read_json($jf)->{totals} } // {};
    is($t->{errors_by_kind}{timeout} // -1, 0, 'request timeout 0: waits without limit');
    is($res->{exit}, 0, 'request timeout 0: the run still ends on time');
}
{
    # one connection stalls, the other is served: the stall holds up no one else
    my $mock = MockServer->start(conns => [[['stall']]], then => [['serve']]);
    my ($res, $t) = run_against($mock->addr);
    ran_through('one stalled connection', $res, $t)
        and cmp_ok($t->{ops}, '>', 100, 'one stalled connection: the other client ran');
}

# ---- responses in one-byte fragments ---------------------------------------------------------

{
    my $mock = MockServer->start(handler => sub {
        my ($c) = @_;
        while (my $req = $c->read_request) {
            my $n = 0;
            for my $byte (split //, $c->answer($req)) {
                $c->send($byte) or return;
                sleep 0.0005 if ++$n % 7 == 0;
            }
        }
    });
    my ($res, $t) = run_against($mock->addr, '--ratio', '1:1', '--value-size', 50, '--keys', 3);
    if (ran_through('one-byte fragments', $res, $t)) {
        cmp_ok($t->{ops}, '>', 10, 'one-byte fragments: responses parsed');
        is($t->{errors}, 0, 'one-byte fragments: no errors');
        cmp_ok($t->{hits}, '>', 0, 'one-byte fragments: values read back');
    }
}

# ---- scripts against a faulty server ----------------------------------------------------------

{
    my $mock = MockServer->start(steps => [['serve', 3], ['garbage', 10], ['serve']]);
    my $jf = json_path();
    my $res = run_lua($mock->addr, <<'LUA', { timeout => 15 }, '--quiet', '--json', $jf, '--arg', 'port=' . $mock->port);
function config(args)
    local t = mcs.thread()
    mcs.add(t, { func = "work", clients = 2, rate_limit = 0 })
    mcs.add_custom(t, { func = "custom" }, args)
    mcs.shredder({ t }, 0.7)
end

function work()
    mcs.write(mcs.mg("f:k", math.random(10), "v"))
    mcs.flush()
    mcs.read()
end

function custom(a)
    local c = mcs.client_new({ host = "127.0.0.1", port = a.port })
    mcs.client_connect(c)
    local results = {}
    for i = 1, 5 do
        mcs.client_write(c, mcs.mn())
        local ok = mcs.client_flush(c)
        local res, err = mcs.client_read(c)
        results[#results + 1] = res and mcs.resline(res) or ("nil:" .. tostring(err))
    end
    print("CUSTOM " .. table.concat(results, ","))
    print("CONNECTED " .. tostring(mcs.client_connected(c)))
    print("RECONNECT " .. tostring((mcs.client_connect(c))))
    mcs.client_write(c, "mn\r\n")
    mcs.client_flush(c)
    print("READLINE " .. tostring(mcs.client_readline(c)))
end
LUA
    ok(!$res->{timed_out}, 'script vs garbage: the run ends');
    is($res->{exit}, 0, 'script vs garbage: exit 0') or diag($res->{err});
    my ($custom) = $res->{out} =~ /^CUSTOM (.*)$/m;
    like($custom // '', qr/^MN,MN,MN,nil:\S.*,nil:/,
         'script vs garbage: client_read gives nil and an error after garbage, and does not die');
    like($res->{out}, qr/^CONNECTED false$/m, 'script vs garbage: the client is disconnected');
    like($res->{out}, qr/^RECONNECT true$/m, 'script vs garbage: and can connect again');
    like($res->{out}, qr/^READLINE MN$/m, 'script vs garbage: and works');
    my $j = eval { read_json($jf) };
    my %w = map { $_->{name} => $_ } @{ $j ? $j->{workloads} : [] };
    cmp_ok($w{work} ? $w{work}{errors_by_kind}{protocol} : 0, '>', 0,
           'script vs garbage: the workload counted protocol errors');
    cmp_ok($w{work} ? $w{work}{reconnects} : 0, '>', 0, 'script vs garbage: and reconnected');
    is($w{custom} ? $w{custom}{errors_by_kind}{protocol} : 0, 1,
       'script vs garbage: the custom client counted its protocol error');
}

# ---- a real memcached killed and restarted mid-run ------------------------------------------------

# memcached on a given port (start_memcached picks its own), stopped by pid.
sub memcached_on {
    my ($port) = @_;
    my @cmd = ($ENV{MCS_MEMCACHED} // 'memcached', '-U', 0, '-t', 1, '-l', '127.0.0.1',
               '-p', $port);
    push @cmd, '-u', 'nobody' if $> == 0;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        { exec @cmd; }
        POSIX::_exit(127);
    }
    my $deadline = time + 5;
    while (time < $deadline) {
        return $pid if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 1);
        last if waitpid($pid, WNOHANG) == $pid;
        sleep 0.02;
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
    return undef;
}

sub stop_pid {
    my ($pid) = @_;
    return unless $pid;
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

# mcshredder in the background: returns its pid; the result files are in $TMP.
sub spawn_mcs {
    my ($tag, @args) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', "$TMP/$tag.out" or POSIX::_exit(126);
        open STDERR, '>', "$TMP/$tag.err" or POSIX::_exit(126);
        { exec { mcs_bin() } mcs_bin(), @args; }
        POSIX::_exit(127);
    }
    return $pid;
}

# waits up to $secs for $pid; kills it after that.  -> (status or undef, seconds)
sub wait_for {
    my ($pid, $secs) = @_;
    my $t0 = time;
    while (time - $t0 < $secs) {
        return ($?, time - $t0) if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
    return (undef, time - $t0);
}

SKIP: {
    my $port = free_port();
    my $mcpid = memcached_on($port) or skip('cannot start memcached on a chosen port', 9);
    my $jf = json_path();
    my $t0 = time;
    my $pid = spawn_mcs('killed', '--server', "127.0.0.1:$port", qw(--threads 1 --clients 2),
                        qw(--duration 5 --quiet --json), $jf);
    # Backoff doubles from 10 ms while the server is away, so after this
    # 0.7 s outage a client's next try comes within about 1.3 s: the run
    # keeps going well past that, even on a loaded machine.
    sleep 0.8;
    stop_pid($mcpid);
    sleep 0.7;
    $mcpid = memcached_on($port);
    ok($mcpid, 'killed server: memcached restarted on the same port');
    my ($status, undef) = wait_for($pid, 12);
    my $took = time - $t0;
    ok(defined $status, 'killed server: the run ends');
    cmp_ok($took, '<', 5 + 3, 'killed server: on time');
    is(defined $status ? $status >> 8 : -1, 0, 'killed server: exit 0')
        or diag(do { local (@ARGV, $/) = ("$TMP/killed.err"); <> } // '');
    my $j = eval { read_json($jf) };
    my $t = $j ? $j->{totals} : {};
    cmp_ok($t->{reconnects} // 0, '>', 0, 'killed server: reconnects counted');
    cmp_ok(($t->{errors_by_kind}{reset} // 0) + ($t->{errors_by_kind}{connect} // 0), '>', 0,
           'killed server: the outage is counted as reset/connect errors');
    my $st = $mcpid ? eval { mc_stats("127.0.0.1:$port") } : undef;
    cmp_ok($st ? $st->{cmd_get} + $st->{cmd_set} : 0, '>', 0,
           'killed server: the restarted memcached got requests');
    cmp_ok($t->{ops} // 0, '>', 0, 'killed server: ops counted');
    stop_pid($mcpid);

    # killed for good: the run still ends on time
    $port = free_port();
    $mcpid = memcached_on($port) or skip('cannot start memcached on a chosen port', 1);
    $jf = json_path();
    $pid = spawn_mcs('gone', '--server', "127.0.0.1:$port", qw(--threads 1 --clients 2),
                     qw(--duration 1.5 --quiet --json), $jf);
    sleep 0.5;
    stop_pid($mcpid);
    ($status, undef) = wait_for($pid, 8);
    ok(defined $status && !($status & 127), 'server gone for good: the run ends on time, no crash')
        or diag('status ' . ($status // 'none'));
}

done_testing();
