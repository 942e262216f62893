#!/usr/bin/perl
# honest.t: numbers that do not flatter.  With a rate, latency counts from
# each run's slot in the schedule (open loop), so a server that stalls shows
# in the percentiles even for the requests that could not be sent during the
# stall; service time is kept apart.  Also: the achieved rate against the
# target and the warning when it falls short, Poisson arrivals, phases kept
# apart in the JSON, --csv and --hdr-log read back, the client's own CPU,
# --assert and mcs.assert, and SIGINT during a scheduled run.
#
# No test here depends on tight timings: the thresholds are an order of
# magnitude away from what a healthy run gives, with the reasoning next to
# each.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use MIME::Base64 qw(decode_base64);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use MCS;
use MockServer;

my $TMP = tempdir('mcs-honest-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $nfile = 0;
sub tmp_path { return sprintf '%s/f%d.%s', $TMP, ++$nfile, $_[0] // 'json' }

sub write_file {
    my ($text, $ext) = @_;
    my $path = tmp_path($ext // 'lua');
    open my $fh, '>', $path or die "$path: $!";
    print $fh $text;
    close $fh;
    return $path;
}

sub slurp {
    my ($path) = @_;
    open my $fh, '<:raw', $path or return undef;
    local $/;
    return scalar <$fh>;
}

# run_bg(\%opt, \@args, [[secs, sub { my ($pid) = @_; ... }], ...]):
# mcshredder with @args, calling each event's sub that many seconds after the
# start while it runs.  A hard timeout (default 30 s) kills it.  Returns
# what run_mcs returns.
sub run_bg {
    my ($opt, $args, $events) = @_;
    my $timeout = $opt->{timeout} // 30;
    my ($out_f, $err_f) = (tmp_path('out'), tmp_path('err'));
    my $start = time;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out_f or POSIX::_exit(126);
        open STDERR, '>', $err_f or POSIX::_exit(126);
        { exec { mcs_bin() } mcs_bin(), @$args; }
        POSIX::_exit(127);
    }
    my @ev = sort { $a->[0] <=> $b->[0] } @{ $events // [] };
    my ($status, $timed_out) = (undef, 0);
    while (1) {
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid) { $status = $?; last }
        my $now = time - $start;
        while (@ev && $ev[0][0] <= $now) {
            (shift @ev)->[1]->($pid);
        }
        if ($now > $timeout) {
            $timed_out = 1;
            kill 'KILL', $pid;
            waitpid($pid, 0);
            $status = $?;
            last;
        }
        sleep 0.01;
    }
    return {
        out       => slurp($out_f) // '',
        err       => slurp($err_f) // '',
        exit      => ($status & 127) ? undef : $status >> 8,
        signal    => $status & 127,
        elapsed   => time - $start,
        timed_out => $timed_out,
    };
}

# run_json($server, @args) -> (result, JSON or undef), with a hard timeout.
sub run_json {
    my ($server, @args) = @_;
    my $opt = (@args && ref $args[0] eq 'HASH') ? shift @args : {};
    my $jf = tmp_path('json');
    my $res = run_mcs({ timeout => 30, %$opt }, '--server', $server, '--json', $jf, @args);
    my $j = -e $jf ? eval { read_json($jf) } : undef;
    return ($res, $j);
}

sub wl {
    my ($j, $name) = @_;
    return (grep { $_->{name} eq $name } @{ $j ? $j->{workloads} : [] })[0] // {};
}

sub num_close {
    my ($got, $want, $rel) = @_;
    return 0 unless defined $got && defined $want;
    return abs($got - $want) <= ($rel // 1e-5) * abs($want) + 0.0015;
}

my $mc = start_memcached(threads => 2);
my @BUILTIN = qw(--threads 1 --clients 10 --rate 2000 --quiet);

# ---- the stall test ------------------------------------------------------------------
#
# 10 clients on one thread, 2000 runs/s (one request each) for 5 s: about
# 10,000 requests, one every 0.5 ms.  1.5 s in, memcached is frozen with
# SIGSTOP for 1 s.
#
# - Latency from the schedule: the ~2000 runs whose slots fall in the
#   frozen second all wait for it; a run scheduled t into the freeze waits
#   about 1 s - t.  So ~20% of all requests wait between 0 and 1 s and ~16%
#   wait more than 200 ms: p99 must be in the hundreds of ms (>= 200 ms).
# - Service time (flush to response): only the requests in flight when the
#   server froze see it, at most one per client (no pipelining), so ~10 of
#   ~10,000 (0.1%); the runs due during the freeze are sent after it and are
#   answered at once.  p99 stays at a healthy round trip: < 100 ms, and well
#   under a fifth of the corrected p99.
# - Runs start late after the freeze (their slots passed while the clients
#   waited), so late_runs > 0 and the largest lag is about the freeze.

my $smc = start_memcached();
my $stall_json = tmp_path('json');
my $stall = run_bg({ timeout => 30 },
    ['--server', $smc->addr, @BUILTIN, '--duration', 5, '--json', $stall_json],
    [[1.5, sub { kill 'STOP', $smc->pid }], [2.5, sub { kill 'CONT', $smc->pid }]]);
kill 'CONT', $smc->pid;    # whatever happened above
is($stall->{exit}, 0, 'stall: exit 0') or diag("stderr: $stall->{err}");
my $sj = eval { read_json($stall_json) };
ok($sj, 'stall: JSON written') or diag($@);
{
    my $w = $sj ? $sj->{workloads}[0] : {};
    my $lat = $w->{latency_us} // {};
    my $svc = $w->{service}{latency_us} // {};
    note(sprintf 'stall: corrected p50 %s p99 %s max %s; service p50 %s p99 %s max %s us',
         map { $_ // '?' } @$lat{qw(p50 p99 max)}, @$svc{qw(p50 p99 max)});
    cmp_ok($lat->{p99} // 0, '>=', 200_000,
           'stall: latency from the schedule shows the 1 s freeze (p99 >= 200 ms)');
    cmp_ok($lat->{max} // 0, '>=', 500_000, 'stall: the worst wait is about the freeze (>= 500 ms)');
    cmp_ok($svc->{p99} // 1e12, '<', 100_000, 'stall: service time p99 stays small (< 100 ms)');
    cmp_ok($svc->{p99} // 1e12, '<', ($lat->{p99} // 0) / 5,
           'stall: service p99 is far below the corrected p99');
    cmp_ok($svc->{max} // 0, '>=', 500_000,
           'stall: the requests in flight at the freeze have it in their service time');
    ok(($lat->{p50} // -1) >= ($svc->{p50} // 0) && ($lat->{max} // -1) >= ($svc->{max} // 0),
       'stall: latency from the slot is never below the service time (p50, max)');
    cmp_ok($w->{rate}{late_runs} // 0, '>', 0, 'stall: late runs counted');
    cmp_ok($w->{rate}{max_lag_us} // 0, '>=', 300_000, 'stall: max lag about the freeze');
    is($w->{errors}, 0, 'stall: no errors (a stall is no error)');
    cmp_ok($w->{rate_achieved_ratio} // 0, '>=', 0.9,
           'stall: the schedule catches up afterwards (achieved >= 90% of target)');
    like($stall->{out}, qr/^\s*rate: target 2000\.0 runs\/s, achieved [\d.]+ \([\d.]+%\)/m,
         'stall: the summary shows target and achieved rate');
    like($stall->{out}, qr/service time.*p99/, 'stall: the summary shows the service time');
}
$smc->stop('KILL');

# The same run without the stall: the schedule is kept, so latency from the
# slot is about the service time; 100 ms is far above a loopback round trip
# even on a busy machine.
{
    my ($res, $j) = run_json($mc->addr, @BUILTIN, '--duration', 3);
    is($res->{exit}, 0, 'no stall: exit 0') or diag($res->{err});
    my $w = $j ? $j->{workloads}[0] : {};
    cmp_ok($w->{latency_us}{p99} // 1e12, '<', 100_000, 'no stall: corrected p99 < 100 ms');
    ok(($w->{rate_achieved_ratio} // 0) >= 0.9 && ($w->{rate_achieved_ratio} // 9) <= 1.1,
       'no stall: achieved within 10% of the target')
        or diag("ratio $w->{rate_achieved_ratio}");
}

# ---- achieved against target -------------------------------------------------------------

{
    my ($res, $j) = run_json($mc->addr, qw(--threads 1 --clients 4 --rate 1000 --duration 3 --quiet),
        '--assert', 'rate_achieved_ratio>=0.9', '--assert', 'rate_achieved_ratio<=1.1');
    is($res->{exit}, 0, 'rate 1000: exit 0, the assertions on the ratio hold') or diag($res->{err});
    like($res->{err}, qr/^mcshredder: 2 of 2 assertions passed$/m, 'rate 1000: 2 of 2 assertions passed');
    my $w = $j ? $j->{workloads}[0] : {};
    my $r = $w->{rate} // {};
    is($r->{target_runs_per_sec}, 1000, 'rate 1000: target_runs_per_sec');
    ok(($w->{rate_achieved_ratio} // 0) >= 0.9 && $w->{rate_achieved_ratio} <= 1.1,
       'rate 1000: rate_achieved_ratio between 0.9 and 1.1') or diag("ratio $w->{rate_achieved_ratio}");
    ok(abs(($r->{achieved_runs_per_sec} // 0) - 1000) <= 100, 'rate 1000: achieved_runs_per_sec near 1000')
        or diag("achieved $r->{achieved_runs_per_sec}");
    ok(num_close($r->{achieved_runs_per_sec}, ($w->{runs} // 0) / ($w->{duration_s} || 1), 1e-3),
       'rate 1000: achieved = runs / duration_s');
    ok(num_close($w->{rate_achieved_ratio}, ($r->{achieved_runs_per_sec} // 0) / 1000, 1e-2),
       'rate 1000: rate_achieved_ratio = achieved / target');
    is($w->{runs}, $w->{ops}, 'rate 1000: one request per run, runs = ops');
    my ($pct) = $res->{out} =~ /rate: target 1000\.0 runs\/s, achieved [\d.]+ \(([\d.]+)%\)/;
    ok(defined $pct && abs($pct - 100 * ($w->{rate_achieved_ratio} // 0)) < 0.2,
       'rate 1000: the summary gives the same percentage') or diag($res->{out});
    unlike($res->{out}, qr/warning: only [\d.]+% of the target rate/, 'rate 1000: no warning');
}

# With --pipeline, a run is a batch of requests sharing one slot: the
# schedule has rate / pipeline runs per second.
{
    my ($res, $j) = run_json($mc->addr,
        qw(--threads 1 --clients 4 --rate 2000 --pipeline 4 --duration 1.5 --quiet));
    is($res->{exit}, 0, 'rate 2000, pipeline 4: exit 0') or diag($res->{err});
    my $w = $j ? $j->{workloads}[0] : {};
    is($w->{rate}{target_runs_per_sec}, 500, 'rate 2000, pipeline 4: 500 runs/s scheduled');
    my ($runs, $ops) = ($w->{runs} // 0, $w->{ops} // -1);
    ok($runs > 0 && $ops >= 4 * $runs && $ops <= 4 * ($runs + 4),
       'rate 2000, pipeline 4: 4 requests per run') or diag("runs $runs, ops $ops");
}

# A script's workload without rate_limit has a schedule too: one run per
# second per client, as in the original mcshredder.
{
    my ($res, $j) = run_json($mc->addr, { timeout => 20 }, '--quiet', '--conf', write_file(<<'LUA'));
function config()
    local t = mcs.thread()
    mcs.add(t, { func = "paced", clients = 3 })
    mcs.shredder(t, 1.2)
end
function paced()
    mcs.write(mcs.mn())
    mcs.flush()
    mcs.read()
end
LUA
    is($res->{exit}, 0, 'no rate_limit: exit 0') or diag($res->{err});
    is(wl($j, 'paced')->{rate}{target_runs_per_sec}, 3, 'no rate_limit: 1 run/s per client, 3 in all');
}

# A target nobody reaches: 2 clients, one request in flight each, asked for
# 5 million a second.
{
    my ($res, $j) = run_json($mc->addr,
        qw(--threads 1 --clients 2 --pipeline 1 --rate 5000000 --duration 1 --quiet),
        '--assert', 'rate_achieved_ratio>=0.9');
    is($res->{exit}, 1, 'rate 5M: exit 1, the assertion fails');
    my $w = $j ? $j->{workloads}[0] : {};
    cmp_ok($w->{rate_achieved_ratio} // 1, '<', 0.9, 'rate 5M: rate_achieved_ratio < 0.9');
    is($w->{rate}{target_runs_per_sec}, 5000000, 'rate 5M: the target is the one asked for');
    cmp_ok($w->{rate}{late_runs} // 0, '>', 0, 'rate 5M: late runs');
    like($res->{out}, qr/^\s*warning: only [\d.]+% of the target rate was achieved$/m,
         'rate 5M: the summary warns');
    my ($got) = $res->{err}
        =~ /^mcshredder: assertion failed: rate_achieved_ratio>=0\.9 \(rate_achieved_ratio = ([\d.e+-]+)\)$/m;
    ok(defined $got && num_close($got, $w->{rate_achieved_ratio}, 1e-2),
       'rate 5M: the failure names the metric and its value') or diag($res->{err});
    like($res->{err}, qr/^mcshredder: 0 of 1 assertions passed$/m, 'rate 5M: 0 of 1 assertions passed');
}

# ---- Poisson arrivals ------------------------------------------------------------------------

{
    my ($res, $j) = run_json($mc->addr,
        qw(--threads 1 --clients 4 --rate 1000 --arrival poisson --duration 2 --quiet));
    is($res->{exit}, 0, 'poisson: exit 0') or diag($res->{err});
    my $w = $j ? $j->{workloads}[0] : {};
    # ~2000 arrivals: the count's standard deviation is ~2%
    ok(($w->{rate_achieved_ratio} // 0) >= 0.9 && $w->{rate_achieved_ratio} <= 1.1,
       'poisson: the same mean rate (within 10%)') or diag("ratio $w->{rate_achieved_ratio}");
    is($w->{rate}{target_runs_per_sec}, 1000, 'poisson: target 1000');

    $res = run_mcs({ timeout => 10 }, '--server', $mc->addr, '--arrival', 'bogus', '--quiet');
    is($res->{exit}, 2, '--arrival bogus: exit 2');
    like($res->{err}, qr/^mcshredder: --arrival: expected uniform or poisson, got 'bogus'$/m,
         '--arrival bogus: says what is expected');
}

# When one client's runs start, against its slots: with a 5 ms period the
# k-th run's slot is k x 5 ms after the first, so start_k - 5k is constant
# for uniform arrivals, plus whatever the machine delays a run (only ever
# later, and on a busy machine for a few ms).  With Poisson arrivals
# start_k is a sum of k exponential gaps: start_k - 5k is a random walk
# whose spread over 300 runs (10th to 90th percentile) is 80 ms typically
# and above 25 ms in all but 1 of 10,000 simulated walks (and mcshredder's
# seeds are fixed, so it is the same walk every time).  20 ms tells them
# apart without depending on the machine.
{
    my $lua = <<'LUA';
function config()
    local t = mcs.thread()
    mcs.add(t, { func = "uni", clients = 1, limit = 300, rate_limit = 200, arrival = "uniform" })
    mcs.add(t, { func = "poi", clients = 1, limit = 300, rate_limit = 200, arrival = "poisson" })
    mcs.shredder(t)
end

local function spread(name)
    local starts = {}
    return function()
        starts[#starts + 1] = mcs.time_millis()
        mcs.write(mcs.mn())
        mcs.flush()
        mcs.read()
        if #starts == 300 then
            local r = {}
            for k = 1, 300 do r[k] = starts[k] - (k - 1) * 5 end
            table.sort(r)
            print(string.format("SPREAD %s %d", name, r[270] - r[31]))
            io.stdout:flush()
        end
    end
end
uni = spread("uniform")
poi = spread("poisson")
LUA
    my $res = run_lua($mc, $lua, { timeout => 20 }, '--quiet');
    is($res->{exit}, 0, 'arrival option: exit 0') or diag($res->{err});
    my %spread = $res->{out} =~ /^SPREAD (\w+) (-?\d+)$/mg;
    ok(defined $spread{uniform} && $spread{uniform} < 20,
       'arrival = "uniform": runs start on their evenly spaced slots')
        or diag("uniform: start - slot spreads over " . ($spread{uniform} // '?') . ' ms');
    ok(defined $spread{poisson} && $spread{poisson} > 20,
       'arrival = "poisson": the starts wander from the even grid as a random walk')
        or diag("poisson: start - slot spreads over " . ($spread{poisson} // '?') . ' ms');

    $res = run_lua($mc, <<'LUA', { timeout => 10 }, '--quiet');
function config()
    mcs.add(mcs.thread(), { func = "f", clients = 1, rate_limit = 10, arrival = "bursty" })
end
function f() end
LUA
    is($res->{exit}, 2, 'arrival = "bursty": a script error, exit 2');
    like($res->{err}, qr/arrival/, 'arrival = "bursty": the error names the option');
}

# ---- phases kept apart; --csv and --hdr-log ----------------------------------------------
#
# A warm-up phase stores 300 keys (one client, limit 300: exactly 300 ms
# requests), then a test phase reads them back on two threads at 400 runs/s
# for 2 s.  Each phase is a workload of its own in the JSON.

my %P = (json => tmp_path('json'), csv => tmp_path('csv'), hlog => tmp_path('hlog'));
my $phases = run_lua($mc, <<'LUA', { timeout => 30 }, '--quiet', '--interval', '0.5',
function config()
    local t1, t2 = mcs.thread(), mcs.thread()
    mcs.add(t1, { func = "warm", clients = 1, limit = 300, rate_limit = 0 })
    mcs.shredder({ t1 })
    mcs.add({ t1, t2 }, { func = "test", clients = 4, rate_limit = 400 })
    mcs.shredder({ t1, t2 }, 2)
end

local function rt(req)
    mcs.write(req)
    mcs.flush()
    return mcs.read()
end

n = 0
function warm()
    n = n + 1
    rt(mcs.ms("honest:", n % 100, 20))
end

function test()
    rt(mcs.mg("honest:", math.random(0, 99), "v"))
end
LUA
    '--json', $P{json}, '--csv', $P{csv}, '--hdr-log', $P{hlog},
    '--assert', 'warm:ops==300', '--assert', 'test:misses==0', '--assert', 'warm:hits==0');
is($phases->{exit}, 0, 'phases: exit 0, workload-scoped assertions hold') or diag($phases->{err});
like($phases->{err}, qr/^mcshredder: 3 of 3 assertions passed$/m, 'phases: 3 of 3 assertions passed');
my $pj = eval { read_json($P{json}) };
ok($pj, 'phases: JSON written') or diag($@);
my ($warm, $test) = (wl($pj, 'warm'), wl($pj, 'test'));
is(scalar @{ $pj ? $pj->{workloads} : [] }, 2, 'phases: two workloads');
is($warm->{phase}, 1, 'phases: warm is phase 1');
is($test->{phase}, 2, 'phases: test is phase 2');
is($warm->{ops}, 300, 'phases: warm did exactly its 300 requests');
is_deeply([keys %{ $warm->{commands} // {} }], ['ms'], 'phases: warm has only its ms');
is_deeply([keys %{ $test->{commands} // {} }], ['mg'], 'phases: test has only its mg, none of warm\'s ms');
cmp_ok($test->{ops} // 0, '>', 0, 'phases: test did requests');
is($test->{hits}, $test->{ops}, 'phases: every read of the test phase hit what warm stored');
is($warm->{hits} + $warm->{misses}, 0, 'phases: warm has no lookups');
is($pj && $pj->{totals}{ops}, ($warm->{ops} // 0) + ($test->{ops} // 0),
   'phases: totals = warm + test');
is($warm->{rate}{target_runs_per_sec}, 0, 'phases: warm has no schedule');
is($warm->{rate_achieved_ratio}, 1, 'phases: warm rate_achieved_ratio 1 (no schedule)');
is($test->{rate}{target_runs_per_sec}, 400, 'phases: test has its own schedule');
cmp_ok($test->{duration_s} // 0, '>=', 1.9, 'phases: test ran its 2 s');
cmp_ok($warm->{duration_s} // 9, '<', $test->{duration_s} // 0, 'phases: each phase has its own duration');

for my $w ($warm, $test) {
    my $name = $w->{name} // '?';
    my $rows = $w->{intervals};
    is(ref $rows, 'ARRAY', "intervals ($name): an array");
    $rows = [] unless ref $rows eq 'ARRAY';
    cmp_ok(scalar @$rows, '>=', 1, "intervals ($name): at least one row");
    my ($bad_len, $sum, $hits, $misses, $errors, $order) = (0, 0, 0, 0, 0, 1);
    my $prev = 0;
    for my $r (@$rows) {
        $bad_len++ unless $r->{len_s} > 0;
        $sum += $r->{ops};
        $hits += $r->{hits};
        $misses += $r->{misses};
        $errors += $r->{errors};
        $order = 0 unless $r->{t_s} > $prev;
        $prev = $r->{t_s};
    }
    is($bad_len, 0, "intervals ($name): every row has len_s > 0");
    ok($order, "intervals ($name): t_s increases");
    cmp_ok($prev, '<=', ($w->{duration_s} // 0) + 0.001, "intervals ($name): within the phase");
    is($sum, $w->{ops}, "intervals ($name): their ops add up to the workload's");
    is($hits, $w->{hits}, "intervals ($name): their hits add up");
    is($misses, $w->{misses}, "intervals ($name): their misses add up");
    is($errors, $w->{errors}, "intervals ($name): their errors add up");
}
cmp_ok(scalar @{ $test->{intervals} // [] }, '>=', 3, 'intervals: a 2 s phase at --interval 0.5 has several rows');

# client self-monitoring: the two worker threads
{
    my $threads = $pj ? $pj->{client}{threads} : undef;
    is(scalar @{ $threads // [] }, 2, 'client: one entry per worker thread');
    my @bad = grep { !($_->{cpu_s} > 0 && $_->{utilization} >= 0 && $_->{utilization} <= 1.05
                       && $_->{wall_s} > 0 && $_->{wall_s} <= $pj->{duration_s} + 0.5) }
              @{ $threads // [] };
    is(scalar @bad, 0, 'client: each has cpu_s > 0, 0 <= utilization <= 1.05, a wall time within the run')
        or diag(explain($threads));
    ok($pj && JSON::PP::is_bool($pj->{client}{saturated}), 'client: saturated is a boolean');
    like($phases->{out}, qr/^client threads: #0 [\d.]+s cpu \(\d+% busy\), #1 /m,
         'client: the summary has the client threads line');
}

# --csv: the same rows as the JSON intervals
{
    my @lines = split /\n/, slurp($P{csv}) // '';
    is(shift(@lines), 'workload,phase,t_s,len_s,ops,ops_per_sec,errors,hits,misses,'
                      . 'p50_us,p90_us,p99_us,p999_us,max_us', 'csv: header');
    my @want = map { my $w = $_; map { [$w->{name}, $w->{phase}, $_] } @{ $w->{intervals} // [] } }
               ($warm, $test);
    is(scalar @lines, scalar @want, 'csv: one row per workload and interval');
    my (%ops, $mismatch);
    for my $i (0 .. $#lines) {
        my @f = split /,/, $lines[$i];
        $ops{ $f[0] } += $f[4] // 0;
        my ($name, $phase, $r) = @{ $want[$i] // [] };
        $mismatch //= "row $i: $lines[$i]"
            unless @f == 14 && defined $r && $f[0] eq $name && $f[1] == $phase
                && abs($f[2] - $r->{t_s}) < 0.0005 && abs($f[3] - $r->{len_s}) < 0.0005
                && $f[4] == $r->{ops} && $f[6] == $r->{errors} && $f[7] == $r->{hits}
                && $f[8] == $r->{misses} && abs($f[13] - $r->{latency_us}{max}) < 0.0005;
    }
    is($mismatch, undef, 'csv: each row matches the JSON interval');
    is($ops{warm}, 300, 'csv: warm rows add up to 300 ops');
    is($ops{test}, $test->{ops}, 'csv: test rows add up to the JSON ops');
}

# --hdr-log: header, legend, an untagged line per interval with a tagged line
# per running workload, histograms in HdrHistogram's compressed encoding.
my $have_zlib = eval { require Compress::Zlib; 1 };

# Total count of a V2-encoded histogram (after inflating), or undef.
sub hdr_count {
    my ($bytes) = @_;
    return undef unless length($bytes) >= 40 && unpack('N', $bytes) == 0x1c849313;
    my $len = unpack('N', substr($bytes, 4, 4));
    my $p = substr($bytes, 40, $len);
    my ($i, $total) = (0, 0);
    while ($i < length $p) {
        my ($v, $shift) = (0, 0);
        for my $k (0 .. 8) {
            my $b = ord substr($p, $i++, 1);
            if ($k == 8) { $v |= $b << $shift; last }
            $v |= ($b & 0x7f) << $shift;
            $shift += 7;
            last unless $b & 0x80;
        }
        # ZigZag; a negative count stands for a run of empty buckets
        my $n = ($v & 1) ? -(($v >> 1) + 1) : ($v >> 1);
        $total += $n if $n > 0;
    }
    return $total;
}

{
    my @lines = split /\n/, slurp($P{hlog}) // '';
    my @head = grep { /^#/ } @lines;
    ok((grep { $_ eq '#[Histogram log format version 1.3]' } @head), 'hdr-log: format version line');
    ok((grep { /^#\[StartTime: \d+\.\d{3} \(seconds since epoch\)/ } @head), 'hdr-log: StartTime line');
    ok((grep { /^#\[BaseTime: \d+\.\d{3} \(seconds since epoch\)\]$/ } @head), 'hdr-log: BaseTime line');
    ok((grep { $_ eq '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"' }
        @lines), 'hdr-log: legend line');
    my @data = grep { !/^#/ && !/^"/ } @lines;
    my (@groups, $bad);
    for my $l (@data) {
        if ($l =~ /^(\d+\.\d{3}),(\d+\.\d{3}),(\d+\.\d{3}),(HISTF\S+)$/) {
            push @groups, { start => $1, hist => $4, tags => [] };
        } elsif ($l =~ /^Tag=([^,]+),(\d+\.\d{3}),(\d+\.\d{3}),(\d+\.\d{3}),(HISTF\S+)$/ && @groups) {
            push @{ $groups[-1]{tags} }, { tag => $1, start => $2, hist => $5 };
            $bad //= "tag line with another start: $l" unless $2 eq $groups[-1]{start};
        } else {
            $bad //= "unexpected line: $l";
        }
    }
    is($bad, undef, 'hdr-log: every data line is an interval line or its tagged line');
    cmp_ok(scalar @groups, '>=', @{ $warm->{intervals} // [] } + @{ $test->{intervals} // [] },
           'hdr-log: an untagged line per interval (at least as many as the JSON rows)');
    my @tagsets = map { join ',', map { $_->{tag} } @{ $_->{tags} } } @groups;
    ok(!(grep { $_ ne 'warm' && $_ ne 'test' } @tagsets),
       'hdr-log: each interval has one tagged line, for the workload of its phase')
        or diag("tags per interval: @tagsets");
    ok((grep { $_ eq 'warm' } @tagsets) && (grep { $_ eq 'test' } @tagsets),
       'hdr-log: both phases are in the log');
    my @starts = map { $_->{start} } @groups;
    ok(!(grep { $starts[$_] < $starts[$_ - 1] } 1 .. $#starts), 'hdr-log: StartTimestamps in order');

    my @all = map { ($_->{hist}, map { $_->{hist} } @{ $_->{tags} }) } @groups;
    my @bad_cookie = grep { substr(decode_base64($_), 0, 4) ne "\x1c\x84\x93\x14" } @all;
    is(scalar @bad_cookie, 0, 'hdr-log: every histogram starts with the compressed cookie 0x1c849314');
    SKIP: {
        skip 'Compress::Zlib is not installed', 3 unless $have_zlib;
        my %sum;
        my $undecodable = 0;
        for my $g (@groups) {
            for my $h ([undef, $g->{hist}], map { [$_->{tag}, $_->{hist}] } @{ $g->{tags} }) {
                my $raw = decode_base64($h->[1]);
                my $len = unpack('N', substr($raw, 4, 4));
                my $inflated = Compress::Zlib::uncompress(substr($raw, 8, $len));
                my $n = defined $inflated ? hdr_count($inflated) : undef;
                $undecodable++ unless defined $n;
                $sum{ $h->[0] // '' } += $n // 0;
            }
        }
        is($undecodable, 0, 'hdr-log: every histogram inflates to a V2 histogram (cookie 0x1c849313)');
        is($sum{warm}, 300, 'hdr-log: the warm lines count its 300 latencies');
        ok($sum{test} == ($test->{ops} // -1) && $sum{''} == $pj->{totals}{ops},
           'hdr-log: the test lines count its ops, the untagged lines all of them')
            or diag("test $sum{test} vs $test->{ops}, untagged $sum{''} vs $pj->{totals}{ops}");
    }
}

# ---- --assert ------------------------------------------------------------------------------
#
# A script whose counts are exact: "hitmiss" (2 clients, 10 runs each) does
# ms, then mg of that key (a hit), then mg of a key never stored (a miss);
# "noop" (1 client, 5 runs) does mn.  65 requests, 20 hits, 20 misses,
# 3 connections; bytes in: 20 x (HD + VA 10 + EN) + 5 x MN = 560.

sub hitmiss_lua {
    my ($config_extra, $work_extra) = @_;
    $config_extra //= '';
    $work_extra //= '';
    return <<"LUA";
function config()
    local t = mcs.thread()
    mcs.add(t, { func = "hitmiss", clients = 2, limit = 10, rate_limit = 0 })
    mcs.add(t, { func = "noop", clients = 1, limit = 5, rate_limit = 0 })
    $config_extra
    mcs.shredder(t)
end

local function rt(req)
    mcs.write(req)
    mcs.flush()
    return mcs.read()
end

-- both clients share this VM's globals: each run takes its own key
n = 0
function hitmiss()
    n = n + 1
    local k = n
    rt(mcs.ms("hm:", k, 10))
    rt(mcs.mg("hm:", k, "v"))
    rt(mcs.mg("hm-never:", k, "v"))
    $work_extra
end

function noop()
    rt(mcs.mn())
end
LUA
}
my $HITMISS = write_file(hitmiss_lua());

sub run_asserts {
    my (@exprs) = @_;
    my $jf = tmp_path('json');
    my $res = run_mcs({ timeout => 20 }, '--server', $mc->addr, '--conf', $HITMISS, '--quiet',
        '--json', $jf, map { ('--assert', $_) } @exprs);
    return ($res, eval { read_json($jf) });
}

{
    my @pass = ('ops==65', 'ops>=65', 'ops<=65', 'ops>64', 'ops<66', 'ops!=0', 'ops<1e5',
        'hits==20', 'hits=20', 'misses==20', 'hit_ratio==50%', 'hit_ratio>=0.5', 'hit_ratio<90%',
        'connects==3', 'reconnects==0', 'errors==0',
        (map { "errors.$_==0" } qw(error client_error server_error protocol connect reset timeout tls)),
        'bytes_in==560', 'bytes_out>560', 'ops_per_sec>0', 'late_runs==0', 'rate_achieved_ratio==1',
        'p50>0', 'p90>=1ns', 'p99<60s', 'p999<=60000ms', 'max<60000000us', 'mean<60000000000ns',
        'hitmiss:ops==60', 'hitmiss:hits==20', 'hitmiss:connects==2', 'noop:ops==5', 'noop:hits==0',
        'noop:hit_ratio==0', 'noop:bytes_in==20');
    my $n = @pass;
    my ($res) = run_asserts(@pass);
    is($res->{exit}, 0, "--assert: $n that hold, exit 0") or diag($res->{err});
    like($res->{err}, qr/^mcshredder: $n of $n assertions passed$/m, "--assert: $n of $n assertions passed");
    unlike($res->{err}, qr/assertion failed/, '--assert: no failure reported');
}

{
    my ($res, $j) = run_asserts('ops==65', 'ops==64', 'hitmiss:hits!=20', 'hit_ratio>90%',
        'p99<0', 'noop:max<0', 'nosuch:ops>0', 'ops_per_sec<0', 'hitmiss:ops_per_sec<0');
    is($res->{exit}, 1, '--assert: failing ones, exit 1');
    my $err = $res->{err};
    like($err, qr/^mcshredder: assertion failed: ops==64 \(ops = 65\)$/m, '--assert: ops==64 fails naming ops = 65');
    like($err, qr/^mcshredder: assertion failed: hitmiss:hits!=20 \(hits = 20\)$/m,
         '--assert: a workload-scoped one names the workload\'s value');
    like($err, qr/^mcshredder: assertion failed: hit_ratio>90% \(hit_ratio = 0\.5\)$/m,
         '--assert: hit_ratio>90% is valid; the ratio is shown as a fraction');
    my ($p99) = $err =~ /^mcshredder: assertion failed: p99<0 \(p99 = ([\d.e+-]+)us\)$/m;
    ok(num_close($p99, $j && $j->{totals}{latency_us}{p99}), '--assert: p99 is the JSON totals p99, in us')
        or diag("assert says $p99, JSON " . ($j ? $j->{totals}{latency_us}{p99} : '?'));
    my ($max) = $err =~ /^mcshredder: assertion failed: noop:max<0 \(max = ([\d.e+-]+)us\)$/m;
    ok(num_close($max, wl($j, 'noop')->{latency_us}{max}), '--assert: noop:max is the noop workload\'s max')
        or diag("assert says $max, JSON " . (wl($j, 'noop')->{latency_us}{max} // '?'));
    like($err, qr/^mcshredder: assertion failed: nosuch:ops>0 \(no workload 'nosuch'\)$/m,
         '--assert: an unknown workload is a failure that says so');
    unlike($err, qr/assertion failed: ops==65\b/, '--assert: the one that holds is not reported');
    my ($rate) = $err =~ /^mcshredder: assertion failed: ops_per_sec<0 \(ops_per_sec = ([\d.e+-]+)\)$/m;
    ok(num_close($rate, $j && $j->{totals}{ops_per_sec}, 1e-3),
       '--assert: ops_per_sec is the JSON totals ops_per_sec (over the whole run)')
        or diag("assert says $rate, JSON " . ($j ? $j->{totals}{ops_per_sec} : '?'));
    ($rate) = $err =~ /^mcshredder: assertion failed: hitmiss:ops_per_sec<0 \(ops_per_sec = ([\d.e+-]+)\)$/m;
    ok(num_close($rate, wl($j, 'hitmiss')->{ops_per_sec}, 1e-3),
       '--assert: a workload\'s ops_per_sec is its JSON ops_per_sec (over its phase)')
        or diag("assert says $rate, JSON " . (wl($j, 'hitmiss')->{ops_per_sec} // '?'));
    like($err, qr/^mcshredder: 1 of 9 assertions passed$/m, '--assert: 1 of 9 assertions passed');
}

# Units, against a server that answers every request after 40 ms: each
# latency is at least 40 ms, whatever the machine.
{
    my $slow = MockServer->start(handler => sub {
        my ($conn) = @_;
        while (my $req = $conn->read_request) {
            sleep 0.04;
            $conn->send($conn->answer($req)) or last;
        }
    });
    my $lua = write_file(<<'LUA');
function config()
    local t = mcs.thread()
    mcs.add(t, { func = "slow", clients = 1, limit = 4, rate_limit = 0 })
    mcs.shredder(t)
end
function slow()
    mcs.write(mcs.mn())
    mcs.flush()
    mcs.read()
end
LUA
    my @pass = ('p50>=40ms', 'p50>=40000', 'p50>=40000us', 'p50>=0.04s', 'p50>=40000000ns',
                'mean>=40ms', 'max<30s', 'p999<30000ms');
    my @fail = ('p50<40ms', 'p50<0.04s', 'p50<40000000ns', 'mean<40000');
    my $res = run_mcs({ timeout => 20 }, '--server', $slow->addr, '--conf', $lua, '--quiet',
        map { ('--assert', $_) } @pass, @fail);
    is($res->{exit}, 1, 'units: exit 1 (some fail, as meant)') or diag($res->{err});
    my @failed = $res->{err} =~ /^mcshredder: assertion failed: (\S+) \(/mg;
    is_deeply([sort @failed], [sort @fail], 'units: ns, us, ms, s and no unit scale alike')
        or diag($res->{err});
    like($res->{err}, qr/^mcshredder: 8 of 12 assertions passed$/m, 'units: 8 of 12 assertions passed');
    $slow->stop;
}

# Malformed expressions are usage errors, found before anything runs: the
# server below does not exist, and the run would end with exit 3.
for my $bad ('p99<<2', 'latency<2', 'p99<2parsecs', 'p99<', 'p99 < 2ms', 'errors.bogus==0',
             'hit_ratio>90ms', 'ops>1%', 'ops==') {
    my $res = run_mcs({ timeout => 10 }, '--server', '127.0.0.1:1', '--duration', '5', '--quiet',
        '--assert', 'errors==0', '--assert', $bad);
    is($res->{exit}, 2, "--assert '$bad': exit 2");
    my @lines = grep { /^mcshredder:/ } split /\n/, $res->{err};
    ok(@lines == 1 && index($lines[0], "mcshredder: --assert '$bad': ") == 0,
       "--assert '$bad': one error line naming the expression") or diag($res->{err});
    is($res->{out}, '', "--assert '$bad': nothing on stdout, nothing ran");
}

# A run that already failed keeps its code, and its assertions are not
# judged: a script error (2), a server that cannot be used (3).
{
    my $lua = write_file(hitmiss_lua('', 'error("boom")'));
    my $res = run_mcs({ timeout => 20 }, '--server', $mc->addr, '--conf', $lua, '--quiet',
        '--assert', 'ops==12345');
    is($res->{exit}, 2, '--assert after a script error: exit 2 stays');
    like($res->{err}, qr/boom/, '--assert after a script error: the error is reported');
    unlike($res->{err}, qr/assertion/, '--assert after a script error: not judged');

    my $port = free_port();
    $res = run_mcs({ timeout => 20 }, '--server', "127.0.0.1:$port",
        qw(--threads 1 --clients 1 --duration 5 --quiet --assert ops>1000000));
    is($res->{exit}, 3, '--assert with an unreachable server: exit 3 stays');
    unlike($res->{err}, qr/assertion/, '--assert with an unreachable server: not judged');
}

# mcs.assert from the script: the same expressions, the same report, and
# counted with --assert.
{
    my $lua = write_file(hitmiss_lua(
        'mcs.assert("ops==65"); mcs.assert("hitmiss:hits==20"); mcs.assert("hit_ratio>=50%")'));
    my $res = run_mcs({ timeout => 20 }, '--server', $mc->addr, '--conf', $lua, '--quiet',
        '--assert', 'noop:ops==5');
    is($res->{exit}, 0, 'mcs.assert: ones that hold, exit 0') or diag($res->{err});
    like($res->{err}, qr/^mcshredder: 4 of 4 assertions passed$/m,
         'mcs.assert: counted together with --assert (4 of 4)');

    $lua = write_file(hitmiss_lua('mcs.assert("ops==1")'));
    $res = run_mcs({ timeout => 20 }, '--server', $mc->addr, '--conf', $lua, '--quiet');
    is($res->{exit}, 1, 'mcs.assert: one that fails, exit 1');
    like($res->{err}, qr/^mcshredder: assertion failed: ops==1 \(ops = 65\)$/m,
         'mcs.assert: the failure names the metric and its value');

    $lua = write_file(hitmiss_lua('mcs.assert("p99<<2")'));
    $res = run_mcs({ timeout => 20 }, '--server', $mc->addr, '--conf', $lua, '--quiet');
    is($res->{exit}, 2, 'mcs.assert("p99<<2"): a script error, exit 2');
    like($res->{err}, qr/script error.*expected a number/, 'mcs.assert("p99<<2"): says what is wrong');
    unlike($res->{out}, qr/workload/, 'mcs.assert("p99<<2"): nothing ran');

    $lua = write_file(hitmiss_lua('', 'mcs.assert("ops>0")'));
    $res = run_mcs({ timeout => 20 }, '--server', $mc->addr, '--conf', $lua, '--quiet');
    is($res->{exit}, 2, 'mcs.assert in a workload function: a script error, exit 2');
    like($res->{err}, qr/only be called from config/, 'mcs.assert in a workload: says where it belongs');
}

# ---- SIGINT during a scheduled run -------------------------------------------------------
#
# The rate is judged over the time the run took, not the --duration asked
# for: a 30 s run stopped after 1.5 s achieved its rate.
{
    my $jf = tmp_path('json');
    my $res = run_bg({ timeout => 20 },
        ['--server', $mc->addr, qw(--threads 1 --clients 4 --rate 1000 --duration 30 --quiet --json), $jf,
         '--assert', 'rate_achieved_ratio>=0.9'],
        [[1.5, sub { kill 'INT', $_[0] }]]);
    is($res->{exit}, 0, 'SIGINT with a rate: exit 0, the assertion judged over the time it ran')
        or diag($res->{err});
    like($res->{err}, qr/^mcshredder: 1 of 1 assertions passed$/m, 'SIGINT with a rate: 1 of 1 passed');
    like($res->{err}, qr/interrupted/, 'SIGINT with a rate: says it was interrupted');
    my $j = eval { read_json($jf) };
    my $w = $j ? $j->{workloads}[0] : {};
    cmp_ok($w->{duration_s} // 99, '<', 5, 'SIGINT with a rate: the JSON covers the time it ran');
    ok(($w->{rate_achieved_ratio} // 0) >= 0.9 && $w->{rate_achieved_ratio} <= 1.1,
       'SIGINT with a rate: achieved judged over the time it ran')
        or diag("ratio " . ($w->{rate_achieved_ratio} // 'none'));
    unlike($res->{out}, qr/warning: only [\d.]+% of the target rate/, 'SIGINT with a rate: no warning');
}

$mc->stop('KILL');
done_testing();
