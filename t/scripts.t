#!/usr/bin/perl
# scripts.t: the workload library in scripts/ (getset, meta_mix,
# warm_measure, hotkeys, bigvalues, churn, conn_churn, validate_sweep,
# stats_sampler): each one runs for about a second against a fresh
# memcached and gives what it promises; --help lists every argument the
# script reads, and docs/scripts.md documents each of them; bad arguments
# are refused.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP ();
use MCS;

my $ROOT = repo_root();
my $TMP = tempdir('mcs-scripts-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $json_n = 0;

my @SCRIPTS = qw(getset meta_mix warm_measure hotkeys bigvalues churn conn_churn
                 validate_sweep stats_sampler);

sub script { return "$ROOT/scripts/$_[0].lua" }

# run_script($mc, $name, $args, @flags) -> (result, JSON or undef)
sub run_script {
    my ($mc, $name, $args, @flags) = @_;
    my $jf = sprintf '%s/r%d.json', $TMP, ++$json_n;
    my $res = run_mcs({ timeout => 30 }, '--conf', script($name), '--server', $mc->addr,
        '--json', $jf, (defined $args ? ('--arg', $args) : ()), @flags);
    my $j = -e $jf ? eval { read_json($jf) } : undef;
    return ($res, $j);
}

sub wl {
    my ($j, $name) = @_;
    return (grep { $_->{name} eq $name } @{ $j ? $j->{workloads} : [] })[0];
}

sub diag_run {
    my ($r) = @_;
    diag("command: $r->{cmd}");
    diag('exit: ' . ($r->{exit} // 'signal ' . $r->{signal})
         . ($r->{timed_out} ? ' (timed out)' : '') . ", elapsed $r->{elapsed}");
    diag("stdout: $r->{out}") if length $r->{out};
    diag("stderr: $r->{err}") if length $r->{err};
}

# The checks every run shares: exit code, the named workloads in the JSON
# with requests and no errors, and the command kinds of $main.
sub ran_ok {
    my ($label, $r, $j, $main, $kinds, %opt) = @_;
    my $ok = is($r->{exit}, $opt{exit} // 0, "$label: exit " . ($opt{exit} // 0));
    $ok &= ok(!$r->{timed_out}, "$label: ended by itself");
    $ok &= ok($j, "$label: JSON written");
    my $w = wl($j, $main);
    $ok &= ok($w && $w->{ops} > 0, "$label: workload $main did requests ("
              . ($w ? $w->{ops} : 'none') . ')');
    $ok &= is($j && $j->{totals}{errors}, 0, "$label: no errors")
        or diag(JSON::PP->new->canonical->encode($j ? $j->{totals}{errors_by_kind} : {}));
    if ($kinds) {
        $ok &= is_deeply([sort keys %{ $w ? $w->{commands} : {} }], [sort @$kinds],
                         "$label: command kinds @$kinds");
    }
    diag_run($r) unless $ok;
    return $w;
}

sub hit_ratio {
    my ($w) = @_;
    return 0 unless $w && $w->{hits} + $w->{misses} > 0;
    return $w->{hits} / ($w->{hits} + $w->{misses});
}

# The arguments a script documents: the names in its ARGS table.
sub script_args {
    my ($name) = @_;
    open my $fh, '<', script($name) or die script($name) . ": $!";
    my $text = do { local $/; <$fh> };
    my ($table) = $text =~ /^local ARGS = \{\n(.*?)^\}/ms;
    return $table ? ($table =~ /^\s*\{ "(\w+)",/mg) : ();
}

my $DOC = do {
    open my $fh, '<', "$ROOT/docs/scripts.md" or die "docs/scripts.md: $!";
    local $/;
    <$fh>;
};

# ---- --help and docs -------------------------------------------------------------

for my $name (@SCRIPTS) {
    my @args = script_args($name);
    cmp_ok(scalar @args, '>=', 3, "$name: the script lists its arguments");
    my $r = run_mcs({ timeout => 10 }, '--conf', script($name), '--help');
    is($r->{exit}, 0, "$name --help: exit 0") or diag_run($r);
    my ($help) = $r->{out} =~ /^Script options:\n(.*)\z/ms;
    ok(defined $help, "$name --help: has the script's options") or next;
    my @missing = grep { $help !~ /^  \Q$_\E +\S.*\(default: [^)]*\)/m } @args;
    is("@missing", '', "$name --help: every argument with its default");
    my ($section) = $DOC =~ /^## \Q$name\E\.lua\n(.*?)(?=^## |\z)/ms;
    ok(defined $section, "docs/scripts.md: a section for $name.lua") or next;
    @missing = grep { $section !~ /`\Q$_\E`/ } @args;
    is("@missing", '', "docs/scripts.md: $name.lua documents every argument");
    like($section, qr/mcshredder .*--conf scripts\/\Q$name\E\.lua/, "docs/scripts.md: $name.lua has an example");
}

# ---- bad arguments (no server needed: config fails before any phase) -----------

{
    my $r = run_mcs({ timeout => 10 }, '--conf', script('getset'), '--server', '127.0.0.1:1',
        '--arg', 'keys=lots');
    is($r->{exit}, 2, 'bad number: exit 2');
    like($r->{err}, qr/getset\.lua: bad argument keys=lots/, 'bad number: says which argument');
    $r = run_mcs({ timeout => 10 }, '--conf', script('churn'), '--server', '127.0.0.1:1',
        '--arg', 'kyes=10');
    is($r->{exit}, 2, 'unknown argument: exit 2');
    like($r->{err}, qr/churn\.lua: unknown argument 'kyes'/, 'unknown argument: named');
    $r = run_mcs({ timeout => 10 }, '--conf', script('getset'), '--server', '127.0.0.1:1',
        '--arg', 'proto=binary');
    is($r->{exit}, 2, 'bad choice: exit 2');
    like($r->{err}, qr/bad argument proto=binary: want meta or text/, 'bad choice: says what is allowed');
    $r = run_mcs({ timeout => 10 }, '--conf', script('meta_mix'), '--server', '127.0.0.1:1',
        '--proto', 'text');
    is($r->{exit}, 2, 'meta_mix --proto text: exit 2 (meta only)');
    like($r->{err}, qr/meta_mix\.lua: bad argument proto=text/, 'meta_mix --proto text: refused');
    $r = run_mcs({ timeout => 10 }, '--conf', script('hotkeys'), '--server', '127.0.0.1:1',
        '--arg', 'miss_ratio=2');
    is($r->{exit}, 2, 'an argument of another script: exit 2');
}

# ---- getset ------------------------------------------------------------------------

subtest 'getset: preload, then a mix with miss_ratio' => sub {
    my $mc = start_memcached(threads => 2, args => ['-m', 32]);
    my ($r, $j) = run_script($mc, 'getset', 'keys=2000,miss_ratio=0.25,clients=3,duration=1',
        qw(--threads 2 --quiet));
    my $w = ran_ok('getset', $r, $j, 'getset', [qw(mg ms)]) or return;
    my $p = wl($j, 'preload');
    is($p && $p->{ops}, 2000, 'preload set each key once');
    is(mc_stats($mc)->{curr_items}, 2000,
       'every key was set, and no miss key (2 threads walked the key space together)');
    my $hr = hit_ratio($w);
    ok(abs($hr - 0.75) < 0.06, sprintf('miss_ratio=0.25: hit ratio near 75%% (%.1f%%)', 100 * $hr));

    ($r, $j) = run_script($mc, 'getset', 'keys=2000,proto=text,preload=off,clients=2,duration=0.5',
        qw(--threads 1 --quiet));
    $w = ran_ok('getset text', $r, $j, 'getset', [qw(get set)]);
    ok(!wl($j, 'preload'), 'preload=off: no preload phase');
    ok(hit_ratio($w) > 0.97, 'text, keys still there: hits ' . ($w ? $w->{hits} : 0));
};

# ---- meta_mix ------------------------------------------------------------------------

subtest 'meta_mix: mg flags, ms with a TTL, md' => sub {
    my $mc = start_memcached(args => ['-m', 32]);
    my ($r, $j) = run_script($mc, 'meta_mix', 'keys=50,ttl=120,delete_ratio=1,clients=2,duration=1',
        qw(--threads 1 --quiet));
    my $w = ran_ok('meta_mix', $r, $j, 'meta_mix', [qw(md mg ms)]) or return;
    ok($w->{hits} > 0 && $w->{misses} > 0, "hits ($w->{hits}) and misses ($w->{misses})");
    my $out = mc_cmd($mc, join('', map { "mg mcs:$_ t\r\n" } 1 .. 50) . "mn\r\n",
        until => qr/MN\r\n\z/);
    my @ttl = $out =~ /^HD t(-?\d+)\r$/mg;
    ok(@ttl > 0, 'keys stored: ' . scalar @ttl);
    is(scalar(grep { $_ < 1 || $_ > 120 } @ttl), 0, 'each with the TTL of ttl=120')
        or diag($out);
    # the response sizes show the flags: "v k t f s" answers carry k, t, f, s
    my $st = mc_stats($mc);
    cmp_ok($st->{cmd_touch} // 0, '==', 0, 'no touches');
    cmp_ok($st->{delete_hits} + $st->{delete_misses}, '>', 0, 'memcached saw the deletes');
};

# ---- warm_measure ------------------------------------------------------------------

subtest 'warm_measure: every key preloaded, gets hit ~100%' => sub {
    my $mc = start_memcached(threads => 2, args => ['-m', 32]);
    my ($r, $j) = run_script($mc, 'warm_measure', 'keys=3000,value_size=50-500,clients=4,duration=1',
        qw(--threads 2 --quiet));
    my $w = ran_ok('warm_measure', $r, $j, 'measure', ['mg']) or return;
    my $p = wl($j, 'preload');
    is($p && $p->{phase}, 1, 'preload in phase 1');
    is($w->{phase}, 2, 'measure in phase 2');
    is($p && $p->{commands}{ms} && $p->{commands}{ms}{ops}, 3000, 'preload: one ms per key');
    is(mc_stats($mc)->{curr_items}, 3000, 'all 3000 keys in memcached');
    is($w->{misses}, 0, 'measure: no misses');
    ok(hit_ratio($w) >= 0.999, sprintf('measure: hit ratio %.2f%%', 100 * hit_ratio($w)));
    unlike($r->{err}, qr/assertion failed/, 'the min_hit check passed');
};

# ---- hotkeys -----------------------------------------------------------------------

subtest 'hotkeys: zipf over a key space bigger than the cache' => sub {
    my $mc = start_memcached(args => ['-m', 8]);
    my ($r, $j) = run_script($mc, 'hotkeys', 'keys=200000,value_size=2000,clients=8,duration=1.5',
        qw(--threads 1 --quiet));
    my $w = ran_ok('hotkeys', $r, $j, 'hotkeys', [qw(mg ms)]) or return;
    ok($w->{hits} > 0 && $w->{misses} > 0, "hits ($w->{hits}) and misses ($w->{misses})");
    my $unfilled = $w->{misses} - $w->{commands}{ms}{ops};
    ok($unfilled >= 0 && $unfilled <= 8, "fill: a set per miss (but those cut off by the end: $unfilled)");
    my $hr = hit_ratio($w);
    ok($hr > 0.2 && $hr < 0.98, sprintf('a skewed, partly cached key space: hit ratio %.1f%%', 100 * $hr));
    my ($ev) = $r->{out} =~ /server hit ratio \S+ \(get_hits \d+, get_misses \d+\), evictions (\d+)/;
    ok(defined $ev, 'prints the server hit ratio and evictions') or diag($r->{out});
    cmp_ok($ev // 0, '>', 0, 'memcached -m 8 evicted');
    like($r->{out}, qr/memcached holds \d+ items/, 'prints the items held');
};

# ---- bigvalues --------------------------------------------------------------------

subtest 'bigvalues: 100 KB .. 1 MB values' => sub {
    my $mc = start_memcached(args => ['-m', 128]);
    my ($r, $j) = run_script($mc, 'bigvalues', 'keys=20,clients=2,duration=1',
        qw(--threads 1 --quiet));
    my $w = ran_ok('bigvalues', $r, $j, 'bigvalues', [qw(mg ms)]) or return;
    my $sets = $w->{commands}{ms}{ops};
    ok($w->{bytes_out} >= 100000 * $sets, "the sets carried >= 100 KB each ($sets sets)");
    ok($w->{hits} > 0, "gets hit ($w->{hits})");
    my $out = mc_cmd($mc, join('', map { "mg mcs:big:$_ s\r\n" } 1 .. 20) . "mn\r\n",
        until => qr/MN\r\n\z/);
    my @sizes = $out =~ /^HD s(\d+)\r$/mg;
    ok(@sizes > 0, 'values stored: ' . scalar @sizes);
    is(scalar(grep { $_ < 100000 || $_ > 1000000 } @sizes), 0, 'all between 100 KB and 1 MB')
        or diag("@sizes");

    ($r, $j) = run_script($mc, 'bigvalues',
        'keys=5,proto=text,validate=on,clients=1,duration=0.5',
        '--threads', 1, '--quiet', '--value-size', '200000:1,900000:1');
    $w = ran_ok('bigvalues text, weighted sizes, validated', $r, $j, 'bigvalues', [qw(get set)]);
    ok($w && $w->{validated} > 0 && $w->{validated} == $w->{hits},
       'validate=on: every hit validated (' . ($w ? $w->{validated} : 0) . ')');
    is($w && $w->{validate_mismatches}, 0, 'validate=on: no mismatches');
};

# ---- churn -------------------------------------------------------------------------

subtest 'churn: sets, gets, deletes, touches with TTLs' => sub {
    my $mc = start_memcached(args => ['-m', 32]);
    for my $proto (qw(meta text)) {
        my $before = mc_stats($mc);
        my ($r, $j) = run_script($mc, 'churn', "keys=500,ttl=2,proto=$proto,clients=2,duration=0.7",
            qw(--threads 1 --quiet));
        my $after = mc_stats($mc);
        my @kinds = $proto eq 'meta' ? qw(mg ms md touch) : qw(get set delete touch);
        my $w = ran_ok("churn $proto", $r, $j, 'churn', \@kinds) or next;
        my %d = map { $_ => ($after->{$_} // 0) - ($before->{$_} // 0) }
            qw(cmd_touch touch_hits delete_hits cmd_set);
        cmp_ok($d{cmd_touch}, '>', 0, "$proto: memcached counted touches ($d{cmd_touch})");
        cmp_ok($d{touch_hits}, '>', 0, "$proto: some touched keys existed");
        cmp_ok($d{delete_hits}, '>', 0, "$proto: some deletes removed a key");
        my $ops = $w->{ops};
        my $sets = $w->{commands}{$kinds[1]}{ops};
        ok($sets > 0.3 * $ops && $sets < 0.5 * $ops, "$proto: sets about 4 in 10 ($sets of $ops)");
    }
};

# ---- conn_churn ------------------------------------------------------------------

subtest 'conn_churn: a reconnect every run' => sub {
    my $mc = start_memcached(args => ['-m', 32]);
    mc_stats($mc);
    my $before = mc_stats($mc);
    my ($r, $j) = run_script($mc, 'conn_churn', 'clients=4,requests=2,duration=1',
        qw(--threads 1 --quiet));
    my $after = mc_stats($mc);
    my $w = ran_ok('conn_churn', $r, $j, 'conn_churn', ['mg']) or return;
    cmp_ok($w->{reconnects}, '>', 100, "reconnects ($w->{reconnects})");
    is($w->{connects}, $w->{reconnects} + 4, 'connects = reconnects + one first connect per client');
    ok($w->{runs} >= $w->{reconnects} - 4 && $w->{runs} <= $w->{connects},
       "a connection per run ($w->{runs} runs)");
    is($w->{ops}, 2 * $w->{runs}, 'requests=2: two gets per connection');
    my $conns = $after->{total_connections} - $before->{total_connections} - 1;
    ok($conns >= $w->{connects} - 4, "memcached accepted them ($conns)");

    ($r, $j) = run_script($mc, 'conn_churn', 'clients=2,reconn_every=5,duration=0.5',
        qw(--threads 1 --quiet));
    $w = ran_ok('conn_churn reconn_every=5', $r, $j, 'conn_churn', ['mg']);
    ok($w && abs($w->{connects} - $w->{runs} / 5) <= 4,
       'reconn_every=5: a connection per 5 runs') if $w;
};

SKIP: {
    skip('memcached has no TLS support (-Z)', 1) unless memcached_has_tls();
    my $probe = run_mcs({ timeout => 10 }, '--server', '127.0.0.1:1', '--tls', '--tls-insecure',
        '--duration', '0.1', '--quiet');
    skip('mcshredder was built without TLS', 1) if $probe->{err} =~ /built without TLS/;
    subtest 'conn_churn over TLS: a handshake per connection' => sub {
        my $mc = start_memcached(tls => 1);
        my ($r, $j) = run_script($mc, 'conn_churn', 'clients=2,duration=1',
            qw(--threads 1 --quiet --tls --tls-ca), $mc->ca);
        my $w = ran_ok('conn_churn TLS', $r, $j, 'conn_churn', ['mg']) or return;
        cmp_ok($w->{reconnects}, '>', 20, "reconnects ($w->{reconnects})");
        is($w->{tls}{handshakes}, $w->{connects}, 'one TLS handshake per connect');
        cmp_ok($w->{tls}{resumed}, '>=', $w->{reconnects} - 2, 'reconnects resumed their session');
    };
}

# ---- validate_sweep -------------------------------------------------------------

subtest 'validate_sweep: write all, read all back, validated' => sub {
    my $mc = start_memcached(threads => 2, args => ['-m', 64]);
    for my $proto (qw(meta text)) {
        mc_cmd($mc, "flush_all\r\n");
        my ($r, $j) = run_script($mc, 'validate_sweep', "keys=3000,value_size=10-3000,proto=$proto",
            qw(--threads 2 --quiet));
        my @kinds = $proto eq 'meta' ? ('mg') : ('get');
        my $w = ran_ok("validate_sweep $proto", $r, $j, 'sweep_read', \@kinds) or next;
        my $wr = wl($j, 'sweep_write');
        is($wr && $wr->{ops}, 3000, "$proto: wrote every key once");
        is($w->{misses}, 0, "$proto: no read missed");
        is($w->{hits}, 3000, "$proto: read every key once");
        is($w->{validated}, 3000, "$proto: validated every value");
        is($w->{validate_mismatches}, 0, "$proto: no mismatches");
        unlike($r->{err}, qr/mismatch|assertion failed/, "$proto: nothing to report");
    }
    # nothing was written under this prefix: every read misses, exit 1
    my ($r, $j) = run_script($mc, 'validate_sweep', 'keys=100,write=off,key_prefix=none:',
        qw(--threads 1 --quiet));
    is($r->{exit}, 1, 'write=off on missing keys: exit 1') or diag_run($r);
    like($r->{err}, qr/assertion failed: sweep_read:misses<=0/, 'write=off: the misses are reported');
};

# ---- stats_sampler ----------------------------------------------------------------

subtest 'stats_sampler: server deltas beside the live line' => sub {
    my $mc = start_memcached(args => ['-m', 32]);
    my ($r, $j) = run_script($mc, 'stats_sampler', 'interval=300ms,clients=2,duration=1.3',
        qw(--threads 1));
    my $w = ran_ok('stats_sampler', $r, $j, 'load', [qw(mg ms)]) or return;
    my $s = wl($j, 'sampler');
    ok($s && $s->{commands}{other}{ops} >= 3, 'the sampler sent stats ('
       . ($s && $s->{commands}{other} ? $s->{commands}{other}{ops} : 0) . ')');
    my @lines = $r->{err} =~ /^(server \[.*)$/mg;
    cmp_ok(scalar @lines, '>=', 2, 'a sample line per interval on stderr') or diag($r->{err});
    my @names = qw(cmd_get cmd_set get_hits get_misses curr_connections bytes_read
                   bytes_written evictions);
    my @missing = grep { my $n = $_; grep { $_ !~ /\b$n [+-]?\d+/ } @lines } @names;
    is("@missing", '', 'every line has every counter');
    my @gets = map { /cmd_get \+(\d+)/ ? $1 : 0 } @lines;
    ok((grep { $_ > 0 } @gets), "cmd_get moved: @gets");
    like($lines[0], qr/curr_connections [3-9]\b/, 'curr_connections as a value (2 load clients + the sampler + ...)');
    like($r->{err}, qr/ops\/s/, 'the live line is there too');

    ($r, $j) = run_script($mc, 'stats_sampler', 'interval=250ms,stats=cmd_get curr_items,to=stdout,duration=0.8,clients=1',
        qw(--threads 1 --quiet));
    ran_ok('stats_sampler stats=, to=stdout', $r, $j, 'load', [qw(mg ms)]);
    like($r->{out}, qr/^server \[.*\] cmd_get \+\d+ curr_items \d+$/m, 'stats= picks the counters, to=stdout');
};

done_testing();
