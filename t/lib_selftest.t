#!/usr/bin/perl
# lib_selftest.t: t/lib/MCS.pm itself: plain, Unix-socket and TLS memcached
# servers start, answer, parse and stop; run_mcs captures and times out.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use MCS;

subtest 'plain memcached' => sub {
    my $mc = start_memcached();
    ok($mc->port >= 10000 && $mc->port <= 60000, 'port in range: ' . $mc->port);
    ok($mc->running, 'running, pid ' . $mc->pid);
    is(mc_cmd($mc, "set foo 5 0 3\r\nbar\r\n"), "STORED\r\n", 'set');
    is(mc_cmd($mc, "get foo\r\n"), "VALUE foo 5 3\r\nbar\r\nEND\r\n", 'get');
    is(mc_cmd($mc->addr, "ms mk 2 T0\r\nhi\r\n"), "HD\r\n", 'ms by address');
    is(mc_cmd($mc->port, "mg mk v\r\n"), "VA 2\r\nhi\r\n", 'mg (VA) by port');
    is(mc_cmd($mc, "get a\r\nget foo\r\n", responses => 2),
        "END\r\nVALUE foo 5 3\r\nbar\r\nEND\r\n", 'two pipelined responses');
    my $st = mc_stats($mc);
    is($st->{cmd_set}, 2, 'stats: cmd_set');
    ok($st->{get_hits} >= 2, 'stats: get_hits');
    like($st->{version}, qr/^\d+\.\d+/, "stats: version $st->{version}");
    is(mc_stats($mc, 'settings')->{tcpport}, $mc->port, 'stats settings');
    my $pid = $mc->pid;
    $mc->stop;
    ok(!kill(0, $pid), 'stopped');
    ok(!$mc->pid, 'no pid after stop');
};

subtest 'servers stop when the object goes away' => sub {
    my $pid;
    {
        my $mc = start_memcached(args => ['-m', '64']);
        $pid = $mc->pid;
        ok(kill(0, $pid), 'alive in scope');
    }
    ok(!kill(0, $pid), 'gone after scope');
};

subtest 'unix socket' => sub {
    my $mc = start_memcached(unix => 1);
    ok(-S $mc->sock, 'socket ' . $mc->sock);
    is($mc->addr, $mc->sock, 'addr is the path');
    is(mc_cmd($mc, "version\r\n") =~ /^VERSION /, 1, 'version over the socket');
};

subtest 'run_mcs' => sub {
    my $r = run_mcs({ bin => '/bin/sh' }, '-c', 'echo out; echo err >&2; exit 3');
    is($r->{out}, "out\n", 'stdout');
    is($r->{err}, "err\n", 'stderr');
    is($r->{exit}, 3, 'exit code');
    is($r->{signal}, 0, 'no signal');
    $r = run_mcs({ bin => '/bin/sh', timeout => 0.5 }, '-c', 'sleep 30');
    ok($r->{timed_out}, 'timed out');
    is($r->{signal}, 15, 'killed with SIGTERM');
    ok($r->{elapsed} < 10, "elapsed $r->{elapsed}");
    $r = run_mcs({ bin => '/bin/cat', stdin => "in\n" });
    is($r->{out}, "in\n", 'stdin');
    my $d = tempdir(CLEANUP => 1);
    open my $sh, '>', "$d/fake-mcs" or die;
    print $sh qq{#!/bin/sh\necho "\$@"\ncat "\$2"\n};
    close $sh;
    chmod 0755, "$d/fake-mcs";
    $r = run_lua('127.0.0.1:1', "-- lua\n", { bin => "$d/fake-mcs" }, '--x');
    like($r->{out}, qr{^--conf \S+\.lua --server 127\.0\.0\.1:1 --x\n-- lua\n\z},
        'run_lua writes the script and passes --conf/--server');
    open my $fh, '>', "$d/x.json" or die;
    print $fh '{"a": [1, 2], "b": {"c": "d"}}';
    close $fh;
    is_deeply(read_json("$d/x.json"), { a => [1, 2], b => { c => 'd' } }, 'read_json');
    ok(!eval { read_json("$d/missing.json"); 1 }, 'read_json dies on a missing file');
};

subtest 'TLS memcached' => sub {
    plan skip_all => 'memcached built without TLS (-Z)' unless memcached_has_tls();
    plan skip_all => 'no openssl command' unless `openssl version 2>/dev/null`;
    my $mc = start_memcached(tls => 1);
    ok(-s $mc->$_, "$_ file") for qw(ca client_cert client_key server_cert server_key);
    like(mc_cmd($mc, "version\r\n"), qr/^VERSION /, 'plain listener on plain_port');
    is(mc_stats($mc, 'settings')->{ssl_enabled}, 'yes', 'ssl_enabled');

    my @base = ('openssl', 's_client', '-connect', '127.0.0.1:' . $mc->port,
        '-CAfile', $mc->ca, '-verify_return_error', '-quiet', '-ign_eof');
    my $r = run_cmd({ stdin => "version\r\nquit\r\n", timeout => 20 },
        @base, '-verify_ip', '127.0.0.1');
    is($r->{exit}, 0, 's_client exit 0') or diag $r->{err};
    like($r->{out}, qr/^VERSION \d/m, 'VERSION over TLS, verified by the CA');

    $r = run_cmd({ stdin => "version\r\nquit\r\n", timeout => 20 },
        @base, '-verify_hostname', 'localhost',
        '-cert', $mc->client_cert, '-key', $mc->client_key);
    like($r->{out}, qr/^VERSION \d/m, 'with a client certificate, SAN localhost')
        or diag $r->{err};

    $r = run_cmd({ stdin => "version\r\nquit\r\n", timeout => 20 },
        'openssl', 's_client', '-connect', '127.0.0.1:' . $mc->port, '-verify_return_error',
        '-quiet', '-ign_eof', '-CAfile', $mc->client_cert);
    isnt($r->{exit}, 0, 'verification fails against the wrong CA');

    # mTLS required: no client certificate, no service
    my $m2 = start_memcached(tls => 1, args => ['-o', 'ssl_verify_mode=3']);
    $r = run_cmd({ stdin => "version\r\nquit\r\n", timeout => 20 },
        'openssl', 's_client', '-connect', '127.0.0.1:' . $m2->port, '-CAfile', $m2->ca,
        '-verify_return_error', '-quiet', '-ign_eof',
        '-cert', $m2->client_cert, '-key', $m2->client_key);
    like($r->{out}, qr/^VERSION \d/m, 'mTLS with the client certificate')
        or diag $r->{err};
    $r = run_cmd({ stdin => "version\r\nquit\r\n", timeout => 20 },
        'openssl', 's_client', '-connect', '127.0.0.1:' . $m2->port, '-CAfile', $m2->ca,
        '-verify_return_error', '-quiet', '-ign_eof');
    unlike($r->{out}, qr/^VERSION/m, 'mTLS refuses a client without certificate');
};

done_testing();
