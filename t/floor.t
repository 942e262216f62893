#!/usr/bin/perl
# floor.t: bench/floor.c, the reference client bench/run.sh compares
# mcshredder with, builds and counts right: every get and mg of a preloaded
# key is a hit, a key space twice as large gives misses, TLS works with the
# certificate verified, and bad flags or an unreachable server end it with a
# one-line error.  Its speed is for bench/run.sh, not asserted here.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use MCS;

my $dir = tempdir('mcs-floor-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $floor = "$dir/floor";
my $cc = run_cmd({ timeout => 120 }, $ENV{CC} // 'cc', '-std=c11', '-O2', '-Wall', '-Wextra',
    '-Werror', '-o', $floor, repo_root() . '/bench/floor.c', '-lssl', '-lcrypto');
is($cc->{exit}, 0, 'bench/floor.c builds without warnings') or diag($cc->{err});
plan skip_all => 'bench/floor.c does not build' unless -x $floor;

sub preload {
    my ($port) = @_;
    my $r = run_mcs('--conf', repo_root() . '/bench/preload.lua', '--server', "127.0.0.1:$port",
        '--threads', '1', '--keys', '1000', '--quiet');
    is($r->{exit}, 0, "preload 1000 keys through port $port") or diag($r->{err});
}

# floor(@args) -> (requests, hits, misses, result)
sub floor {
    my $r = run_cmd({ timeout => 30 }, $floor, '--duration', '0.5', '--keys', '1000', @_);
    my ($req, $hits, $misses) =
        $r->{out} =~ /\Arequests (\d+) hits (\d+) misses (\d+) seconds [\d.]+\n\z/;
    return ($req // -1, $hits // -1, $misses // -1, $r);
}

sub all_hits {
    my ($what, @args) = @_;
    my ($req, $hits, $misses, $r) = floor(@args);
    ok($r->{exit} == 0 && $req > 0 && $hits == $req && $misses == 0,
        "$what: $req requests, all hits") or diag("exit $r->{exit}: $r->{out}$r->{err}");
}

my $mc = start_memcached();
my $port = $mc->port;
preload($port);
all_hits('get, depth 1', '--server', "127.0.0.1:$port");
all_hits('mg, depth 16', '--server', "127.0.0.1:$port", '--mode', 'mg', '--depth', '16');
{
    my ($req, $hits, $misses, $r) =
        floor('--server', "127.0.0.1:$port", '--keys', '2000', '--mode', 'mg', '--depth', '4');
    ok($r->{exit} == 0 && $hits > 0 && $misses > 0 && $hits + $misses == $req,
        "2000 keys of which 1000 stored: hits ($hits) and misses ($misses)")
        or diag("exit $r->{exit}: $r->{out}$r->{err}");
}

my $closed = free_port();
{
    my (undef, undef, undef, $r) = floor('--server', "127.0.0.1:$closed");
    is($r->{exit}, 1, 'an unreachable server: exit 1');
    like($r->{err}, qr/\Afloor: connect to 127\.0\.0\.1:$closed: Connection refused\n\z/,
        '... and one line naming it');
}
for my $bad (['--depth', '0'], ['--mode', 'set'], ['--bogus'], ['--clients']) {
    my (undef, undef, undef, $r) = floor('--server', "127.0.0.1:$port", @$bad);
    ok($r->{exit} == 2 && $r->{err} =~ /\Afloor: .*\Q$bad->[0]\E.*\n\z/,
        "bad flag @$bad: exit 2, one line naming it") or diag("exit $r->{exit}: $r->{err}");
}

SKIP: {
    skip 'memcached has no TLS support (-Z)', 4 unless memcached_has_tls();
    my $tls = start_memcached(tls => 1);
    preload($tls->plain_port);
    my @srv = ('--server', '127.0.0.1:' . $tls->port, '--tls', '--tls-ca', $tls->ca);
    all_hits('TLS get, depth 1', @srv);
    all_hits('TLS mg, depth 16', @srv, '--mode', 'mg', '--depth', '16');
    my (undef, undef, undef, $r) =
        floor('--server', '127.0.0.1:' . $tls->port, '--tls', '--tls-ca', $tls->server_cert);
    ok($r->{exit} == 1 && $r->{err} =~ /\Afloor: TLS handshake: .*certificate.*\n\z/,
        'a certificate from another CA: exit 1, the reason in one line')
        or diag("exit $r->{exit}: $r->{err}");
}

done_testing();
