#!/usr/bin/perl
# workload.t: the built-in workload's key, value and mix flags against a real
# memcached (--key-dist, --value-size, --ratio with deletes and touches,
# --ttl, --multiget, --key-prefix, --preload, --seed), validation (a value
# corrupted behind the tool's back is caught, exit 1), and the Lua side of
# the distributions (mcs.key_dist, mcs.size_dist, mcs.seed).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep);
use MCS;

my $TMP = tempdir('mcs-workload-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $json_n = 0;

# run_builtin($mc, @flags) -> (result, JSON or undef)
sub run_builtin {
    my ($mc, @flags) = @_;
    my $jf = "$TMP/run" . ++$json_n . ".json";
    my $res = run_mcs({ timeout => 30 }, '--server', $mc->addr, qw(--threads 1 --quiet),
                      '--json', $jf, @flags);
    my $j = eval { read_json($jf) };
    return ($res, $j);
}

sub workload {
    my ($j, $name) = @_;
    my ($w) = grep { $_->{name} eq $name } @{ $j->{workloads} // [] };
    return $w // {};
}

# value length of key $k, or undef on a miss
sub value_len {
    my ($mc, $k) = @_;
    my $r = mc_cmd($mc, "mg $k s\r\n");
    return $r =~ /^HD s(\d+)/ ? $1 : undef;
}

# ---- --key-prefix, --keys, sequential keys, --preload -----------------------------

my $mc = start_memcached();
my ($res, $j) = run_builtin($mc, qw(--clients 3 --keys 50 --key-prefix wk: --preload
                                     --ratio 0:1 --duration 0.5 --value-size 7));
is($res->{exit}, 0, 'preload: exit 0') or diag($res->{err});
my $pre = workload($j, 'preload');
is($pre->{ops}, 50, 'preload: one set per key');
is($pre->{phase}, 1, 'preload: phase 1 of its own');
my $mixed = workload($j, 'mixed');
cmp_ok($mixed->{hits}, '>', 0, 'after preload: gets hit');
is($mixed->{misses}, 0, 'after preload: no get misses');
is(mc_stats($mc)->{curr_items}, 50, 'preload: 50 items in memcached');
is(value_len($mc, 'wk:1'), 7, 'key wk:1 exists with a 7-byte value');
is(value_len($mc, 'wk:50'), 7, 'key wk:50 exists');
is(value_len($mc, 'wk:51'), undef, 'no key wk:51');
is(value_len($mc, 'wk:0'), undef, 'no key wk:0: keys are 1..N');

# ---- --value-size forms ---------------------------------------------------------------

for my $case (['range', '100-200', sub { $_[0] >= 100 && $_[0] <= 200 }],
              ['weighted', '10:1,3000:1', sub { $_[0] == 10 || $_[0] == 3000 }],
              ['pareto', 'gpd:50,200,0.3,5000', sub { $_[0] >= 50 && $_[0] <= 5000 }]) {
    my ($name, $spec, $ok) = @$case;
    mc_cmd($mc, "flush_all\r\n");
    ($res, $j) = run_builtin($mc, '--keys', 40, '--key-dist', 'sequential', '--ratio', '1:0',
                             '--clients', 1, '--value-size', $spec, '--duration', '0.3');
    is($res->{exit}, 0, "--value-size $spec: exit 0") or diag($res->{err});
    my @len = grep { defined } map { value_len($mc, "mcs:$_") } 1 .. 40;
    is(scalar @len, 40, "--value-size $spec: every key was set");
    is(scalar(grep { !$ok->($_) } @len), 0, "--value-size $spec: sizes in range")
        or diag("@len");
    my %distinct = map { $_ => 1 } @len;
    cmp_ok(scalar keys %distinct, '>', 1, "--value-size $spec: sizes vary");
}

# an empty value still ends its data block with \r\n
for my $proto (qw(meta text)) {
    ($res, $j) = run_builtin($mc, '--proto', $proto, qw(--value-size 0 --ratio 1:1 --keys 20
                             --duration 0.3 --clients 1 --validate));
    is($res->{exit}, 0, "--value-size 0 --proto $proto: exit 0") or diag($res->{err});
    is($j->{totals}{errors}, 0, "--value-size 0 --proto $proto: no errors");
    cmp_ok($j->{totals}{ops}, '>', 100, "--value-size 0 --proto $proto: requests flow");
}
is(value_len($mc, 'mcs:1'), 0, 'an empty value was stored');

# ---- --ratio with deletes and touches, --ttl, text and meta --------------------------

($res, $j) = run_builtin($mc, qw(--proto text --ratio 1:1:1:1 --keys 100 --duration 0.5
                                 --ttl 300 --clients 2));
is($res->{exit}, 0, 'text 1:1:1:1: exit 0') or diag($res->{err});
for my $kind (qw(get set delete touch)) {
    cmp_ok($j->{workloads}[0]{commands}{$kind}{ops} // 0, '>', 0, "text 1:1:1:1: $kind ran");
}
is($j->{totals}{errors}, 0, 'text 1:1:1:1: no errors');

($res, $j) = run_builtin($mc, qw(--ratio 1:1:1:0 --keys 100 --duration 0.5 --clients 2));
is($res->{exit}, 0, 'meta 1:1:1: exit 0') or diag($res->{err});
for my $kind (qw(mg ms md)) {
    cmp_ok($j->{workloads}[0]{commands}{$kind}{ops} // 0, '>', 0, "meta 1:1:1: $kind ran");
}

mc_cmd($mc, "flush_all\r\n");
($res, $j) = run_builtin($mc, qw(--ratio 1:0 --keys 5 --key-dist sequential --ttl 1
                                 --duration 0.2 --clients 1));
is($res->{exit}, 0, '--ttl 1: exit 0') or diag($res->{err});
my $ttl = mc_cmd($mc, "mg mcs:1 t\r\n");
like($ttl, qr/^HD t[01]\r\n/, '--ttl 1: the item has a TTL of about 1 s') or diag($ttl);

# ---- --multiget ------------------------------------------------------------------------

for my $proto (qw(text meta)) {
    my $before = mc_stats($mc);
    ($res, $j) = run_builtin($mc, '--proto', $proto, qw(--ratio 0:1 --multiget 8 --keys 1000
                                                        --duration 0.5 --clients 2));
    my $after = mc_stats($mc);
    is($res->{exit}, 0, "--multiget 8 --proto $proto: exit 0") or diag($res->{err});
    my $kind = $proto eq 'text' ? 'get' : 'mg';
    my $ops = $j->{workloads}[0]{commands}{$kind}{ops} // 0;
    my $keys = $after->{cmd_get} - $before->{cmd_get};
    # text: one request asks for 8 keys; meta: 8 requests of one key each
    my $want = $proto eq 'text' ? 8 * $ops : $ops;
    ok($ops > 0 && abs($keys - $want) <= 16,
       "--multiget 8 --proto $proto: memcached looked up $want keys for $ops requests")
        or diag("cmd_get delta $keys, ops $ops");
    my $w = $j->{workloads}[0];
    is($w->{hits} + $w->{misses}, $want, "--multiget 8 --proto $proto: every key counted");
}

# ---- --key-dist: hot keys ------------------------------------------------------------

mc_cmd($mc, "flush_all\r\n");
($res, $j) = run_builtin($mc, qw(--ratio 1:0 --keys 100000 --key-dist zipf:1.2 --duration 0.5
                                 --clients 2 --value-size 10));
is($res->{exit}, 0, '--key-dist zipf: exit 0') or diag($res->{err});
my $sets = $j->{workloads}[0]{commands}{ms}{ops};
my $items = mc_stats($mc)->{curr_items};
cmp_ok($items, '<', $sets / 3, "--key-dist zipf:1.2: $sets sets touched only $items keys");
ok(defined value_len($mc, 'mcs:1'), '--key-dist zipf: the hottest key mcs:1 was set');

# ---- --seed: the same choices again -----------------------------------------------------

my $seed_lua = "$TMP/seed.lua";
open my $fh, '>', $seed_lua or die;
print $fh <<'LUA';
function config()
    local t = mcs.thread()
    mcs.add({ t }, { func = "draw", clients = 2, init = true, limit = 1, rate_limit = 0 })
    mcs.shredder({ t })
end
function draw()
    local kd = mcs.key_dist("zipf:0.9", 1000)
    local kd2 = mcs.key_dist("uniform", 1000000)
    local sd = mcs.size_dist("10-100000")
    return function()
        local t = {}
        for i = 1, 5 do t[#t + 1] = kd:next() .. "/" .. kd2:next() .. "/" .. sd:next() end
        print(table.concat(t, " "))
    end
end
LUA
close $fh;
sub draws {
    my @seed = @_;
    my $r = run_mcs({ timeout => 20 }, '--conf', $seed_lua, '--server', $mc->addr, '--quiet',
                    @seed);
    is($r->{exit}, 0, "key_dist script @seed: exit 0") or diag($r->{err});
    return join "\n", sort grep { /^\d/ } split /\n/, $r->{out};
}
my $a = draws('--seed', 42);
my $b = draws('--seed', 42);
my $c = draws('--seed', 43);
like($a, qr{^(\d+/\d+/\d+ ?){5}\n(\d+/\d+/\d+ ?){5}$}, 'two clients drew 5 keys and sizes each')
    or diag($a);
is($b, $a, '--seed 42 twice: the same keys and sizes');
isnt($c, $a, '--seed 43: other keys and sizes');
my @clients = split /\n/, $a;
isnt($clients[0], $clients[1], 'each client has its own stream');

# a bad spec in Lua is an error naming it
my $r = run_lua($mc, <<'LUA', '--quiet');
function config() mcs.key_dist("zipf:0", 10) end
LUA
is($r->{exit}, 2, 'mcs.key_dist("zipf:0"): exit 2');
like($r->{err}, qr/test\.lua:1:.*zipf:0/, 'mcs.key_dist("zipf:0"): file:line and the spec');

# ---- validation ----------------------------------------------------------------------

mc_cmd($mc, "flush_all\r\n");
for my $proto (qw(meta text)) {
    ($res, $j) = run_builtin($mc, '--proto', $proto, qw(--preload --validate --keys 200
                             --ratio 1:4 --multiget 2 --value-size 1-3000 --duration 0.5));
    is($res->{exit}, 0, "--validate --proto $proto on a clean server: exit 0")
        or diag($res->{err});
    my $w = workload($j, 'mixed');
    cmp_ok($w->{validated}, '>', 100, "--validate --proto $proto: values were checked");
    is($w->{validate_mismatches}, 0, "--validate --proto $proto: no mismatches");
    like($res->{out}, qr/validated [\d,]+ values: 0 mismatches/, 'the summary says so');
}

# corrupt three keys behind the tool's back: the same length, other bytes;
# one cut short; one replaced by another key's value
sub corrupt {
    my $len = value_len($mc, 'mcs:7') or return 0;
    mc_cmd($mc, "ms mcs:7 $len\r\n" . ('x' x $len) . "\r\n");
    my $v = mc_cmd($mc, "mg mcs:8 v\r\n");
    my ($body) = $v =~ /^VA \d+ *\r\n(.*)\r\n\z/s or return 0;
    my $cut = substr($body, 0, length($body) - 1);
    mc_cmd($mc, sprintf("ms mcs:8 %d\r\n%s\r\n", length $cut, $cut));
    my $other = mc_cmd($mc, "mg mcs:10 v\r\n");
    my ($obody) = $other =~ /^VA \d+ *\r\n(.*)\r\n\z/s or return 0;
    mc_cmd($mc, sprintf("ms mcs:9 %d\r\n%s\r\n", length $obody, $obody));
    return 1;
}
for my $proto (qw(meta text)) {
    ok(corrupt(), "corrupted mcs:7, mcs:8 and mcs:9 ($proto)");
    ($res, $j) = run_builtin($mc, '--proto', $proto,
                             qw(--validate --keys 10 --ratio 0:1 --duration 0.5 --clients 2));
    is($res->{exit}, 1, "--validate --proto $proto, corrupted values: exit 1");
    my $w = workload($j, 'mixed');
    cmp_ok($w->{validate_mismatches}, '>', 0, "--proto $proto: mismatches counted in the JSON");
    like($res->{err}, qr/validate: key 'mcs:[789]'/, "--proto $proto: a mismatch names its key");
    my @lines = $res->{err} =~ /^mcshredder: validate: key /mg;
    is(scalar @lines, 5, "--proto $proto: the first 5 are printed");
    like($res->{err}, qr/further mismatches are only counted/, '... then only counted');
    like($res->{err}, qr/validation failed: [\d,]+ of [\d,]+ values/, '... and a last line says so');
    run_builtin($mc, qw(--preload --keys 10 --ratio 0:1 --duration 0.1)); # repair
}

# a Lua workload turns validation on with validate = true
ok(corrupt(), 'corrupted again for Lua');
$r = run_lua($mc, <<'LUA', '--quiet');
function config()
    local t = mcs.thread()
    mcs.add({ t }, { func = "check", clients = 1, init = true, limit = 10, rate_limit = 0,
                     validate = true })
    mcs.shredder({ t })
end
function check()
    local f = mcs.mg_factory("mcs:", "v")
    local res = mcs.res_new()
    local k = 0
    return function()
        k = k + 1
        mcs.write_factory(f, k)
        mcs.flush()
        mcs.read(res)
    end
end
LUA
is($r->{exit}, 1, 'Lua validate = true: corrupted values give exit 1');
like($r->{err}, qr/validate: key with hash [0-9a-f]{16}: .*add the mg k flag/,
     'Lua validate = true: without k, the key hash is named');

# ---- --pin ---------------------------------------------------------------------------

$r = run_mcs({ timeout => 20 }, '--server', $mc->addr, qw(--pin -v --threads 2 --duration 0.2
                                                         --quiet));
is($r->{exit}, 0, '--pin: exit 0') or diag($r->{err});
like($r->{err}, qr/worker 0 pinned to CPU \d+/, '--pin -v: worker 0 is pinned');
like($r->{err}, qr/worker 1 pinned to CPU \d+/, '--pin -v: worker 1 is pinned');
like($r->{err}, qr/io_uring on Linux .*set-up/, '-v: the io_uring set-up is named');

done_testing();
