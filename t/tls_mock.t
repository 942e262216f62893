#!/usr/bin/perl
# tls_mock.t: mcshredder against t/tls_mock_server.c, a TLS server that
# misbehaves on purpose (see its header): KeyUpdates the client must answer,
# records sent one byte per TCP segment, many records coalesced in one
# segment, close_notify and truncated records mid-stream, a server that
# never answers, one that never even starts the handshake, and TLS 1.2
# renegotiation. Each case runs mcshredder's
# built-in meta workload for a short while against its own mock server;
# the cases run a few at a time, in parallel.
#
# The mock server is compiled here with cc and OpenSSL; the test is skipped
# when that is not possible.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP ();
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use MCS;

my $root = repo_root();
my $build = $ENV{MCS_BUILD_DIR} // "$root/build";
my $tmp = tempdir('mcs-tlsmock-XXXXXX', TMPDIR => 1, CLEANUP => 1);

sub build_has_tls {
    open my $fh, '<', "$build/config.h" or return 1; # unknown: try anyway
    local $/;
    my $h = <$fh>;
    return $h =~ /^#define HAVE_TLS 1/m;
}
plan skip_all => 'mcshredder was built without TLS' unless build_has_tls();

my $cc = $ENV{CC} // 'cc';
my $ssl = `pkg-config --cflags --libs openssl 2>/dev/null`;
chomp $ssl;
$ssl = '-lssl -lcrypto' if $? != 0 || $ssl eq '';
my $server = "$tmp/tls_mock_server";
my $out = `$cc -std=gnu11 -O1 -g -o $server $root/t/tls_mock_server.c $ssl 2>&1`;
plan skip_all => "cannot compile t/tls_mock_server.c: $out" if $? != 0;

my $certs = MCS::make_certs($tmp);

# One case: starts a mock server in MODE, runs mcshredder with @args against
# it (--json added), stops the server. Returns {r, json, conns} where conns
# are the server's per-connection lines as hashes.
sub run_case {
    my ($id, $mode, @args) = @_;
    my $log = "$tmp/server$id.out";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $log or POSIX::_exit(126);
        open STDERR, '>', "$tmp/server$id.err" or POSIX::_exit(126);
        exec $server, $certs->{server_cert}, $certs->{server_key}, 0, split(/ /, $mode)
            or POSIX::_exit(127);
    }
    my $port;
    my $deadline = time + 10;
    while (!$port && time < $deadline) {
        if (open my $fh, '<', $log) {
            my $first = <$fh>;
            $port = $1 if defined $first && $first =~ /^PORT (\d+)$/;
        }
        last if waitpid($pid, WNOHANG) == $pid;
        sleep 0.02 unless $port;
    }
    my %res;
    if ($port) {
        my $json = "$tmp/case$id.json";
        $res{r} = run_mcs({ timeout => 30 }, '--server', "127.0.0.1:$port", '--tls',
            '--tls-ca', $certs->{ca}, '--json', $json, @args);
        $res{json} = -e $json ? eval { read_json($json) } : undef;
    } else {
        $res{r} = { exit => -1, err => 'the mock server did not start: '
            . `cat $tmp/server$id.err`, out => '', elapsed => 0, signal => 0 };
    }
    kill 'TERM', $pid;
    waitpid($pid, 0);
    sleep 0.2; # connection children print their line as they go
    $res{conns} = [];
    if (open my $fh, '<', $log) {
        while (<$fh>) {
            push @{ $res{conns} }, { /(\w+)=(\d+)/g } if /^CONN /;
        }
    }
    return \%res;
}

# Runs the cases (each [name, mode, @args]) at most $par at a time.
sub run_cases {
    my ($par, @cases) = @_;
    my (%pid, %res);
    my $i = 0;
    while ($i < @cases || %pid) {
        while ($i < @cases && keys %pid < $par) {
            my $id = $i++;
            my $pid = fork // die "fork: $!";
            if ($pid == 0) {
                my $r = eval { run_case($id, @{ $cases[$id] }[1 .. $#{ $cases[$id] }]) }
                    // { r => { exit => -1, err => "run_case died: $@" }, conns => [] };
                open my $fh, '>:raw', "$tmp/result$id.json";
                print $fh JSON::PP->new->utf8->encode($r);
                close $fh;
                POSIX::_exit(0);
            }
            $pid{$pid} = $id;
        }
        my $done = waitpid(-1, 0);
        last if $done < 0;
        my $id = delete $pid{$done};
        next unless defined $id;
        $res{ $cases[$id][0] } = eval { read_json("$tmp/result$id.json") }
            // { r => { exit => -1, err => 'no result' }, conns => [] };
    }
    return \%res;
}

my @base = qw(--threads 1 --clients 2 --duration 1.5 --keys 100 --quiet);
my @cases = (
    ['normal',              'normal',             @base],
    ['keyupdate 1',         'keyupdate 1',        @base],
    ['keyupdate 7',         'keyupdate 7',        @base],
    ['keyupdate+fragment',  'keyupdate+fragment 3', @base, '--pipeline', 4],
    ['fragment',            'fragment',           @base],
    ['fragment text',       'fragment',           @base, '--proto', 'text', '--pipeline', 4],
    ['coalesce',            'coalesce',           @base, '--pipeline', 16],
    ['coalesce text',       'coalesce',           @base, '--pipeline', 16, '--proto', 'text'],
    ['close_notify 5',      'close_notify 5',     @base],
    ['truncate 5',          'truncate 5',         @base],
    ['stall',               'stall',              qw(--threads 1 --clients 2 --duration 2 --quiet)],
    ['reneg 3',             'reneg 3',            @base, '--tls-max', '1.2'],
    ['reneg+fragment',      'reneg+fragment 2',   @base, '--tls-max', '1.2', '--pipeline', 4],
    ['mute',                'mute',               qw(--threads 1 --clients 2 --duration 30)],
);
my $res = run_cases(4, @cases);

sub diag_case {
    my ($c) = @_;
    my $r = $c->{r};
    diag("command: " . ($r->{cmd} // '?'));
    diag("exit " . ($r->{exit} // 'undef') . " signal " . ($r->{signal} // 0)
        . " elapsed " . ($r->{elapsed} // '?'));
    diag("stderr: $r->{err}") if length($r->{err} // '');
    my $w = $c->{json} && $c->{json}{workloads}[0];
    diag('result: ' . JSON::PP->new->canonical->encode({ map { $_ => $w->{$_} }
        qw(ops errors errors_by_kind connects reconnects tls) })) if $w;
}

sub wl { my ($c) = @_; return $c->{json} && $c->{json}{workloads}[0] }

sub sum_conns {
    my ($c, $key) = @_;
    my $n = 0;
    $n += $_->{$key} // 0 for @{ $c->{conns} };
    return $n;
}

# exit 0, requests done, no errors, the server answered what was counted
sub clean_run {
    my ($name, $pipeline) = @_;
    my $c = $res->{$name};
    my $w = wl($c);
    my $ok = is($c->{r}{exit}, 0, "$name: exit 0");
    $ok &= ok(!$c->{r}{signal} && !$c->{r}{timed_out}, "$name: no crash, no hang");
    $ok &= ok($w && $w->{ops} > 0, "$name: ops > 0 (" . ($w ? $w->{ops} : 'no json') . ')');
    $ok &= is($w && $w->{errors}, 0, "$name: no errors");
    $ok &= is($w && $w->{tls}{handshakes}, 2, "$name: one handshake per client");
    my $answered = sum_conns($c, 'responses');
    $ok &= ok($w && $answered >= $w->{ops} && $answered <= $w->{ops} + 2 * ($pipeline // 1),
        "$name: the server answered what was counted ($answered answered, "
        . ($w ? $w->{ops} : '?') . ' counted)');
    diag_case($c) unless $ok;
    return $ok;
}

subtest 'normal (the mock itself works)' => sub { clean_run('normal') };

for my $name ('keyupdate 1', 'keyupdate 7', 'keyupdate+fragment') {
    subtest "$name: the client answers every KeyUpdate and keeps going" => sub {
        clean_run($name, $name =~ /fragment/ ? 4 : 1) or return;
        my $c = $res->{$name};
        ok(sum_conns($c, 'keyupdates_sent') > 0, 'the server sent KeyUpdates ('
            . sum_conns($c, 'keyupdates_sent') . ')');
        for my $conn (@{ $c->{conns} }) {
            my ($sent, $got) = @$conn{qw(keyupdates_sent keyupdates_recv)};
            if ($name =~ /fragment/) {
                # Requests that reach the client between two of its writes
                # get one answer together (RFC 8446 4.6.3); with records
                # dribbling in, pipelined, that happens now and then.
                ok($got > 0 && $got >= $sent / 8,
                    "a connection answered KeyUpdate requests ($got answers to $sent)");
            } else {
                # each request comes with its response, one per write: each
                # gets its answer, but the last may come as the run ends
                ok($got >= $sent - 1, "a connection answered $got of $sent KeyUpdate requests");
            }
        }
    };
}

subtest 'fragment: records arrive one byte per segment' => sub { clean_run('fragment') };
subtest 'fragment, text protocol, pipelined 4' => sub { clean_run('fragment text', 4) };
subtest 'coalesce: many records in one segment, pipelined 16' => sub {
    clean_run('coalesce', 16);
};
subtest 'coalesce, text protocol, pipelined 16' => sub { clean_run('coalesce text', 16) };

subtest 'close_notify after 5 responses' => sub {
    my $c = $res->{'close_notify 5'};
    my $w = wl($c);
    my $ok = is($c->{r}{exit}, 0, 'exit 0');
    $ok &= ok(!$c->{r}{signal} && !$c->{r}{timed_out}, 'no crash, no hang');
    $ok &= ok($w && $w->{ops} > 0, 'ops > 0');
    $ok &= ok($w && $w->{errors_by_kind}{reset} > 0, 'counted as the server closing (reset)');
    $ok &= is($w && $w->{errors_by_kind}{tls}, 0, 'not as a TLS error');
    $ok &= ok($w && $w->{reconnects} > 0, 'reconnects');
    $ok &= is($w && $w->{tls}{handshakes}, $w && $w->{connects}, 'a handshake per connect');
    # every connection gave exactly 5 responses; the run may end inside one
    $ok &= ok($w && $w->{ops} <= 5 * $w->{connects} && $w->{ops} >= 5 * ($w->{connects} - 2),
        'five requests per connection');
    diag_case($c) unless $ok;
};

subtest 'close_notify: reconnects resume the session' => sub {
    # The server ended each connection in order (close_notify) and its
    # ticket is good: the next connect should resume it.
    my $c = $res->{'close_notify 5'};
    my $w = wl($c) or return fail('no result');
    ok($w->{tls}{resumed} > 0,
        "resumed $w->{tls}{resumed} of $w->{tls}{handshakes} handshakes");
};

subtest 'truncate: half a record, then FIN' => sub {
    my $c = $res->{'truncate 5'};
    my $w = wl($c);
    my $ok = ok(defined $c->{r}{exit} && ($c->{r}{exit} == 0 || $c->{r}{exit} == 3),
        'exit 0 or 3 (' . ($c->{r}{exit} // 'signal') . ')');
    $ok &= ok(!$c->{r}{signal} && !$c->{r}{timed_out}, 'no crash, no hang');
    $ok &= ok($w && $w->{errors_by_kind}{reset} + $w->{errors_by_kind}{tls} > 0,
        'the cut is counted (reset or tls)');
    $ok &= is($w && $w->{errors_by_kind}{protocol}, 0, 'never parsed as a response');
    $ok &= ok($w && $w->{ops} > 0 && $w->{ops} <= 5 * $w->{connects}, 'ops of whole records only');
    diag_case($c) unless $ok;
};

subtest 'stall: the server never answers' => sub {
    my $c = $res->{stall};
    my $w = wl($c);
    my $ok = is($c->{r}{exit}, 0, 'exit 0');
    $ok &= ok(!$c->{r}{signal} && !$c->{r}{timed_out}, 'no crash, no hang');
    $ok &= ok(($c->{r}{elapsed} // 99) < 2 + 3, "ends on time ($c->{r}{elapsed} s for 2 s)");
    $ok &= is($w && $w->{ops}, 0, 'nothing completed');
    $ok &= is($w && $w->{tls}{handshakes}, 2, 'handshakes done');
    diag_case($c) unless $ok;
};

subtest 'mute: a server that never starts the handshake' => sub {
    my $c = $res->{mute};
    my $r = $c->{r};
    my $ok = is($r->{exit}, 3, 'exit 3');
    $ok &= ok(!$r->{signal} && !$r->{timed_out}, 'no crash, no hang');
    $ok &= ok(($r->{elapsed} // 99) < 15, "gives up long before --duration 30 ($r->{elapsed} s)");
    $ok &= like($r->{err},
        qr/^mcshredder: no TLS connection to 127\.0\.0\.1:\d+ works: .*timed out/m,
        'says the handshake timed out');
    diag_case($c) unless $ok;
};

for my $name ('reneg 3', 'reneg+fragment') {
    subtest "$name: TLS 1.2 renegotiation requested by the server" => sub {
        clean_run($name, $name =~ /fragment/ ? 4 : 1) or return;
        my $c = $res->{$name};
        my $hellos = sum_conns($c, 'client_hellos');
        ok($hellos > @{ $c->{conns} }, "the client renegotiated ($hellos ClientHellos on "
            . @{ $c->{conns} } . ' connections)');
    };
}

done_testing();
