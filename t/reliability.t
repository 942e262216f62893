#!/usr/bin/perl
# reliability.t: mcshredder under conditions a long or large run meets:
# 10,000 connections from one thread, too few file descriptors, signals at
# each stage of a run, memory errors and leaks (valgrind), memory that stays
# flat over a steady run, and a server outage in the time series.
# Parts the environment cannot do (low fd hard limit, no valgrind, valgrind
# without io_uring, valgrind on the ASan build) are skipped with the reason.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use JSON::PP ();
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use MCS;
use MockServer;

my $TMP = tempdir('mcs-reliability-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $LUA = repo_root() . '/t/lua';
my $json_n = 0;
sub json_path { return "$TMP/run" . ++$json_n . ".json" }

sub slurp {
    my ($path) = @_;
    open my $fh, '<:raw', $path or return '';
    local $/;
    my $s = <$fh>;
    return $s // '';
}

# ---- mcshredder in the background ------------------------------------------------

# spawn(@args) -> {pid, out, err, start}: mcshredder running in the background,
# stdout and stderr going to files.
sub spawn {
    my (@args) = @_;
    my $dir = tempdir('mcs-bg-XXXXXX', DIR => $TMP);
    my %p = (out => "$dir/stdout", err => "$dir/stderr", start => time,
             cmd => join(' ', mcs_bin(), @args));
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null' or POSIX::_exit(126);
        open STDOUT, '>', $p{out} or POSIX::_exit(126);
        open STDERR, '>', $p{err} or POSIX::_exit(126);
        { exec { mcs_bin() } mcs_bin(), @args }
        POSIX::_exit(127);
    }
    $p{pid} = $pid;
    return \%p;
}

# finish($p, $timeout) -> the same hash as run_mcs: waits up to $timeout s,
# then SIGKILL (and timed_out = 1).
sub finish {
    my ($p, $timeout) = @_;
    my $deadline = time + $timeout;
    my ($status, $timed_out) = (undef, 0);
    while (1) {
        my $r = waitpid($p->{pid}, WNOHANG);
        if ($r == $p->{pid}) { $status = $?; last }
        if ($r < 0) { $status = -1; last }
        if (time > $deadline) {
            $timed_out = 1;
            kill 'KILL', $p->{pid};
            waitpid($p->{pid}, 0);
            $status = $?;
            last;
        }
        sleep 0.02;
    }
    return {
        out => slurp($p->{out}), err => slurp($p->{err}),
        exit => ($status & 127) ? undef : $status >> 8,
        signal => $status & 127, timed_out => $timed_out,
        elapsed => time - $p->{start}, cmd => $p->{cmd},
    };
}

# wait_for($p, $regex, $timeout): until the process's stdout matches.
sub wait_for {
    my ($p, $re, $timeout) = @_;
    my $deadline = time + $timeout;
    while (time < $deadline) {
        return 1 if slurp($p->{out}) =~ $re;
        return 0 unless alive($p->{pid});
        sleep 0.05;
    }
    return 0;
}

# alive($pid): running, not yet a zombie (so finish() can still reap it).
sub alive {
    my ($pid) = @_;
    my $st = slurp("/proc/$pid/stat");
    return $st =~ /^\d+ \(.*\) (\S)/s && $1 ne 'Z';
}

sub rss_kb {
    my ($pid) = @_;
    my $st = slurp("/proc/$pid/status");
    return $st =~ /^VmRSS:\s+(\d+)\s+kB/m ? $1 : undef;
}

sub json_ok {
    my ($path) = @_;
    return eval { read_json($path) };
}

# ---- memcached on a fixed port (for restarting on the same one) ---------------

sub spawn_memcached_on {
    my ($port, @extra) = @_;
    my @cmd = ('memcached', '-U', '0', '-t', 1, '-l', '127.0.0.1', '-p', $port, @extra);
    push @cmd, '-u', 'nobody' if $> == 0;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>&', \*STDOUT;
        { exec { $ENV{MCS_MEMCACHED} // "memcached" } @cmd }
        POSIX::_exit(127);
    }
    my $deadline = time + 5;
    while (time < $deadline) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                      Proto => 'tcp', Timeout => 1);
        if ($s) { close $s; return $pid }
        last if waitpid($pid, WNOHANG) != 0;
        sleep 0.02;
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
    return undef;
}

sub kill_wait {
    my ($pid, $sig) = @_;
    return unless $pid;
    kill $sig, $pid;
    my $deadline = time + 5;
    while (waitpid($pid, WNOHANG) == 0) {
        if (time > $deadline) { kill 'KILL', $pid; waitpid($pid, 0); last }
        sleep 0.01;
    }
}

# ---- 1. 10,000 connections from one thread -----------------------------------------

SKIP: {
    my $hard = `sh -c 'ulimit -Hn'`;
    chomp $hard;
    skip("the hard open-file limit is $hard, below the 10100 that 10,000 "
         . "connections (client and server side in one host) need", 6)
        if $hard ne 'unlimited' && $hard < 10100;

    my $mc = start_memcached(threads => 2, args => ['-c', '20000']);
    my $jf = json_path();
    my $p = spawn('--conf', "$LUA/reliability_idle.lua", '--server', $mc->addr,
                  '--arg', 'clients=10000,rate=500,secs=8', '--quiet', '--json', $jf);
    my $max_conns = 0;
    my $deadline = time + 30;
    while (alive($p->{pid}) && time < $deadline) {
        my $st = eval { mc_stats($mc) };
        $max_conns = $st->{curr_connections} if $st && $st->{curr_connections} > $max_conns;
        sleep 0.5;
    }
    my $res = finish($p, 30);
    my $j = json_ok($jf);
    ok(!$res->{signal} && !$res->{timed_out}, '10k connections: not killed, no hang')
        or diag("signal $res->{signal} timed_out $res->{timed_out}");
    is($res->{exit}, 0, '10k connections: exit 0')
        or diag("stderr: " . substr($res->{err}, 0, 2000));
    ok($j, '10k connections: JSON written') or diag("stderr: $res->{err}");
    is($j && $j->{totals}{connects}, 10000, '10k connections: totals.connects == 10000');
    is($j && $j->{totals}{errors}, 0, '10k connections: no errors')
        or diag(JSON::PP->new->canonical->encode($j ? $j->{totals}{errors_by_kind} : {}));
    cmp_ok($max_conns, '>=', 10000,
           "10k connections: memcached's curr_connections reached 10000 mid-run");
    $mc->stop;
}

# ---- 1b. too few file descriptors ---------------------------------------------------

{
    my $mc = start_memcached(args => ['-c', '2000']);
    my $jf = json_path();
    my $res = run_cmd({ timeout => 30 }, 'sh', '-c', 'ulimit -n 300 && exec "$0" "$@"',
        mcs_bin(), '--conf', "$LUA/reliability_idle.lua", '--server', $mc->addr,
        '--arg', 'clients=400,rate=400,secs=2', '--quiet', '--json', $jf);
    ok(!$res->{signal} && !$res->{timed_out}, 'ulimit -n 300, 400 clients: no crash, no hang')
        or diag("signal $res->{signal} timed_out $res->{timed_out}; stderr: $res->{err}");
    like($res->{err}, qr/connections need more file descriptors than the limit/,
         'ulimit -n 300, 400 clients: warns about the fd limit')
        or diag("stderr: " . substr($res->{err}, 0, 1000));
    my $j = json_ok($jf);
    my $connect_errs = $j ? $j->{totals}{errors_by_kind}{connect} // 0 : 0;
    ok(defined $res->{exit}
       && ($res->{exit} == 0 || ($res->{exit} == 3 && $connect_errs > 0)
           || ($connect_errs > 0 && $res->{exit} != 1 && $res->{exit} != 2)),
       'ulimit -n 300, 400 clients: exit 0 or counted connect errors')
        or diag("exit " . ($res->{exit} // 'undef') . ", connect errors $connect_errs; "
                . "stderr: " . substr($res->{err}, 0, 1000));
    ok($j, 'ulimit -n 300, 400 clients: JSON written');
}

# ---- 2. signals at each stage -------------------------------------------------------

sub interrupted_ok {
    my ($name, $res, $jf) = @_;
    ok(!$res->{signal} && !$res->{timed_out}, "$name: ends by itself after the signal")
        or diag("signal $res->{signal} timed_out $res->{timed_out}; stderr: $res->{err}");
    is($res->{exit}, 0, "$name: exit 0") or diag("stderr: $res->{err}");
    like($res->{out}, qr/^workload /m, "$name: summary printed");
    like($res->{err}, qr/interrupted/, "$name: says it was interrupted");
    my $j = json_ok($jf);
    ok($j, "$name: JSON written and valid");
    return $j;
}

# (a) while connecting: a TLS handshake the server never answers
{
    my $mock = MockServer->start(steps => [['stall']]);
    my $jf = json_path();
    my $p = spawn('--server', $mock->addr, '--tls', '--tls-insecure', '--threads', 1,
                  '--clients', 2, '--duration', 20, '--quiet', '--json', $jf);
    sleep 1;
    kill 'INT', $p->{pid};
    my $res = finish($p, 15);
    my $j = interrupted_ok('SIGINT during a stalled TLS handshake', $res, $jf);
    cmp_ok($res->{elapsed}, '<', 4.5, 'SIGINT during a stalled TLS handshake: ends promptly')
        or diag("elapsed $res->{elapsed}");
    $mock->stop;
}

# (a2) while connecting: every connect refused, the clients backing off
{
    my $closed = free_port();
    my $jf = json_path();
    my $p = spawn('--server', "127.0.0.1:$closed", '--threads', 1, '--clients', 2,
                  '--duration', 20, '--quiet', '--json', $jf);
    sleep 1; # before the 2 s after which an unusable server ends the run
    kill 'INT', $p->{pid};
    my $res = finish($p, 15);
    my $j = interrupted_ok('SIGINT while connects are refused', $res, $jf);
    cmp_ok($res->{elapsed}, '<', 4.5, 'SIGINT while connects are refused: ends promptly')
        or diag("elapsed $res->{elapsed}");
    cmp_ok($j ? $j->{totals}{errors_by_kind}{connect} : 0, '>', 0,
           'SIGINT while connects are refused: the failed connects are counted');
}

# (b) SIGTERM while a phase runs against memcached
{
    my $mc = start_memcached();
    my $jf = json_path();
    my $p = spawn('--server', $mc->addr, '--threads', 1, '--clients', 4,
                  '--duration', 20, '--quiet', '--json', $jf);
    sleep 1.5;
    kill 'TERM', $p->{pid};
    my $res = finish($p, 15);
    my $j = interrupted_ok('SIGTERM mid-phase', $res, $jf);
    cmp_ok($res->{elapsed}, '<', 6, 'SIGTERM mid-phase: ends promptly');
    cmp_ok($j ? $j->{totals}{ops} : 0, '>', 0, 'SIGTERM mid-phase: the requests are counted');
}

# (c) SIGINT in the second phase of three
{
    my $mc = start_memcached();
    my $jf = json_path();
    my $p = spawn('--conf', "$LUA/reliability_phases.lua", '--server', $mc->addr,
                  '--quiet', '--json', $jf);
    my $in_phase2 = wait_for($p, qr/MARK phase2 start/, 10);
    ok($in_phase2, 'SIGINT in phase 2: phase 2 started');
    sleep 0.7;
    kill 'INT', $p->{pid};
    my $res = finish($p, 15);
    my $j = interrupted_ok('SIGINT in phase 2', $res, $jf);
    cmp_ok($res->{elapsed}, '<', 8, 'SIGINT in phase 2: phase 2 stops early (of 30 s)');
    like($res->{out}, qr/MARK phase2 end/, 'SIGINT in phase 2: config carries on after it');
    like($res->{out}, qr/MARK phase3 end/, 'SIGINT in phase 2: config returns normally');
    # phase 3 never ran, so it is not reported
    unlike($res->{out}, qr/^workload third\b/m, 'SIGINT in phase 2: phase 3 did not run');
    my %names = map { $_->{name} => $_ } @{ $j ? $j->{workloads} : [] };
    ok($names{first} && $names{second}, 'SIGINT in phase 2: JSON has phases 1 and 2')
        or diag("workloads: @{[sort keys %names]}");
    ok(!$names{third}, 'SIGINT in phase 2: phase 3 is not in the JSON');
    cmp_ok($names{second} ? $names{second}{ops} : 0, '>', 0,
           'SIGINT in phase 2: phase 2 requests counted');
}

# binary_has_asan($path): the binary was linked with AddressSanitizer.
sub binary_has_asan {
    my ($path) = @_;
    open my $fh, '<:raw', $path or return 0;
    local $/;
    my $bytes = <$fh>;
    return index($bytes, '__asan_init') >= 0;
}

# ---- 3. valgrind memcheck -------------------------------------------------------------

SKIP: {
    my $vg = `sh -c 'command -v valgrind'`;
    chomp $vg;
    skip('valgrind is not installed', 3) unless $vg;
    # valgrind cannot run an ASan binary; the normal build's pass covers it
    skip('the binary is built with AddressSanitizer', 3) if binary_has_asan(mcs_bin());
    my $mc = start_memcached();
    # --undef-value-errors=no: valgrind does not see the kernel fill the
    # buffers of io_uring recv operations, so every byte received looks
    # uninitialised to it (thousands of false "Conditional jump ... depends
    # on uninitialised value(s)" in the response parser).  Invalid reads and
    # writes, bad frees and leaks are still checked.
    my $res = run_cmd({ timeout => 60 }, $vg, '--leak-check=full',
        '--undef-value-errors=no',
        '--errors-for-leak-kinds=definite', '--error-exitcode=99', mcs_bin(),
        '--server', $mc->addr, '--threads', 1, '--clients', 2, '--duration', 1, '--quiet');
    my $err = $res->{err};
    skip("valgrind cannot run io_uring programs here: "
         . ($err =~ /(unhandled (?:amd64-linux )?syscall[^\n]*)/ ? $1 : 'exit '
            . ($res->{exit} // "signal $res->{signal}") . " without memcheck errors"), 3)
        if $err =~ /unhandled (?:amd64-linux |arm64-linux )?syscall/i
        || $err =~ /io_uring[^\n]*(?:not supported|Function not implemented|ENOSYS)/i
        || (($res->{exit} // -1) != 0 && ($res->{exit} // -1) != 99);
    ok(!$res->{timed_out}, 'valgrind: the run ends');
    is($res->{exit}, 0, 'valgrind: exit 0 (no memcheck errors, no definite leaks)')
        or diag(substr($err, -4000));
    my @lost = $err =~ /definitely lost: ([\d,]+) bytes/g;
    ok(!grep({ $_ ne '0' } @lost), 'valgrind: definitely lost: 0 bytes')
        or diag(join("\n", grep { /lost|ERROR SUMMARY/ } split /\n/, $err));
}

# ---- 4. memory stays flat over a steady run -------------------------------------------

{
    my $mc = start_memcached();
    my $p = spawn('--server', $mc->addr, '--threads', 1, '--clients', 20,
                  '--rate', 4000, '--duration', 12, '--quiet');
    my @rss;
    my $t0 = $p->{start};
    for my $s (1 .. 12) {
        my $wake = $t0 + $s;
        sleep($wake - time) if $wake > time;
        last unless alive($p->{pid});
        push @rss, rss_kb($p->{pid});
    }
    my $res = finish($p, 15);
    ok(!$res->{signal} && !$res->{timed_out}, 'flat memory: the 12 s run ends by itself')
        or diag("signal $res->{signal}");
    @rss = grep { defined } @rss;
    SKIP: {
        skip('fewer than 8 RSS samples were taken', 1) unless @rss >= 8;
        my $base = $rss[3];                 # at 4 s
        my @later = @rss[4 .. $#rss];
        my ($max) = sort { $b <=> $a } @later;
        cmp_ok($max, '<=', $base * 1.2 + 2048,
               "flat memory: max RSS after 4 s ($max kB) within 20% + 2 MB of RSS at 4 s ($base kB)")
            or diag("RSS samples (kB): @rss");
    }
}

# ---- 5. an outage in the time series ----------------------------------------------------

SKIP: {
    my $port = MCS::free_port();
    my $mc = spawn_memcached_on($port);
    skip('could not start memcached on a fixed port', 6) unless $mc;
    my $jf = json_path();
    my $p = spawn('--server', "127.0.0.1:$port", '--threads', 1, '--clients', 4,
                  '--duration', 6, '--interval', '500ms', '--quiet', '--json', $jf);
    sleep 1.5;
    kill_wait($mc, 'KILL');
    sleep 1;
    my $mc2 = spawn_memcached_on($port);
    ok($mc2, 'outage: memcached restarted on the same port');
    my $res = finish($p, 20);
    kill_wait($mc2, 'TERM');
    ok(!$res->{signal} && !$res->{timed_out}, 'outage: the run ends by itself')
        or diag("signal $res->{signal}");
    is($res->{exit}, 0, 'outage: exit 0') or diag("stderr: $res->{err}");
    my $j = json_ok($jf);
    ok($j, 'outage: JSON written') or skip('no JSON', 3);
    cmp_ok($j->{totals}{reconnects}, '>', 0, 'outage: reconnects counted');
    my @iv = @{ $j->{workloads}[0]{intervals} // [] };
    # an interval with no requests or with errors, with good intervals on both sides
    my $found = 0;
    for my $i (1 .. $#iv - 1) {
        next unless $iv[$i]{ops} == 0 || $iv[$i]{errors} > 0;
        my $before = grep { $_->{ops} > 0 } @iv[0 .. $i - 1];
        my $after = grep { $_->{ops} > 0 } @iv[$i + 1 .. $#iv];
        if ($before && $after) { $found = 1; last }
    }
    ok($found, 'outage: the time series shows the gap between good intervals')
        or diag(join(' ', map { "[$_->{t_s}s ops $_->{ops} err $_->{errors}]" } @iv));
    cmp_ok(scalar(@iv), '>=', 8, 'outage: about 12 intervals of 500 ms');
}

# ---- a peer that resets during the TLS handshake ---------------------------------------------
{
    # every connection is reset as soon as it is accepted, mid-handshake:
    # counted, retried with backoff, and the run stops with exit 3 and a reason
    my $mock = MockServer->start(steps => [['reset']]);
    my $jf = "$TMP/reset_hs.json";
    my $res = run_mcs({ timeout => 20 }, '--server', $mock->addr, '--tls', '--tls-insecure',
        qw(--threads 1 --clients 2 --duration 4 --quiet --json), $jf);
    ok(!$res->{timed_out} && !$res->{signal}, 'reset in the handshake: no crash, no hang');
    is($res->{exit}, 3, 'reset in the handshake: exit 3 (no TLS connection works)')
        or diag($res->{err});
    like($res->{err}, qr/no TLS connection to .* works: /, 'reset in the handshake: says why');
    my $j = eval { read_json($jf) };
    my $e = $j ? $j->{totals}{errors_by_kind} : {};
    cmp_ok(($e->{tls} // 0) + ($e->{reset} // 0) + ($e->{connect} // 0), '>=', 2,
           'reset in the handshake: the failures are counted');
}

done_testing();
