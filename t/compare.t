#!/usr/bin/perl
# compare.t: `mcshredder compare BASE.json NEW.json` (scripts/compare.lua),
# the baseline comparison for CI jobs.  Real results from runs against a
# memcached started here, compared with themselves and with doctored copies;
# then small hand-written files for exact numbers, zero baselines, missing
# keys, the JSON decoder, --json output, and the usage and input errors
# (exit 2, one line on stderr).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP ();
use MCS;

my $TMP = tempdir('mcs-compare-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $JSON = JSON::PP->new->canonical->pretty;

# write_file($name, $text) -> path; write_json($name, $data) -> path
sub write_file {
    my ($name, $text) = @_;
    my $path = "$TMP/$name";
    open my $fh, '>:raw', $path or die "$path: $!";
    print $fh $text;
    close $fh;
    return $path;
}
sub write_json { my ($name, $data) = @_; return write_file($name, $JSON->encode($data)) }

sub deep_copy { return JSON::PP::decode_json(JSON::PP::encode_json($_[0])) }

# compare(@args) -> run_mcs result of `mcshredder compare @args`
sub compare { return run_mcs({ timeout => 20 }, 'compare', @_) }

# The table row of $metric in the section titled $title, as
# [base, new, change, verdict], or undef.
sub row {
    my ($out, $title, $metric) = @_;
    my ($section) = $out =~ /^\Q$title\E\n(.*?)(?:\n\n|\z)/ms or return undef;
    for my $line (split /\n/, $section) {
        my @f = $line =~ /^  (\S+(?: \S+)?)\s{2,}(\S+)\s+(\S+)\s+(\S*)\s+(\S+)$/ or next;
        return [@f[1 .. 4]] if $f[0] eq $metric;
    }
    return undef;
}

# cell(out, title, metric, i): one cell of row(), or undef
sub cell {
    my ($out, $title, $metric, $i) = @_;
    my $r = row($out, $title, $metric);
    return $r ? $r->[$i] : undef;
}

# stderr is one line, nothing on stdout, exit 2
sub input_error {
    my ($r, $name, @want) = @_;
    is($r->{exit}, 2, "$name: exit 2");
    is($r->{out}, '', "$name: nothing on stdout");
    my @lines = split /\n/, $r->{err};
    is(scalar @lines, 1, "$name: one line on stderr") or diag($r->{err});
    like($lines[0] // '', qr/^mcshredder compare: /, "$name: the line says who");
    like($lines[0] // '', $_, "$name: the line names the cause ($_)") for @want;
}

# ---- a real result -------------------------------------------------------------------

my $mc = start_memcached();
my $base_path = "$TMP/base.json";
my $run = run_mcs({ timeout => 20 }, '--server', $mc->addr, qw(--threads 1 --clients 2
    --duration 1 --keys 500 --quiet --json), $base_path);
is($run->{exit}, 0, 'real run: exit 0') or diag($run->{err});
my $base = read_json($base_path);
my ($wname, $wphase) = ($base->{workloads}[0]{name}, $base->{workloads}[0]{phase});
my $title = "workload $wname (phase $wphase)";
cmp_ok($base->{workloads}[0]{ops_per_sec}, '>', 0, 'real run: some throughput');

my $r = compare($base_path, $base_path);
is($r->{exit}, 0, 'self: exit 0');
is($r->{err}, '', 'self: nothing on stderr');
like($r->{out}, qr/\nno regressions\n\z/, 'self: ends with "no regressions"');
unlike($r->{out}, qr/REGRESSION|better/, 'self: no verdict but ok');
like($r->{out}, qr/^\Q$title\E$/m, 'self: a table for the workload');
like($r->{out}, qr/^totals$/m, 'self: a table for the totals');
like($r->{out}, qr/^  metric +base +new +change +verdict$/m, 'self: the header row');
for my $m ('ops/s', 'p50', 'p90', 'p99', 'p99.9', 'max', 'errors', 'hit ratio',
           'mg ops/s', 'mg p99', 'ms ops/s', 'ms p99') {
    my $row = row($r->{out}, $title, $m);
    ok($row, "self: row $m") or next;
    is($row->[3], $m eq 'max' ? '-' : 'ok', "self: $m verdict");
}
like(cell($r->{out}, $title, 'p50', 0) // '', qr/^[\d.]+(?:µs|ms|s)$/,
     'self: latency with a unit');
is(cell($r->{out}, $title, 'p99', 2), '+0.0%', 'self: change +0.0%');
is(cell($r->{out}, $title, 'hit ratio', 2), '+0.0pp', 'self: hit ratio change in points');

$r = compare('--quiet', $base_path, $base_path);
is($r->{exit}, 0, 'self --quiet: exit 0');
is($r->{out}, "no regressions\n", 'self --quiet: only the summary');

# ---- a doctored copy: slower, worse p99, errors ------------------------------------

my $bad = deep_copy($base);
for my $s ($bad->{workloads}[0], $bad->{totals}) {
    $s->{ops_per_sec} /= 2;
    $s->{latency_us}{p99} *= 3;
    $s->{errors} += 7;
    $s->{errors_by_kind}{timeout} += 7;
}
my $bad_path = write_json('bad.json', $bad);
$r = compare($base_path, $bad_path);
is($r->{exit}, 1, 'doctored: exit 1');
is($r->{err}, '', 'doctored: nothing on stderr');
for my $m ('ops/s', 'p99', 'errors') {
    for my $t ($title, 'totals') {
        is(cell($r->{out}, $t, $m, 3), 'REGRESSION', "doctored: $t $m is a REGRESSION");
    }
}
is(cell($r->{out}, $title, 'ops/s', 2), '-50.0%', 'doctored: ops/s -50.0%');
is(cell($r->{out}, $title, 'p99', 2), '+200.0%', 'doctored: p99 +200.0%');
is(cell($r->{out}, $title, 'errors', 1), '7', 'doctored: 7 errors');
is(cell($r->{out}, $title, 'p50', 3), 'ok', 'doctored: p50 untouched, ok');
like($r->{out}, qr/\n6 regressions\n\z/, 'doctored: "6 regressions" at the end');

$r = compare('--quiet', $base_path, $bad_path);
is($r->{exit}, 1, 'doctored --quiet: exit 1');
my @lines = split /\n/, $r->{out};
is(scalar @lines, 7, 'doctored --quiet: 6 regression lines and the summary');
is(scalar(grep { /^REGRESSION / } @lines), 6, 'doctored --quiet: each starts with REGRESSION');
like($r->{out}, qr/^REGRESSION \Q$title\E: ops\/s \S+ -> \S+ \(-50\.0%, tolerance 10%\)$/m,
     'doctored --quiet: the ops/s line');
like($r->{out}, qr/^REGRESSION totals: p99 \S+ -> \S+ \(\+200\.0%, tolerance 10%\)$/m,
     'doctored --quiet: the totals p99 line');
like($r->{out}, qr/^REGRESSION \Q$title\E: errors 0 -> 7 \(none in BASE\)$/m,
     'doctored --quiet: errors from 0');
is($lines[-1], '6 regressions', 'doctored --quiet: the summary last');

# the other way round, everything improved
$r = compare($bad_path, $base_path);
is($r->{exit}, 0, 'improved: exit 0');
for my $m ('ops/s', 'p99', 'errors') {
    is(cell($r->{out}, $title, $m, 3), 'better', "improved: $m is better");
}
is(cell($r->{out}, $title, 'ops/s', 2), '+100.0%', 'improved: ops/s +100.0%');
is(cell($r->{out}, $title, 'errors', 2), '-100.0%', 'improved: errors -100.0%');
like($r->{out}, qr/\nno regressions, 6 improvements\n\z/, 'improved: the summary counts them');

# ---- tolerance flags ------------------------------------------------------------------

my $slow = deep_copy($base);
for my $s ($slow->{workloads}[0], $slow->{totals}) {
    $s->{latency_us}{p99} *= 3;
    $s->{ops_per_sec} *= 0.55;
}
my $slow_path = write_json('slow.json', $slow);
my @tol_cases = (
    # [args, exit]
    [[], 1],
    [['--tolerance', '250%'], 0],
    [['--tolerance', '250'], 0],
    [['--tolerance=250%'], 0],
    [['--tolerance-latency', '250%'], 1],               # ops/s -45% still fails
    [['--tolerance-latency', '250%', '--tolerance-throughput', '50%'], 0],
    [['--tolerance-throughput', '50', '--tolerance-latency=199'], 1],
    [['--tolerance', '5', '--tolerance-latency', '201', '--tolerance-throughput', '46%'], 0],
    [['--tolerance-latency', '201', '--tolerance-throughput', '46%', '--tolerance', '5'], 0],
);
for my $c (@tol_cases) {
    my ($args, $exit) = @$c;
    $r = compare(@$args, $base_path, $slow_path);
    is($r->{exit}, $exit, "tolerance @$args: exit $exit") or diag($r->{out}, $r->{err});
}
$r = compare('--tolerance-latency', '250%', $base_path, $slow_path);
is(cell($r->{out}, $title, 'p99', 3), 'ok', '--tolerance-latency 250%: p99 ok');
is(cell($r->{out}, $title, 'ops/s', 3), 'REGRESSION', '--tolerance-latency 250%: ops/s still judged at 10%');
like($r->{out}, qr/^tolerance: throughput 10%, latency 250%, errors 10%, hit ratio 10pp$/m,
     'the tolerances are printed');
$r = compare('--tolerance', '0.5', $base_path, $base_path);
is($r->{exit}, 0, '--tolerance 0.5: exit 0');
like($r->{err}, qr/^mcshredder compare: note: --tolerance 0\.5 means 0\.5%, not 50%\n\z/,
     '--tolerance 0.5: a note that it is 0.5%');

$r = compare('--tolerance', '100', $base_path, $base_path);
is($r->{exit}, 0, '--tolerance 100: exit 0');
like($r->{err}, qr/^mcshredder compare: note: with a throughput tolerance of 100%, (?x)
                   no\ drop\ in\ ops\/s\ can\ be\ a\ regression$/m,
     '--tolerance 100: a note that ops/s cannot fail');
like($r->{err}, qr/^mcshredder compare: note: with a tolerance of 100%, (?x)
                   no\ drop\ in\ the\ hit\ ratio\ can\ be\ a\ regression$/m,
     '--tolerance 100: a note that the hit ratio cannot fail');
$r = compare('--tolerance-throughput', '150%', $base_path, $base_path);
is(scalar(() = $r->{err} =~ /\n/g), 1, '--tolerance-throughput 150%: only the throughput note');
$r = compare('--tolerance-throughput', '99.9', '--tolerance', '99', $base_path, $base_path);
is($r->{err}, '', 'tolerances below 100%: no note');

# ---- workloads added and removed -------------------------------------------------------

my $more = deep_copy($base);
push @{ $more->{workloads} }, { %{ deep_copy($base->{workloads}[0]) }, name => 'extra', phase => 2 };
my $more_path = write_json('more.json', $more);
$r = compare($base_path, $more_path);
is($r->{exit}, 0, 'added: exit 0 (not a regression)');
like($r->{out}, qr/^added: workload extra \(phase 2\) is only in NEW \(not compared, not a regression\)$/m,
     'added: reported');
like($r->{out}, qr/\nno regressions; workloads not compared: 1 added\n\z/, 'added: in the summary');
$r = compare($more_path, $base_path);
is($r->{exit}, 0, 'removed: exit 0');
like($r->{out}, qr/^removed: workload extra \(phase 2\) is only in BASE/m, 'removed: reported');
$r = compare('--quiet', $more_path, $base_path);
is($r->{out}, "no regressions; workloads not compared: 1 removed\n",
   'removed --quiet: the summary says so');

# another run of the same workload is matched with the first
my $again_path = "$TMP/again.json";
$run = run_mcs({ timeout => 20 }, '--server', $mc->addr, qw(--threads 1 --clients 2
    --duration 1 --keys 500 --quiet --json), $again_path);
is($run->{exit}, 0, 'second real run: exit 0');
$r = compare('--tolerance', '1000%', $base_path, $again_path);
ok($r->{exit} == 0 || $r->{exit} == 1, 'second run: compared (exit 0 or 1)') or diag($r->{err});
like($r->{out}, qr/^\Q$title\E$/m, 'second run: the workload is matched');
unlike($r->{out}, qr/^(?:added|removed):/m, 'second run: nothing added or removed');
$mc->stop;

# ---- exact numbers on hand-written files ------------------------------------------------

# stats(%override): a stats group with round numbers
sub stats {
    my (%o) = @_;
    my %s = (
        ops_per_sec => 1000, errors => 0, hits => 90, misses => 10,
        latency_us => { p50 => 100, p90 => 200, p99 => 400, p999 => 800, max => 5000, mean => 120 },
        commands => { get => { ops_per_sec => 800, latency_us => { p99 => 400 } } },
    );
    for my $k (keys %o) {
        if ($k =~ /^(\w+)\.(\w+)$/) { $s{$1}{$2} = $o{$k} }
        else { $s{$k} = $o{$k} }
    }
    return \%s;
}
sub result {
    my (@workloads) = @_;
    return { version => 1, duration_s => 1, workloads => \@workloads, totals => stats() };
}

my $a_path = write_json('a.json', result({ name => 'w', phase => 1, %{ stats() } }));
my $b_path = write_json('b.json', result({ name => 'w', phase => 1, %{ stats(
    ops_per_sec => 900,             # -10.0%: exactly the tolerance, ok
    'latency_us.p50' => 111,        # +11%: regression
    'latency_us.p90' => 180,        # -10%: ok
    'latency_us.p99' => 300,        # -25%: better
    'latency_us.max' => 50000,      # x10: shown, never judged
    hits => 79, misses => 21,       # 90% -> 79%: -11 points, regression
) } }));
$r = compare($a_path, $b_path);
my $t = 'workload w (phase 1)';
is($r->{exit}, 1, 'exact: exit 1');
is_deeply(row($r->{out}, $t, 'ops/s'), ['1,000', '900', '-10.0%', 'ok'], 'exact: ops/s -10% is ok at 10%');
is_deeply(row($r->{out}, $t, 'p50'), ['100.0µs', '111.0µs', '+11.0%', 'REGRESSION'], 'exact: p50 +11%');
is_deeply(row($r->{out}, $t, 'p90'), ['200.0µs', '180.0µs', '-10.0%', 'ok'], 'exact: p90 -10% ok');
is_deeply(row($r->{out}, $t, 'p99'), ['400.0µs', '300.0µs', '-25.0%', 'better'], 'exact: p99 better');
is_deeply(row($r->{out}, $t, 'p99.9'), ['800.0µs', '800.0µs', '+0.0%', 'ok'], 'exact: p99.9 same');
is_deeply(row($r->{out}, $t, 'max'), ['5.00ms', '50.00ms', '+900.0%', '-'], 'exact: max never judged');
is_deeply(row($r->{out}, $t, 'hit ratio'), ['90.0%', '79.0%', '-11.0pp', 'REGRESSION'],
          'exact: hit ratio in points');
is_deeply(row($r->{out}, $t, 'get ops/s'), ['800', '800', '+0.0%', 'ok'], 'exact: get ops/s');
is_deeply(row($r->{out}, $t, 'get p99'), ['400.0µs', '400.0µs', '+0.0%', 'ok'], 'exact: get p99');
like($r->{out}, qr/\n2 regressions, 1 improvement\n\z/, 'exact: "2 regressions, 1 improvement"');
$r = compare('--tolerance', '12', $a_path, $b_path);
is($r->{exit}, 0, 'exact --tolerance 12: exit 0');
like($r->{out}, qr/\nno regressions, 1 improvement\n\z/, 'exact --tolerance 12: p99 -25% still better');
$r = compare('--tolerance', '9.99%', $a_path, $b_path);
is(cell($r->{out}, $t, 'ops/s', 3), 'REGRESSION', 'exact --tolerance 9.99%: ops/s -10% fails');

# --json OUT
my $out_path = "$TMP/cmp.json";
$r = compare($a_path, $b_path, '--json', $out_path);
is($r->{exit}, 1, '--json: exit code unchanged');
my $cj = eval { read_json($out_path) };
ok($cj, '--json: written, valid JSON') or diag($@);
SKIP: {
    skip('no --json output', 14) unless $cj;
    is($cj->{version}, 1, '--json: version 1');
    is($cj->{base}, $a_path, '--json: base');
    is($cj->{new}, $b_path, '--json: new');
    is_deeply($cj->{tolerance}, { throughput => 10, latency => 10, other => 10 }, '--json: tolerance');
    is($cj->{regressions}, 2, '--json: regressions 2');
    is($cj->{improvements}, 1, '--json: improvements 1');
    my $w = $cj->{workloads}[0];
    is_deeply([@$w{qw(name phase occurrence status)}], ['w', 1, 1, 'compared'], '--json: the workload');
    my %m = map { $_->{metric} => $_ } @{ $w->{metrics} };
    is_deeply([sort keys %m], [sort qw(ops_per_sec latency_us.p50 latency_us.p90 latency_us.p99
        latency_us.p999 latency_us.max errors hit_ratio commands.get.ops_per_sec
        commands.get.latency_us.p99)], '--json: every metric');
    is_deeply($m{ops_per_sec}, { metric => 'ops_per_sec', base => 1000, new => 900, change => -10,
        change_unit => 'percent', tolerance => 10, verdict => 'ok' }, '--json: ops_per_sec');
    is($m{'latency_us.p50'}{verdict}, 'regression', '--json: p50 regression');
    is($m{'latency_us.p99'}{verdict}, 'better', '--json: p99 better');
    is_deeply([@{ $m{'latency_us.max'} }{qw(verdict tolerance)}], ['info', undef], '--json: max info');
    is_deeply([@{ $m{hit_ratio} }{qw(base new change_unit verdict)}], [0.9, 0.79, 'points', 'regression'],
              '--json: hit ratio');
    ok(abs($m{hit_ratio}{change} + 11) < 1e-6, '--json: hit ratio change -11 points');
    is($cj->{totals}{status}, 'compared', '--json: totals compared');
}

# ---- zero baselines -------------------------------------------------------------------

my $z_path = write_json('zero.json', result(
    { name => 'errs', phase => 1, %{ stats(errors => 0) } },
    { name => 'idle', phase => 1, %{ stats(ops_per_sec => 0, hits => 0, misses => 0,
        latency_us => { map { $_ => 0 } qw(p50 p90 p99 p999 max mean) }, commands => {}) } },
    { name => 'some', phase => 1, %{ stats(errors => 10) } },
    { name => 'more', phase => 1, %{ stats(errors => 10) } },
));
my $z2_path = write_json('zero2.json', result(
    { name => 'errs', phase => 1, %{ stats(errors => 3) } },
    { name => 'idle', phase => 1, %{ stats() } },
    { name => 'some', phase => 1, %{ stats(errors => 11) } },
    { name => 'more', phase => 1, %{ stats(errors => 12) } },
));
$r = compare($z_path, $z2_path);
is($r->{exit}, 1, 'zero: exit 1');
is_deeply(row($r->{out}, 'workload errs (phase 1)', 'errors'), ['0', '3', 'n/a', 'REGRESSION'],
          'zero: errors 0 -> 3 is a regression');
is_deeply(row($r->{out}, 'workload idle (phase 1)', 'ops/s'), ['0.0', '1,000', 'n/a', 'better'],
          'zero: ops/s 0 -> 1000 is better');
is_deeply(row($r->{out}, 'workload idle (phase 1)', 'p99'), ['0.0µs', '400.0µs', 'n/a', 'n/a'],
          'zero: a latency of 0 (nothing recorded) is not judged');
is_deeply(row($r->{out}, 'workload idle (phase 1)', 'hit ratio'), ['-', '90.0%', '', 'n/a'],
          'zero: no lookups, no hit ratio');
is_deeply(row($r->{out}, 'workload idle (phase 1)', 'get ops/s'), ['-', '800', '', 'n/a'],
          'zero: a command kind only in NEW is not judged');
is_deeply(row($r->{out}, 'workload some (phase 1)', 'errors'), ['10', '11', '+10.0%', 'ok'],
          'zero: errors 10 -> 11 is within 10%');
is_deeply(row($r->{out}, 'workload more (phase 1)', 'errors'), ['10', '12', '+20.0%', 'REGRESSION'],
          'zero: errors 10 -> 12 is not');
like($r->{out}, qr/\n2 regressions, 1 improvement\n\z/, 'zero: the summary');
$r = compare($z_path, $z_path);
is($r->{exit}, 0, 'zero vs itself: exit 0');
is_deeply(row($r->{out}, 'workload idle (phase 1)', 'ops/s'), ['0.0', '0.0', '+0.0%', 'ok'],
          'zero vs itself: 0 -> 0 is ok');

# ---- missing keys (older or hand-written files) --------------------------------------------

my $old_path = write_json('old.json', { version => 1, workloads => [
    { name => 'w', phase => 1, ops_per_sec => 1000, latency_us => { p50 => 100, p99 => 400 } },
] });
$r = compare($old_path, $a_path);
is($r->{exit}, 0, 'old file: exit 0') or diag($r->{err});
is($r->{err}, '', 'old file: nothing on stderr');
is_deeply(row($r->{out}, $t, 'p99'), ['400.0µs', '400.0µs', '+0.0%', 'ok'], 'old file: p99 compared');
is_deeply(row($r->{out}, $t, 'p90'), ['-', '200.0µs', '', 'n/a'], 'old file: no p90, not judged');
is_deeply(row($r->{out}, $t, 'errors'), ['-', '0', '', 'n/a'], 'old file: no errors, not judged');
is_deeply(row($r->{out}, $t, 'get p99'), ['-', '400.0µs', '', 'n/a'], 'old file: no commands');
like($r->{out}, qr/^added: totals is only in NEW/m, 'old file: no totals, said so');
my $bare_path = write_json('bare.json', { version => 1, workloads => [{ name => 'w', phase => 1 }] });
$r = compare($bare_path, $bare_path);
is($r->{exit}, 0, 'only names: exit 0');
is(row($r->{out}, $t, 'ops/s'), undef, 'only names: no rows for metrics in neither file');

# ---- matching: duplicates, phases, escaped names ------------------------------------------

my $dup_path = write_json('dup.json', result(
    { name => 'w', phase => 1, %{ stats(ops_per_sec => 100) } },
    { name => 'w', phase => 1, %{ stats(ops_per_sec => 200) } },
    { name => 'w', phase => 2, %{ stats(ops_per_sec => 300) } },
));
my $dup2_path = write_json('dup2.json', result(
    { name => 'w', phase => 2, %{ stats(ops_per_sec => 300) } },
    { name => 'w', phase => 1, %{ stats(ops_per_sec => 100) } },
    { name => 'w', phase => 1, %{ stats(ops_per_sec => 100) } },
));
$r = compare($dup_path, $dup2_path);
is($r->{exit}, 1, 'duplicates: exit 1');
is_deeply(row($r->{out}, 'workload w (phase 1)', 'ops/s'), ['100', '100', '+0.0%', 'ok'],
          'duplicates: the first (w, 1) with the first');
is_deeply(row($r->{out}, 'workload w (phase 1, #2)', 'ops/s'), ['200', '100', '-50.0%', 'REGRESSION'],
          'duplicates: the second with the second');
is_deeply(row($r->{out}, 'workload w (phase 2)', 'ops/s'), ['300', '300', '+0.0%', 'ok'],
          'duplicates: phase 2 with phase 2, whatever the order');

# The decoder: \u escapes (a surrogate pair too), every escape, nesting,
# true/false/null, numbers with exponents, whitespace everywhere.
my $esc_path = write_file('esc.json', <<'JSON');
 { "version" : 1.0 , "x": [true, false, null, [], {}, [[1e2, -0.5E-1, 2e+0]], "\"\\\/\b\f\n\r\t"],
   "workloads": [ { "name": "caf\u00e9 \ud83d\ude00", "phase": 1, "ops_per_sec": 1.5e3,
                    "errors": null, "latency_us": { "p99": 4E2 } } ] }
JSON
my $utf_path = write_file('utf.json', qq({"version":1,"workloads":[{"name":"caf\xc3\xa9 \xf0\x9f\x98\x80",)
    . qq("phase":1,"ops_per_sec":1500,"latency_us":{"p99":400}}]}\n));
$r = compare($esc_path, $utf_path);
is($r->{exit}, 0, 'escapes: exit 0') or diag($r->{err});
is_deeply(row($r->{out}, "workload caf\xc3\xa9 \xf0\x9f\x98\x80 (phase 1)", 'ops/s'),
          ['1,500', '1,500', '+0.0%', 'ok'], 'escapes: \u00e9 and a surrogate pair match the UTF-8 name');
is_deeply(row($r->{out}, "workload caf\xc3\xa9 \xf0\x9f\x98\x80 (phase 1)", 'errors'), undef,
          'escapes: null is absent');

# latency units
my $units_a = write_json('units_a.json', result({ name => 'w', phase => 1, %{ stats(
    'latency_us.p50' => 0.5, 'latency_us.p90' => 999.94, 'latency_us.p99' => 1234.5,
    'latency_us.p999' => 2_500_000) } }));
$r = compare('--tolerance', '0', $units_a, $units_a);
is(cell($r->{out}, $t, 'p50', 0), '0.5µs', 'units: 0.5µs');
is(cell($r->{out}, $t, 'p90', 0), '999.9µs', 'units: 999.9µs');
is(cell($r->{out}, $t, 'p99', 0), '1.23ms', 'units: 1.23ms');
is(cell($r->{out}, $t, 'p99.9', 0), '2.50s', 'units: 2.50s');
is($r->{exit}, 0, '--tolerance 0: no change is no regression');

# ---- usage and input errors -----------------------------------------------------------

for my $flag (qw(--help -h)) {
    $r = compare($flag);
    is($r->{exit}, 0, "$flag: exit 0");
    like($r->{out}, qr/^usage: mcshredder compare BASE\.json NEW\.json/, "$flag: usage first");
    like($r->{out}, qr/\Q$_\E/, "$flag: mentions $_")
        for qw(--tolerance --tolerance-latency --tolerance-throughput --json --quiet);
    is($r->{err}, '', "$flag: nothing on stderr");
}

my $v2_path = write_file('v2.json', qq({"version": 2, "workloads": []}\n));
my $nov_path = write_file('nov.json', qq({"workloads": []}\n));
my $vstr_path = write_file('vstr.json', qq({"version": "1", "workloads": []}\n));
my $nowl_path = write_file('nowl.json', qq({"version": 1}\n));
my $badwl_path = write_file('badwl.json', qq({"version": 1, "workloads": [{"name": "w"}]}\n));
my $badnum_path = write_file('badnum.json',
    qq({"version": 1, "workloads": [{"name": "w", "phase": 1, "latency_us": {"p99": "fast"}}]}\n));
my @errors = (
    # [name, [args], qr/.../...]
    ['no arguments', [], qr/two result files/, qr/usage: mcshredder compare/],
    ['one file', [$a_path], qr/two result files/, qr/usage:/],
    ['three files', [$a_path, $a_path, 'extra'], qr/'extra'/, qr/usage:/],
    ['unknown flag', ['--bogus', $a_path, $a_path], qr/unknown option '--bogus'/, qr/usage:/],
    ['short flag', ['-x', $a_path, $a_path], qr/'-x'/],
    ['--tolerance abc', ['--tolerance', 'abc', $a_path, $a_path], qr/--tolerance/, qr/'abc'/, qr/usage:/],
    ['--tolerance -5', ['--tolerance', '-5', $a_path, $a_path], qr/'-5'/],
    ['--tolerance 5%%', ['--tolerance', '5%%', $a_path, $a_path], qr/'5%%'/],
    ['--tolerance 1e3', ['--tolerance', '1e3', $a_path, $a_path], qr/'1e3'/],
    ['--tolerance-latency x', [$a_path, $a_path, '--tolerance-latency=x'], qr/--tolerance-latency/],
    ['--tolerance without a value', [$a_path, $a_path, '--tolerance'], qr/--tolerance needs a value/],
    ['--json without a value', [$a_path, $a_path, '--json'], qr/--json needs a value/],
    ['missing BASE', ["$TMP/nope.json", $a_path], qr/\Q$TMP\E\/nope\.json: No such file/],
    ['missing NEW', [$a_path, "$TMP/nope2.json"], qr/nope2\.json: No such file/],
    ['a directory', [$TMP, $a_path], qr/\Q$TMP\E: Is a directory/],
    ['wrong version', [$a_path, $v2_path], qr/v2\.json/, qr/version 2 is not supported/],
    ['no version', [$nov_path, $a_path], qr/nov\.json/, qr/no "version"/],
    ['version as a string', [$vstr_path, $a_path], qr/vstr\.json: "version" is not a number/],
    ['an empty file name', ['', $a_path], qr/empty file name/],
    ['no workloads', [$nowl_path, $a_path], qr/nowl\.json/, qr/"workloads"/],
    ['a workload without a phase', [$badwl_path, $a_path], qr/badwl\.json: workloads\[0\]/, qr/phase/],
    ['a string for a number', [$badnum_path, $a_path],
        qr/badnum\.json: workloads\[0\]\.latency_us\.p99 is not a number/],
    ['unwritable --json', [$a_path, $a_path, '--json', "$TMP/nodir/out.json"],
        qr/cannot write .*nodir\/out\.json/],
);
# malformed JSON: [text, offset, what the message says]
my @malformed = (
    ['', 0, qr/expected a value, found end of input/],
    ["{\"version\": 1,\n \"workloads\": [}\n", 30, qr/line 2, column 16.*expected a value, found '\}'/],
    ['{"version": 1, "workloads": [],}', 31, qr/expected a string key, found '\}'/],
    ['{"version": 1 "workloads": []}', 14, qr/expected ',' or '\}', found '"'/],
    ['{"version": 1, "workloads": [1 2]}', 31, qr/expected ',' or '\]'/],
    ['{"version": 1, "workloads": []} x', 32, qr/unexpected 'x' after the JSON value/],
    ['{"version": 01}', 12, qr/leading zero/],
    ['{"version": 1.}', 14, qr/digits expected after '\.'/],
    ['{"version": 1e999}', 12, qr/out of range/],
    ['{"version": NaN}', 12, qr/expected a value, found 'N'/],
    ['{"version": tru}', 12, qr/expected a value/],
    ['{"s": "abc', 6, qr/unterminated string/],
    ['{"s": "a\qb"}', 8, qr/invalid escape '\\q'/],
    ['{"s": "\u12x4"}', 7, qr/invalid \\u escape/],
    ["{\"s\": \"a\tb\"}", 8, qr/control character/],
    ["{'version': 1}", 1, qr/expected a string key, found '''/],
    ['[' x 300, 200, qr/nested more than 200 deep/],
);
for my $i (0 .. $#malformed) {
    my ($text, $offset, $re) = @{ $malformed[$i] };
    my $p = write_file("malformed$i.json", $text);
    push @errors, ["malformed JSON $i", [$a_path, $p],
        qr/\Qmalformed$i.json\E: invalid JSON at byte offset $offset\b/, $re];
}
for my $c (@errors) {
    my ($name, $args, @want) = @$c;
    input_error(compare(@$args), $name, @want);
}
ok(!-e "$TMP/nodir/out.json", 'unwritable --json: nothing written');

done_testing();
