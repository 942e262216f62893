#!/usr/bin/perl
# builtin.t: the built-in workload (no --conf) and its flags against a real
# memcached: protocols, ratio, pipeline, rate, value size, keys, JSON
# output, unix socket, IPv6, the live line, and SIGINT.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::IP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use MCS;

my $TMP = tempdir('mcs-builtin-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $json_n = 0;
sub json_path { return "$TMP/run" . ++$json_n . ".json" }

my $mc = start_memcached(threads => 2);
# memcached counts a connection in total_connections when a worker thread
# takes it over, not at accept: let start_memcached's probe be counted.
mc_stats($mc);
sleep 0.3;

# run_builtin($server_addr, @flags) -> (result, JSON or undef)
sub run_builtin {
    my ($addr, @flags) = @_;
    my $jf = json_path();
    my @server = $addr =~ m{^/} ? ('--sock', $addr) : ('--server', $addr);
    my $res = run_mcs({ timeout => 20 }, @server, '--json', $jf, @flags);
    my $j = eval { read_json($jf) };
    return ($res, $j);
}

sub delta {
    my ($before, $after, $name) = @_;
    return $after->{$name} - $before->{$name};
}

# ---- defaults: meta protocol ----------------------------------------------------------

my $before = mc_stats($mc);
my ($res, $j) = run_builtin($mc->addr, qw(--threads 1 --clients 4 --duration 2 --quiet));
my $after = mc_stats($mc);
is($res->{exit}, 0, 'built-in: exit 0') or diag($res->{err});
is($res->{err}, '', 'built-in --quiet: nothing on stderr');
cmp_ok($res->{elapsed}, '<', 5, 'built-in: a 2 s run takes about 2 s');
like($res->{out}, qr/\bmg\b/, 'built-in: the summary mentions mg');
like($res->{out}, qr/\bms\b/, 'built-in: the summary mentions ms');
cmp_ok(delta($before, $after, 'cmd_get'), '>', 0, 'built-in: memcached served gets');
cmp_ok(delta($before, $after, 'cmd_set'), '>', 0, 'built-in: memcached served sets');
is(delta($before, $after, 'total_connections') - 1, 4, 'built-in: 4 clients, 4 connections');

# ---- the JSON file -------------------------------------------------------------------

SKIP: {
    ok($j, 'JSON: written and parses') or skip('no JSON', 30);
    is($j->{version}, 1, 'JSON: version 1');
    ok($j->{duration_s} >= 1.9 && $j->{duration_s} < 5, 'JSON: duration_s about 2')
        or diag("duration_s $j->{duration_s}");
    is(ref $j->{workloads}, 'ARRAY', 'JSON: workloads is an array');
    is(scalar @{ $j->{workloads} }, 1, 'JSON: one workload');
    my $w = $j->{workloads}[0];
    ok(defined $w->{name} && length $w->{name}, "JSON: the workload has a name ($w->{name})");
    is($w->{phase}, 1, 'JSON: phase 1');
    for my $k (qw(duration_s ops ops_per_sec errors hits misses bytes_in bytes_out
                  connects reconnects)) {
        ok(defined $w->{$k} && $w->{$k} =~ /^\d+(?:\.\d+)?$/, "JSON: workload $k is a number");
    }
    is_deeply([sort keys %{ $w->{errors_by_kind} }],
              [sort qw(error client_error server_error protocol connect reset timeout tls)],
              'JSON: errors_by_kind has every kind');
    my $sum = 0;
    $sum += $_ for values %{ $w->{errors_by_kind} };
    is($w->{errors}, $sum, 'JSON: errors is the sum of errors_by_kind');
    is($w->{errors}, 0, 'JSON: no errors against a real memcached');
    is_deeply([sort keys %{ $w->{latency_us} }], [sort qw(p50 p90 p99 p999 max mean)],
              'JSON: latency_us keys');
    my $l = $w->{latency_us};
    ok($l->{p50} > 0 && $l->{p50} <= $l->{p90} && $l->{p90} <= $l->{p99}
       && $l->{p99} <= $l->{p999} && $l->{p999} <= $l->{max},
       'JSON: 0 < p50 <= p90 <= p99 <= p999 <= max');
    is_deeply([sort keys %{ $w->{commands} }], [qw(mg ms)], 'JSON: commands mg and ms');
    my ($cmd_ops, $hist_ok) = (0, 1);
    for my $kind (sort keys %{ $w->{commands} }) {
        my $c = $w->{commands}{$kind};
        $cmd_ops += $c->{ops};
        my $n = 0;
        $n += $_->[2] for @{ $c->{histogram} };
        $hist_ok = 0 unless $n == $c->{ops} && ref $c->{latency_us} eq 'HASH';
    }
    is($cmd_ops, $w->{ops}, 'JSON: the kinds add up to ops');
    ok($hist_ok, 'JSON: each histogram counts its kind\'s ops');
    is($w->{hits} + $w->{misses}, $w->{commands}{mg}{ops}, 'JSON: hits + misses = mg ops');
    cmp_ok($w->{bytes_in}, '>', 0, 'JSON: bytes_in');
    cmp_ok($w->{bytes_out}, '>', 0, 'JSON: bytes_out');
    is($w->{connects}, 4, 'JSON: connects 4');
    is($w->{reconnects}, 0, 'JSON: reconnects 0');
    ok(abs($w->{ops_per_sec} - $w->{ops} / $w->{duration_s}) <= 0.01 * $w->{ops_per_sec} + 1,
       'JSON: ops_per_sec = ops / duration_s');
    my $t = $j->{totals};
    is(ref $t, 'HASH', 'JSON: totals');
    is($t->{ops}, $w->{ops}, 'JSON: totals ops = the workload\'s');
    ok(!exists $t->{name} && !exists $t->{phase}, 'JSON: totals has no name or phase');
}

# ---- --proto text ---------------------------------------------------------------------

($res, $j) = run_builtin($mc->addr, qw(--threads 1 --clients 2 --duration 500ms --quiet --proto text));
is($res->{exit}, 0, '--proto text: exit 0') or diag($res->{err});
like($res->{out}, qr/\bget\b/, '--proto text: the summary mentions get');
like($res->{out}, qr/\bset\b/, '--proto text: the summary mentions set');
is_deeply([sort keys %{ $j ? $j->{workloads}[0]{commands} : {} }], [qw(get set)],
          '--proto text: JSON commands get and set only');
is($j && $j->{totals}{errors}, 0, '--proto text: no errors');
ok($j && $j->{totals}{hits} + $j->{totals}{misses} == $j->{totals}{commands}{get}{ops},
   '--proto text: hits + misses = gets');

# ---- --ratio ----------------------------------------------------------------------------

$before = mc_stats($mc);
($res, $j) = run_builtin($mc->addr, qw(--threads 1 --clients 2 --duration 500ms --quiet --ratio 1:0));
$after = mc_stats($mc);
is($res->{exit}, 0, '--ratio 1:0: exit 0') or diag($res->{err});
cmp_ok(delta($before, $after, 'cmd_set'), '>', 0, '--ratio 1:0: sets');
is(delta($before, $after, 'cmd_get'), 0, '--ratio 1:0: no gets');
is_deeply([keys %{ $j ? $j->{workloads}[0]{commands} : {} }], ['ms'], '--ratio 1:0: only ms in the JSON');

$before = mc_stats($mc);
($res, $j) = run_builtin($mc->addr, qw(--threads 1 --clients 2 --duration 500ms --quiet --ratio 0:1 --proto text));
$after = mc_stats($mc);
is($res->{exit}, 0, '--ratio 0:1: exit 0') or diag($res->{err});
is(delta($before, $after, 'cmd_set'), 0, '--ratio 0:1: no sets');
cmp_ok(delta($before, $after, 'cmd_get'), '>', 0, '--ratio 0:1: gets');

# ---- --keys and --value-size --------------------------------------------------------------

mc_cmd($mc, "flush_all\r\n");
($res, $j) = run_builtin($mc->addr,
    qw(--threads 1 --clients 2 --duration 1 --quiet --ratio 1:0 --keys 5 --value-size 200000));
is($res->{exit}, 0, '--value-size 200000: exit 0') or diag($res->{err});
is($j && $j->{totals}{errors}, 0, '--value-size 200000: no errors');
my $sizes = mc_cmd($mc, join('', map { "mg mcs:$_ s\r\n" } 0 .. 6) . "mn\r\n", until => qr/MN\r\n\z/);
my @sizes = split /\r\n/, $sizes;
is_deeply(\@sizes, ['EN', ('HD s200000') x 5, 'EN', 'MN'],
          '--keys 5 --value-size 200000: keys mcs:1..mcs:5 hold 200000 bytes, no others');
cmp_ok($j ? $j->{totals}{bytes_out} : 0, '>', 200000 * 10, '--value-size: bytes_out counts the values');

# ---- --pipeline ------------------------------------------------------------------------

$before = mc_stats($mc);
($res, $j) = run_builtin($mc->addr, qw(--threads 1 --clients 2 --duration 500ms --quiet --pipeline 8));
$after = mc_stats($mc);
is($res->{exit}, 0, '--pipeline 8: exit 0') or diag($res->{err});
cmp_ok($j ? $j->{totals}{ops} : 0, '>', 0, '--pipeline 8: ops');
is($j && $j->{totals}{errors}, 0, '--pipeline 8: no errors');
is(delta($before, $after, 'total_connections') - 1, 2, '--pipeline 8: still one connection per client');

# ---- --rate ---------------------------------------------------------------------------

($res, $j) = run_builtin($mc->addr, qw(--threads 2 --clients 2 --duration 3 --quiet --rate 500));
is($res->{exit}, 0, '--rate 500: exit 0') or diag($res->{err});
my $rate = $j ? $j->{workloads}[0]{ops_per_sec} : 0;
ok(abs($rate - 500) <= 50, '--rate 500: achieved ops/s within 10% of 500') or diag("ops/s $rate");

# ---- --duration forms ---------------------------------------------------------------------

($res, $j) = run_builtin($mc->addr, qw(--threads 1 --clients 1 --duration 500ms --quiet));
is($res->{exit}, 0, '--duration 500ms: exit 0') or diag($res->{err});
ok($j && $j->{duration_s} >= 0.45 && $j->{duration_s} < 2, '--duration 500ms: runs half a second')
    or diag('duration_s ' . ($j ? $j->{duration_s} : 'none'));

# ---- --sock ---------------------------------------------------------------------------

my $umc = start_memcached(unix => 1);
$before = mc_stats($umc);
($res, $j) = run_builtin($umc->sock, qw(--threads 1 --clients 2 --duration 500ms --quiet));
$after = mc_stats($umc);
is($res->{exit}, 0, '--sock: exit 0') or diag($res->{err});
cmp_ok($j ? $j->{totals}{ops} : 0, '>', 0, '--sock: ops');
cmp_ok(delta($before, $after, 'cmd_get'), '>', 0, '--sock: the unix socket memcached served them');

# ---- IPv6 -----------------------------------------------------------------------------

SKIP: {
    my $v6 = eval { start_memcached(args => ['-l', '[::1]']) };
    my $up = $v6 && eval {
        my $s = IO::Socket::IP->new(PeerHost => '::1', PeerPort => $v6->port, Timeout => 2);
        $s ? 1 : 0;
    };
    skip('memcached cannot listen on ::1 here', 3) unless $up;
    $before = mc_stats($v6);
    ($res, $j) = run_builtin('[::1]:' . $v6->port, qw(--threads 1 --clients 2 --duration 500ms --quiet));
    $after = mc_stats($v6);
    is($res->{exit}, 0, 'IPv6 [::1]: exit 0') or diag($res->{err});
    cmp_ok($j ? $j->{totals}{ops} : 0, '>', 0, 'IPv6 [::1]: ops');
    cmp_ok(delta($before, $after, 'cmd_get'), '>', 0, 'IPv6 [::1]: memcached served them');
    $v6->stop('KILL');
}

# ---- the live line ------------------------------------------------------------------------

($res, $j) = run_builtin($mc->addr, qw(--threads 1 --clients 2 --duration 1600ms --interval 500ms));
is($res->{exit}, 0, 'live line: exit 0') or diag($res->{err});
my @live = grep { m{ops/s}i } split /\n/, $res->{err};
cmp_ok(scalar @live, '>=', 3, 'live line: on stderr without --quiet, every --interval 500ms')
    or diag("stderr: $res->{err}");
like($live[0] // '', qr/\d/, 'live line: shows numbers');
unlike($res->{out}, qr{ops/s.*hit}, 'live line: not on stdout');

# ---- SIGINT, SIGTERM -------------------------------------------------------------------

for my $sig (qw(INT TERM)) {
    my $jf = json_path();
    my ($out_f, $err_f) = ("$TMP/sig$sig.out", "$TMP/sig$sig.err");
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out_f or POSIX::_exit(126);
        open STDERR, '>', $err_f or POSIX::_exit(126);
        { exec { mcs_bin() } mcs_bin(), '--server', $mc->addr, qw(--threads 1 --clients 2),
              qw(--duration 30 --quiet --json), $jf; }
        POSIX::_exit(127);
    }
    sleep 1;
    kill $sig, $pid;
    my $sent = time;
    my $status;
    while (time - $sent < 10) {
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid) { $status = $?; last }
        sleep 0.05;
    }
    unless (defined $status) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
    my $took = time - $sent;
    ok(defined $status, "SIG$sig: the run ends");
    cmp_ok($took, '<', 3, "SIG$sig: promptly");
    is(($status // 127) & 127, 0, "SIG$sig: exits on its own (not killed by the signal)");
    is(defined $status ? $status >> 8 : -1, 0, "SIG$sig: exit 0 (an interrupt is no failure)");
    my $out = do { local (@ARGV, $/) = ($out_f); <> } // '';
    my $err = do { local (@ARGV, $/) = ($err_f); <> } // '';
    like($out, qr/\bmg\b.*\d/s, "SIG$sig: the summary is printed");
    like($err, qr/interrupted/, "SIG$sig: says it was interrupted");
    my $sj = eval { read_json($jf) };
    ok($sj, "SIG$sig: the JSON is written");
    ok($sj && $sj->{duration_s} < 5, "SIG$sig: the JSON covers the time it ran")
        or diag('duration_s ' . ($sj ? $sj->{duration_s} : 'none'));
    cmp_ok($sj ? $sj->{totals}{ops} : 0, '>', 0, "SIG$sig: with the ops done");
}

# a graceful stop waits for memcached's next clock tick; nothing is left to save
$_->stop('KILL') for ($mc, $umc);

done_testing();
