#!/usr/bin/perl
# tap.t: Lua test scripts speaking TAP.  mcs.plan, mcs.ok, mcs.is and
# mcs.diag in config and in workload functions on two threads; stdout holds
# nothing but TAP (the summary moves to stderr) so `prove` can run a script
# directly; failures, diagnostics, plan mismatches and a missing plan, and
# the exit codes that go with them.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use MCS;

my $TMP = tempdir('mcs-tap-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $nfile = 0;

sub write_file {
    my ($text, $ext) = @_;
    my $path = sprintf '%s/f%d.%s', $TMP, ++$nfile, $ext // 'lua';
    open my $fh, '>', $path or die "$path: $!";
    print $fh $text;
    close $fh;
    return $path;
}

my $mc = start_memcached();

sub run_script {
    my ($lua, @args) = @_;
    return run_mcs({ timeout => 20 }, '--server', $mc->addr, '--conf', write_file($lua),
        '--quiet', @args);
}

# Lines of stdout that are not TAP.
sub non_tap {
    my ($out) = @_;
    return grep { !/^(?:ok \d+|not ok \d+|1\.\.\d+$|#)/ } split /\n/, $out;
}

# prove_script($lua) -> run_cmd result of `prove -v` on a .t that execs
# mcshredder with the script.
sub prove_script {
    my ($lua) = @_;
    my $script = write_file($lua);
    my $bin = mcs_bin();
    my $addr = $mc->addr;
    my $t = write_file(<<"PERL", 't');
#!/usr/bin/perl
exec { '$bin' } '$bin', '--server', '$addr', '--conf', '$script', '--quiet'
    or die "exec: \$!";
PERL
    chmod 0755, $t;
    return run_cmd({ timeout => 30 }, 'prove', '-v', $t);
}

# ---- all pass: config and workload functions on two threads ----------------------------
#
# config: 4 tests (the mcs.ok inside mcs.is is one of them).  The workload:
# 4 clients over 2 threads (2 each), limit 6 -> 3 runs per client, 12 runs,
# each with an mcs.ok and an mcs.is: 24 tests.  28 in all.

my $PASS = <<'LUA';
function config()
    mcs.plan(28)
    mcs.ok(true, "config: ok")
    mcs.is(1 + 1, 2, "config: is with numbers")
    mcs.is(mcs.ok(true, "config: ok returns its condition"), true, "config: ok returned true")
    mcs.diag("hello from config", 42)
    mcs.diag("two\nlines")
    local t1, t2 = mcs.thread(), mcs.thread()
    mcs.add({ t1, t2 }, { func = "work", clients = 4, limit = 6, rate_limit = 0 })
    mcs.shredder({ t1, t2 })
end

function work()
    mcs.write(mcs.mn())
    mcs.flush()
    local res = mcs.read()
    mcs.ok(mcs.res_type(res) == "MN", "worker: mn answered")
    mcs.is(mcs.resline(res), "MN", "worker: the line is MN")
    mcs.diag("worker diag")
end
LUA

{
    my $res = run_script($PASS);
    is($res->{exit}, 0, 'all pass: exit 0') or diag($res->{err});
    my @bad = non_tap($res->{out});
    is_deeply(\@bad, [], 'all pass: stdout is pure TAP') or diag($res->{out});
    my @lines = split /\n/, $res->{out};
    is($lines[0], '1..28', 'all pass: the plan comes first');
    my @nums = map { /^ok (\d+)/ ? $1 : () } @lines;
    is_deeply(\@nums, [1 .. 28], 'all pass: 28 oks, numbered in order');
    ok(!(grep { /^not ok/ } @lines), 'all pass: no not ok');
    is(scalar(grep { /^ok \d+ - worker: / } @lines), 24, 'all pass: 24 from the worker threads');
    ok((grep { $_ eq '# hello from config 42' } @lines), 'all pass: diag joins its arguments');
    ok((grep { $_ eq '# two' } @lines) && (grep { $_ eq '# lines' } @lines),
       'all pass: diag prefixes every line with #');
    is(scalar(grep { $_ eq '# worker diag' } @lines), 12, 'all pass: diag from the workers');
    like($res->{err}, qr/^workload /m, 'all pass: the summary went to stderr');
    like($res->{err}, qr/^client threads:/m, 'all pass: and the client threads line');
    unlike($res->{out}, qr/^workload |client threads/m, 'all pass: not to stdout');
}

{
    my $res = prove_script($PASS);
    is($res->{exit}, 0, 'prove on the script: exit 0') or diag($res->{out} . $res->{err});
    like($res->{out}, qr/^All tests successful\.$/m, 'prove on the script: all tests successful');
    like($res->{out}, qr/^Result: PASS$/m, 'prove on the script: Result: PASS');
    like($res->{out}, qr/Tests=28\b/, 'prove on the script: 28 tests');
}

# ---- a failing mcs.is, in config and in a worker --------------------------------------------

my $FAIL = <<'LUA';
function config()
    mcs.plan(4)
    mcs.ok(true, "first")
    mcs.is("apple", "pear", "fruit")
    local t = mcs.thread()
    mcs.add(t, { func = "work", clients = 1, limit = 1, rate_limit = 0 })
    mcs.shredder(t)
    mcs.is(3, 3, "last")
end

function work()
    mcs.write(mcs.mn())
    mcs.flush()
    mcs.is(mcs.resline(mcs.read()), "XX", "worker line")
end
LUA

{
    my $res = run_script($FAIL);
    is($res->{exit}, 1, 'failing is: exit 1');
    my @bad = non_tap($res->{out});
    is_deeply(\@bad, [], 'failing is: stdout is still pure TAP') or diag($res->{out});
    like($res->{out}, qr/^not ok 2 - fruit$/m, 'failing is: not ok with the name');
    like($res->{out}, qr/^not ok 2 - fruit\n#      got: apple\n# expected: pear$/m,
         'failing is: got and expected right after it');
    like($res->{out}, qr/^not ok 3 - worker line\n#      got: MN\n# expected: XX$/m,
         'failing is: in a worker thread, the same diagnostics');
    like($res->{out}, qr/^ok 4 - last$/m, 'failing is: the tests after a failure still run');
    like($res->{out}, qr/^# failed 2 of 4 tests$/m, 'failing is: a closing note counts the failures');
}

{
    my $res = prove_script($FAIL);
    isnt($res->{exit}, 0, 'prove on a failing script: non-zero exit');
    like($res->{out}, qr/^Result: FAIL$/m, 'prove on a failing script: Result: FAIL');
    like($res->{out}, qr/Failed tests?:\s+2-3\b/, 'prove on a failing script: tests 2 and 3 failed')
        or diag($res->{out});
}

# ---- plan mismatches ---------------------------------------------------------------------

{
    my $res = run_script(<<'LUA');
function config()
    mcs.plan(5)
    mcs.ok(true, "a")
    mcs.ok(true, "b")
    mcs.ok(true, "c")
end
LUA
    is($res->{exit}, 1, 'fewer tests than planned: exit 1');
    is_deeply([non_tap($res->{out})], [], 'fewer tests than planned: pure TAP');
    like($res->{out}, qr/^# planned 5 tests but ran 3$/m, 'fewer tests than planned: says so');

    $res = run_script(<<'LUA');
function config()
    mcs.plan(2)
    mcs.ok(true, "a")
    mcs.ok(true, "b")
    mcs.ok(true, "c")
end
LUA
    is($res->{exit}, 1, 'more tests than planned: exit 1');
    like($res->{out}, qr/^# planned 2 tests but ran 3$/m, 'more tests than planned: says so');

    my $p = prove_script(<<'LUA');
function config()
    mcs.plan(5)
    mcs.ok(true, "a")
end
LUA
    like($p->{out}, qr/^Result: FAIL$/m, 'prove on a plan mismatch: Result: FAIL');
}

# ---- no plan: it comes at the end --------------------------------------------------------------

my $NOPLAN = <<'LUA';
function config()
    mcs.ok(true, "a")
    local t = mcs.thread()
    mcs.add(t, { func = "work", clients = 2, limit = 1, rate_limit = 0 })
    mcs.shredder(t)
    mcs.ok(true, "c")
end

function work()
    mcs.write(mcs.mn())
    mcs.flush()
    mcs.ok(mcs.resline(mcs.read()) == "MN", "b")
end
LUA

{
    my $res = run_script($NOPLAN);
    is($res->{exit}, 0, 'no plan: exit 0') or diag($res->{err});
    is_deeply([non_tap($res->{out})], [], 'no plan: pure TAP');
    my @lines = split /\n/, $res->{out};
    is($lines[-1], '1..4', 'no plan: the plan is the last line, with the count');
    is(scalar(grep { /^1\.\./ } @lines), 1, 'no plan: exactly one plan line');

    my $p = prove_script($NOPLAN);
    like($p->{out}, qr/^Result: PASS$/m, 'prove on a script without a plan: Result: PASS')
        or diag($p->{out});
}

# ---- init functions and custom workloads: TAP works there too -------------------------------
#
# 2 clients over 2 threads (1 each): 2 init calls and 2 runs; one custom
# client per thread: 2 more.  6 tests, no plan.

{
    my $res = run_script(<<'LUA');
function config()
    local t1, t2 = mcs.thread(), mcs.thread()
    mcs.add({ t1, t2 }, { func = "client", clients = 2, limit = 1, rate_limit = 0, init = true })
    mcs.add_custom({ t1, t2 }, { func = "custom" })
    mcs.shredder({ t1, t2 })
end

function client()
    mcs.ok(true, "init")
    return function()
        mcs.write(mcs.mn())
        mcs.flush()
        mcs.is(mcs.resline(mcs.read()), "MN", "run")
    end
end

function custom()
    local c = mcs.client_new()
    mcs.ok(mcs.client_connect(c), "custom: connected")
end
LUA
    is($res->{exit}, 0, 'init and custom: exit 0') or diag($res->{out} . $res->{err});
    is_deeply([non_tap($res->{out})], [], 'init and custom: pure TAP');
    my @lines = split /\n/, $res->{out};
    my %names;
    $names{$_}++ for map { /^ok \d+ - (.*)$/ ? $1 : () } @lines;
    is_deeply(\%names, { init => 2, run => 2, 'custom: connected' => 2 },
              'init and custom: each test ran once per client');
    is($lines[-1], '1..6', 'init and custom: 6 tests');
}

# ---- TAP and the other checks ----------------------------------------------------------------

{
    # all tests pass but an assertion does not: exit 1, stdout still TAP
    my $res = run_script(<<'LUA');
function config()
    mcs.assert("ops==1000000")
    local t = mcs.thread()
    mcs.add(t, { func = "work", clients = 1, limit = 3, rate_limit = 0 })
    mcs.shredder(t)
    mcs.ok(true, "fine")
end

function work()
    mcs.write(mcs.mn())
    mcs.flush()
    mcs.read()
end
LUA
    is($res->{exit}, 1, 'TAP with a failing assertion: exit 1');
    is_deeply([non_tap($res->{out})], [], 'TAP with a failing assertion: stdout is pure TAP');
    like($res->{out}, qr/^ok 1 - fine\n1\.\.1$/m, 'TAP with a failing assertion: the test passed');
    like($res->{err}, qr/^mcshredder: assertion failed: ops==1000000 \(ops = 3\)$/m,
         'TAP with a failing assertion: the assertion on stderr');

    # mcs.plan(0) is a misuse: a script error, exit 2
    $res = run_script("function config() mcs.plan(0) end\n");
    is($res->{exit}, 2, 'mcs.plan(0): a script error, exit 2');
    like($res->{err}, qr/script error/, 'mcs.plan(0): reported as a script error');

    # is compares without conversion; tostring can make both sides look alike
    $res = run_script(<<'LUA');
function config()
    mcs.is("1", 1, "string and number")
end
LUA
    is($res->{exit}, 1, 'is("1", 1): fails, exit 1');
    like($res->{out}, qr/^not ok 1 - string and number\n#      got: 1\n# expected: 1$/m,
         'is("1", 1): not ok, with both values as tostring shows them');

    # a script that never starts a phase needs no server, prints no summary
    $res = run_mcs({ timeout => 20 }, '--server', '127.0.0.1:1', '--conf',
        write_file("function config() mcs.plan(1) mcs.ok(true, 'alone') end\n"));
    is($res->{exit}, 0, 'no phase: exit 0 without a server');
    is($res->{out}, "1..1\nok 1 - alone\n", 'no phase: stdout is the TAP and nothing else');
    unlike($res->{err}, qr/TOTAL|workload/, 'no phase: no summary on stderr either');

    # a Lua error: exit 2, and the tests are not summed up (no plan at the end)
    $res = run_script(<<'LUA');
function config()
    mcs.ok(true, "before")
    error("boom")
end
LUA
    is($res->{exit}, 2, 'Lua error after a test: exit 2');
    like($res->{err}, qr/script error.*boom/, 'Lua error after a test: reported');
    is($res->{out}, "ok 1 - before\n", 'Lua error after a test: no plan printed at the end');

    # without TAP the summary stays on stdout
    $res = run_script(<<'LUA');
function config()
    local t = mcs.thread()
    mcs.add(t, { func = "work", clients = 1, limit = 1, rate_limit = 0 })
    mcs.shredder(t)
end
function work()
    mcs.write(mcs.mn())
    mcs.flush()
    mcs.read()
end
LUA
    is($res->{exit}, 0, 'no TAP: exit 0');
    like($res->{out}, qr/^workload /m, 'no TAP: the summary is on stdout');
    unlike($res->{out}, qr/^1\.\./m, 'no TAP: no plan line');
}

$mc->stop('KILL');
done_testing();
