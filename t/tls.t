#!/usr/bin/perl
# tls.t: mcshredder over TLS against memcached -Z (certificates from a
# throwaway CA made by MCS.pm): the built-in workload (meta and text,
# pipelined, large values), handshake and resumption counts, mTLS, the
# reasons given when TLS cannot work (wrong CA, host name, plain port, TLS
# port without --tls, protocol versions), --tls-insecure, --tls-keylog, bad
# options, per-workload and per-client tls=true/false, and the original
# mcshredder's option spellings.
#
# Runs that must fail (exit 3 after the 2 s "nothing works" grace) run in
# parallel so the file stays short.
#
# About values: memcached 1.6.18 -Z stalls when pipelined requests reach it
# in TLS records bigger than the free room of its read buffer (it never
# looks at SSL_pending), whatever the client. Pipelined runs that write
# therefore keep their requests small; large values are tested in
# responses (stored beforehand through the plain port).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP ();
use POSIX ();
use MCS;

plan skip_all => 'memcached has no TLS support (-Z)' unless memcached_has_tls();

my $tmp = tempdir('mcs-tls-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $nfile = 0;

{
    my $r = run_mcs({ timeout => 20 }, '--server', '127.0.0.1:1', '--tls', '--tls-insecure',
        '--duration', '0.1', '--quiet');
    plan skip_all => 'mcshredder was built without TLS' if $r->{err} =~ /built without TLS/;
}

my $mc = start_memcached(tls => 1);
my $addr = $mc->addr;
my $tls_port = $mc->port;
my $plain_port = $mc->plain_port;
my @TLS = ('--server', $addr, '--tls', '--tls-ca', $mc->ca);

sub write_file {
    my ($text, $ext) = @_;
    my $path = sprintf '%s/f%d.%s', $tmp, ++$nfile, $ext // 'lua';
    open my $fh, '>', $path or die "$path: $!";
    print $fh $text;
    close $fh;
    return $path;
}

# run_json([\%opt,] @args) -> ($result, $json or undef): mcshredder with
# --json into a fresh file.
sub run_json {
    my $opt = ref $_[0] eq 'HASH' ? shift : {};
    my $json = sprintf '%s/r%d.json', $tmp, ++$nfile;
    my $r = run_mcs({ timeout => 30, %$opt }, @_, '--json', $json);
    my $j = -e $json ? eval { read_json($json) } : undef;
    return ($r, $j);
}

# Runs several mcshredder invocations at once; returns their results in
# order. Each job is [\%run_mcs_opts, @args].
sub run_parallel {
    my @jobs = @_;
    my %pid;
    for my $i (0 .. $#jobs) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            my ($opt, @args) = @{ $jobs[$i] };
            my $r = eval { run_mcs({ timeout => 30, %$opt }, @args) }
                // { exit => -1, err => "run_mcs died: $@", out => '' };
            open my $fh, '>:raw', "$tmp/par$i.json";
            print $fh JSON::PP->new->utf8->encode($r);
            close $fh;
            POSIX::_exit(0);
        }
        $pid{$pid} = $i;
    }
    waitpid($_, 0) for keys %pid;
    return map { read_json("$tmp/par$_.json") } 0 .. $#jobs;
}

sub diag_run {
    my ($r) = @_;
    diag("command: $r->{cmd}");
    diag("exit: " . ($r->{exit} // 'signal ' . $r->{signal}) . ", elapsed $r->{elapsed}");
    diag("stderr: $r->{err}") if length $r->{err};
}

# A run that must work: exit 0, requests done, no errors.
sub works {
    my ($r, $w, $name) = @_;
    my $ok = is($r->{exit}, 0, "$name: exit 0");
    $ok &= ok(!$r->{timed_out} && !$r->{signal}, "$name: ended by itself");
    $ok &= ok($w && $w->{ops} > 0, "$name: ops > 0 (" . ($w ? $w->{ops} : 'no json') . ")");
    $ok &= is($w && $w->{errors}, 0, "$name: no errors")
        or diag(JSON::PP->new->canonical->encode($w ? $w->{errors_by_kind} : {}));
    diag_run($r) unless $ok;
    return $ok;
}

# A run that must stop with exit 3 and a reason matching $re: one
# "no TLS connection ... works" line, one "TLS with ... failed" line for
# the reason, no result table.
sub fails_with {
    my ($r, $re, $name, $port) = @_;
    $port //= $tls_port;
    my $ok = is($r->{exit}, 3, "$name: exit 3");
    $ok &= ok(!$r->{timed_out} && $r->{elapsed} < 10,
        "$name: stops by itself long before --duration ($r->{elapsed} s)");
    $ok &= like($r->{err}, qr/^mcshredder: no TLS connection to 127\.0\.0\.1:$port works: .*$re/m,
        "$name: says why");
    my @failed = $r->{err} =~ /^(mcshredder: TLS with 127\.0\.0\.1:$port failed: .*$re.*)$/mg;
    $ok &= is(scalar @failed, 1, "$name: the per-reason line comes once");
    $ok &= unlike($r->{out}, qr/TOTAL/, "$name: no result table");
    diag_run($r) unless $ok;
    return $ok;
}

sub server_ops {
    my $st = mc_stats($mc);
    return ($st->{cmd_get} // 0) + ($st->{cmd_set} // 0);
}

# Fixed work, not a duration: 2 clients, 50 requests each, then the run
# ends. Used where a run only has to show that a setup works.
my $work_lua = write_file(<<'LUA');
function config(args)
    local t = mcs.thread()
    mcs.add(t, { func = "one", clients = 2, rate_limit = 0, limit = 50 })
    mcs.shredder({ t }, 20)
end
function one()
    mcs.write(mcs.mg("work:", 1, "v"))
    mcs.flush()
    mcs.read()
end
LUA

# works_fixed($name, @args): the fixed work runs cleanly with @args.
sub works_fixed {
    my ($name, @args) = @_;
    my ($r, $j) = run_json(@args, '--conf', $work_lua, '--quiet');
    my $w = $j && $j->{workloads}[0];
    works($r, $w, $name) or return;
    is($w->{ops}, 100, "$name: 100 requests");
    is($w->{tls}{handshakes}, 2, "$name: 2 handshakes");
    return $r;
}

# ---- the built-in workload ------------------------------------------------------

for my $proto (qw(meta text)) {
    subtest "built-in workload, $proto, over TLS" => sub {
        my $before = server_ops();
        my ($r, $j) = run_json(@TLS, qw(--threads 1 --clients 4 --duration 1 --keys 100 --quiet),
            '--proto', $proto);
        my $w = $j && $j->{workloads}[0];
        works($r, $w, $proto) or return;
        is($w->{connects}, 4, 'one connect per client');
        is($w->{tls}{handshakes}, 4, 'one handshake per client');
        ok($w->{tls}{handshake}{latency_us}{max} > 0, 'handshake latency recorded');
        ok($w->{hits} > 0, "hits ($w->{hits})");
        my @kinds = $proto eq 'meta' ? qw(mg ms) : qw(get set);
        ok($w->{commands}{$_} && $w->{commands}{$_}{ops} > 0, "$_ requests done") for @kinds;
        my $served = server_ops() - $before;
        ok($served >= $w->{ops} && $served <= $w->{ops} + 4,
            "memcached served what was counted ($served served, $w->{ops} counted)");
    };
}

for my $proto (qw(meta text)) {
    subtest "pipelined 16 deep, $proto" => sub {
        my $before = server_ops();
        my ($r, $j) = run_json(@TLS, qw(--threads 1 --clients 2 --duration 1 --keys 100),
            qw(--pipeline 16 --value-size 100 --quiet), '--proto', $proto);
        my $w = $j && $j->{workloads}[0];
        works($r, $w, "$proto pipelined") or return;
        ok($r->{elapsed} < 5, "within the duration ($r->{elapsed} s)");
        ok($w->{ops} > 1000, "keeps going ($w->{ops} ops)");
        ok($w->{hits} > 0, "hits ($w->{hits})");
        my $served = server_ops() - $before;
        ok($served >= $w->{ops} && $served <= $w->{ops} + 2 * 16,
            "memcached served what was counted ($served served, $w->{ops} counted)");
    };
}

subtest 'large values: responses of many TLS records, pipelined' => sub {
    my $vlen = 50000;
    my $req = join '', map { "ms big:$_ $vlen T0\r\n" . ('v' x $vlen) . "\r\n" } 1 .. 20;
    my $stored = mc_cmd($mc, $req, responses => 20, timeout => 10);
    is(scalar(() = $stored =~ /^HD\r$/mg), 20, '20 values of 50 KB stored (plain port)');
    for my $proto (qw(meta text)) {
        my $conf = write_file(<<"LUA");
function config(args)
    local t = mcs.thread()
    mcs.add(t, { func = "big", clients = 2, rate_limit = 0 })
    mcs.shredder({ t }, 1)
end
local meta = "$proto" == "meta"
local getf = meta and mcs.mg_factory("big:", "v") or mcs.get_factory("big:")
local res = mcs.res_new()
local want = string.rep("v", $vlen)
function big()
    for i = 1, 16 do
        mcs.write_factory(getf, (i % 20) + 1)
    end
    mcs.flush()
    for i = 1, 16 do
        mcs.read(res)
        local v = mcs.res_value(res)
        if v ~= want then error("value of " .. (v and #v or "no") .. " bytes, not as stored") end
        if not meta then mcs.read(res) end -- END
    end
end
LUA
        my ($r, $j) = run_json(@TLS, '--conf', $conf, '--quiet');
        my $w = $j && $j->{workloads}[0];
        works($r, $w, "$proto, 16 x 50 KB") or next;
        is($w->{hits}, $w->{ops}, "$proto: every lookup a hit ($w->{hits})");
        ok($w->{bytes_in} > $w->{ops} * $vlen, "$proto: all the value bytes came in");
    }
};

subtest '200 connections at once, 2 threads' => sub {
    my $conf = write_file(<<'LUA');
function config(args)
    local t = { mcs.thread(), mcs.thread() }
    -- 100 clients per thread, 2 runs each (limit counts over the threads)
    mcs.add(t, { func = "one", clients = 200, rate_limit = 0, limit = 4 })
    mcs.shredder(t, 20)
end
function one()
    mcs.write(mcs.mg("many:", 1, "v"))
    mcs.flush()
    mcs.read()
end
LUA
    my ($r, $j) = run_json(@TLS, '--conf', $conf, '--quiet');
    my $w = $j && $j->{workloads}[0];
    works($r, $w, '200 clients') or return;
    is($w->{ops}, 400, '400 requests');
    is($w->{connects}, 200, 'every client connected once');
    is($w->{tls}{handshakes}, 200, 'one handshake each');
};

# ---- handshakes and resumption --------------------------------------------------

my $reconn_lua = write_file(<<'LUA');
-- 3 clients, each 10 runs of one mg, a new connection for every run
function config(args)
    local t = mcs.thread()
    mcs.add(t, { func = "one", clients = 3, rate_limit = 0, reconn_every = 1, limit = 10 })
    mcs.shredder({ t }, 20)
end
function one()
    mcs.write(mcs.mg("rc:", 1, "v"))
    mcs.flush()
    mcs.read()
end
LUA

for my $case (['resumption on', []], ['--tls-no-resume', ['--tls-no-resume']],
              ['TLS 1.2, resumption on', ['--tls-max', '1.2']],
              ['TLS 1.2, --tls-no-resume', ['--tls-max', '1.2', '--tls-no-resume']]) {
    my ($name, $extra) = @$case;
    subtest "reconn_every=1 limit=10, $name" => sub {
        my $conns_before = mc_stats($mc)->{total_connections};
        my ($r, $j) = run_json(@TLS, '--conf', $reconn_lua, '--quiet', @$extra);
        my $w = $j && $j->{workloads}[0];
        works($r, $w, $name) or return;
        ok($r->{elapsed} < 10, "ends when every client is done ($r->{elapsed} s)");
        is($w->{ops}, 30, '30 requests');
        is($w->{connects}, 30, '30 connects');
        is($w->{reconnects}, 27, '27 reconnects');
        is($w->{tls}{handshakes}, 30, 'one handshake per connection');
        my $resume = !grep { $_ eq '--tls-no-resume' } @$extra;
        is($w->{tls}{resumed}, $resume ? 27 : 0,
            $resume ? 'all but the first of each client resumed' : 'none resumed');
        # the connection of this mc_stats call is one more
        is(mc_stats($mc)->{total_connections} - $conns_before, 31,
            'memcached saw 30 connections');
    };
}

# ---- mTLS, failures, versions ------------------------------------------------------

my $mtls = start_memcached(tls => 1, args => ['-o', 'ssl_verify_mode=2']);
my $mc_bin = MCS::memcached_bin();
my $has_min_version = `$mc_bin -h 2>&1` =~ /ssl_min_version/;
my $tls13 = $has_min_version ? start_memcached(tls => 1, args => ['-o', 'ssl_min_version=3'])
                             : undef;

# another CA that signed nothing memcached has
my $other_ca = "$tmp/other-ca.pem";
my $gen = run_cmd({ timeout => 30 }, 'openssl', 'req', '-x509', '-newkey', 'ec',
    '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', "$tmp/other-ca.key",
    '-out', $other_ca, '-days', '2', '-subj', '/CN=some other CA');
ok(-s $other_ca, 'a second throwaway CA') or diag($gen->{err});

my @long = qw(--threads 1 --clients 2 --duration 30 --quiet);
my @jobs = (
    [{}, '--server', $mtls->addr, '--tls', '--tls-ca', $mtls->ca, @long],
    [{}, '--server', $addr, '--tls', '--tls-ca', $other_ca, @long],
    [{}, @TLS, '--tls-sni', 'wrong.example', @long],
    [{}, '--server', "127.0.0.1:$plain_port", '--tls', '--tls-ca', $mc->ca, @long],
    [{}, '--server', $addr, @long],
);
push @jobs, [{}, '--server', $tls13->addr, '--tls', '--tls-ca', $tls13->ca, '--tls-max', '1.2',
             @long] if $tls13;
my @res = run_parallel(@jobs);

subtest 'mTLS: no client certificate' => sub {
    fails_with($res[0], qr/client certificate/, 'no --tls-cert', $mtls->port);
};

subtest 'mTLS: with a client certificate' => sub {
    works_fixed('--tls-cert/--tls-key', '--server', $mtls->addr, '--tls', '--tls-ca', $mtls->ca,
        '--tls-cert', $mtls->client_cert, '--tls-key', $mtls->client_key);
};

subtest 'mTLS: the original option spellings' => sub {
    works_fixed('--tls_ca_cert/--tls_chain_cert/--tls_key', '--server', $mtls->addr, '--tls',
        '--tls_ca_cert', $mtls->ca, '--tls_chain_cert', $mtls->client_cert,
        '--tls_key', $mtls->client_key);
};

subtest 'wrong CA' => sub {
    fails_with($res[1], qr/unknown CA/, 'certificate from another CA');
};

subtest 'wrong server name' => sub {
    fails_with($res[2], qr/hostname mismatch/, '--tls-sni wrong.example');
};

subtest '--tls against the plain port' => sub {
    fails_with($res[3], qr/does not speak TLS/, 'plain port', $plain_port);
};

subtest 'plain against the TLS port' => sub {
    my $r = $res[4];
    is($r->{exit}, 3, 'exit 3') or diag_run($r);
    ok($r->{elapsed} < 10, "stops by itself ($r->{elapsed} s)");
    like($r->{err}, qr/^mcshredder: 127\.0\.0\.1:$tls_port .*TLS port\? try --tls/m,
        'suggests --tls');
    unlike($r->{out}, qr/TOTAL/, 'no result table');
};

SKIP: {
    skip 'memcached has no ssl_min_version', 1 unless $tls13;
    subtest 'no protocol version in common' => sub {
        fails_with($res[5], qr/version/, '--tls-max 1.2 against TLS 1.3 only', $tls13->port);
    };
}

# ---- options -------------------------------------------------------------------------

subtest '--tls-insecure' => sub {
    my $r = works_fixed('no CA at all', '--server', $addr, '--tls', '--tls-insecure');
    like($r && $r->{err}, qr/^mcshredder: warning: --tls-insecure/m, 'warns');
    works_fixed('with a wrong server name', '--server', $addr, '--tls', '--tls-insecure',
        '--tls-sni', 'wrong.example');
};

subtest '--tls-keylog' => sub {
    my $log = "$tmp/keys.log";
    my ($r, $j) = run_json(@TLS, '--conf', $reconn_lua, '--quiet', '--tls-keylog', $log);
    my $w = $j && $j->{workloads}[0];
    works($r, $w, 'with a keylog') or return;
    open my $fh, '<', $log or return fail("no keylog file $log: $!");
    my @lines = <$fh>;
    close $fh;
    my @chts = grep { /^CLIENT_HANDSHAKE_TRAFFIC_SECRET [0-9a-f]{64} [0-9a-f]{64,}$/ } @lines;
    is(scalar @chts, $w->{tls}{handshakes}, 'a CLIENT_HANDSHAKE_TRAFFIC_SECRET line per handshake');
    ok((grep { /^SERVER_HANDSHAKE_TRAFFIC_SECRET / } @lines), 'SERVER_HANDSHAKE_TRAFFIC_SECRET');
    ok((grep { /^CLIENT_TRAFFIC_SECRET_0 / } @lines), 'CLIENT_TRAFFIC_SECRET_0');
    my @bad = grep { !/^[A-Z_0-9]+ [0-9a-f]+ [0-9a-f]+$/ } @lines;
    is(scalar @bad, 0, 'every line is LABEL CLIENT_RANDOM SECRET') or diag(@bad[0 .. 2]);
};

subtest 'bad TLS options: exit 2, one line' => sub {
    for my $case (
        [['--tls-ca', '/nonexistent/ca.pem'], qr{/nonexistent/ca\.pem}],
        [['--tls-cert', $mc->client_cert], qr/--tls-key/],
        [['--tls-min', '1.1'], qr/1\.2 or 1\.3/],
        [['--tls-ciphersuites', 'NO_SUCH_SUITE'], qr/NO_SUCH_SUITE/],
    ) {
        my ($args, $re) = @$case;
        my $r = run_mcs({ timeout => 20 }, '--server', $addr, '--tls', @$args,
            qw(--duration 1 --quiet));
        is($r->{exit}, 2, "@$args: exit 2");
        my @lines = split /\n/, $r->{err};
        is(scalar @lines, 1, "@$args: one line") or diag($r->{err});
        like($r->{err}, $re, "@$args: names the problem");
    }
};

subtest 'the original --tls_ca_cert' => sub {
    works_fixed('--tls --tls_ca_cert', '--server', $addr, '--tls', '--tls_ca_cert', $mc->ca);
};

# ---- TLS and plain side by side ----------------------------------------------------

sub mixed_lua {
    my ($custom_opts) = @_;
    return write_file(<<"LUA");
function config(args)
    local t = mcs.thread()
    mcs.add(t, { func = "default_target", clients = 1, rate_limit = 0, limit = 100 })
    mcs.add_custom(t, { func = "own_client" })
    mcs.shredder({ t }, 20)
end
function default_target()
    mcs.write(mcs.mg("mix:", 1, "v"))
    mcs.flush()
    mcs.read()
end
function own_client()
    local c = mcs.client_new($custom_opts)
    local ok, err = mcs.client_connect(c)
    if not ok then error("client_connect: " .. tostring(err)) end
    local res = mcs.res_new()
    for i = 1, 100 do
        mcs.client_write(c, mcs.mg("mix:", 2, "v"))
        local ok, err = mcs.client_flush(c)
        if not ok then error("client_flush: " .. tostring(err)) end
        local r, err = mcs.client_read(c, res)
        if not r then error("client_read: " .. tostring(err)) end
    end
end
LUA
}

sub check_mixed {
    my ($r, $j, $tls_name, $plain_name) = @_;
    is($r->{exit}, 0, 'exit 0') or diag_run($r);
    my %w = map { $_->{name} => $_ } @{ $j ? $j->{workloads} : [] };
    for my $name ($tls_name, $plain_name) {
        my $w = $w{$name} or return fail("no workload $name in the JSON");
        is($w->{ops}, 100, "$name: 100 requests");
        is($w->{errors}, 0, "$name: no errors");
    }
    is($w{$tls_name}{tls}{handshakes}, 1, "$tls_name: over TLS (1 handshake)");
    is($w{$plain_name}{tls}{handshakes}, 0, "$plain_name: plain (no handshake)");
}

subtest 'TLS default target, plain client (tls=false) on the plain port' => sub {
    my $conf = mixed_lua("{ port = $plain_port, tls = false }");
    my ($r, $j) = run_json(@TLS, '--conf', $conf, '--quiet');
    check_mixed($r, $j, 'default_target', 'own_client');
};

subtest 'plain default target, TLS client (tls=true) on the TLS port' => sub {
    my $conf = mixed_lua("{ port = $tls_port, tls = true }");
    my ($r, $j) = run_json('--server', "127.0.0.1:$plain_port", '--tls-ca', $mc->ca,
        '--conf', $conf, '--quiet');
    check_mixed($r, $j, 'own_client', 'default_target');
};

subtest 'mcs.add tls=true needs TLS set up' => sub {
    my $conf = write_file(<<'LUA');
function config(args)
    local t = mcs.thread()
    mcs.add(t, { func = "f", tls = true })
    mcs.shredder({ t }, 1)
end
function f() end
LUA
    my $r = run_mcs({ timeout => 20 }, '--server', "127.0.0.1:$plain_port", '--conf', $conf,
        '--quiet');
    is($r->{exit}, 2, 'exit 2');
    like($r->{err}, qr/tls=true needs TLS/, 'says what is missing');
};

subtest 'mcs.add tls=true when TLS is set up but not the default' => sub {
    # --server is the TLS port and TLS is set up but not the default: the
    # tls=true workload reaches memcached, the default (plain) one may not
    my $conf = write_file(<<'LUA');
function config(args)
    local t = mcs.thread()
    mcs.add(t, { func = "over_tls", clients = 2, rate_limit = 0, limit = 50, tls = true })
    mcs.shredder({ t }, 20)
end
function over_tls()
    mcs.write(mcs.mg("mix:", 3, "v"))
    mcs.flush()
    mcs.read()
end
LUA
    my ($r, $j) = run_json('--server', $addr, '--tls-ca', $mc->ca, '--conf', $conf, '--quiet');
    my $w = $j && $j->{workloads}[0];
    works($r, $w, 'tls=true without --tls') or return;
    is($w->{ops}, 100, '100 requests');
    is($w->{tls}{handshakes}, 2, 'over TLS');
};

done_testing();
