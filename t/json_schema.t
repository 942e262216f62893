#!/usr/bin/perl
# json_schema.t: the --json file against its schema.  The schema is written
# out below as a Perl data structure (every key and its type), real result
# files are walked against it (a plain run, a TLS run, a rate-limited run, a
# Lua script using every command kind over two phases, a script with no
# workloads, and a run whose server is unreachable): every key must be
# there with its type, and no other key may appear.  Then docs/json.md is
# read and held against the same schema: every key must be documented in a
# table with the same type, and every key documented must exist, so the
# code, this file and the docs cannot drift apart silently.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use B ();
use File::Temp qw(tempdir);
use JSON::PP ();
use MCS;

my $TMP = tempdir('mcs-schema-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $nfile = 0;

# ---- the schema ---------------------------------------------------------------------
#
# A schema node is a type name ('integer', 'number', 'string', 'bool'), or
#   { obj => { key => node, ... } }       an object with exactly these keys
#   { arr => node }                       an array of nodes
#   { map => node, keys => [...] }        an object whose keys are some of
#                                         `keys` (or any, when absent), each
#                                         value a node
#   { tuple => [node, ...] }              an array of exactly these
# 'number' is any JSON number; 'integer' one without a fraction or exponent.

sub obj   { return { obj => {@_} } }
sub arr   { return { arr => $_[0] } }
sub tuple { return { tuple => [@_] } }

my @ERROR_KINDS = qw(error client_error server_error protocol connect reset timeout tls);
my @TLS_REASONS = qw(other unknown_ca hostname expired certificate not_tls server_tls
                     version cipher client_cert timeout closed);
my @COMMAND_KINDS = qw(get set delete touch incr mg ms md ma mn other);

my $LATENCY = obj(map { $_ => 'number' } qw(p50 p90 p99 p999 max mean));
# an interval's latency_us has no mean
my $INTERVAL_LATENCY = obj(map { $_ => 'number' } qw(p50 p90 p99 p999 max));

my $COMMAND = obj(
    ops         => 'integer',
    ops_per_sec => 'number',
    latency_us  => $LATENCY,
    histogram   => arr(tuple('integer', 'integer', 'integer')),
);

# "The stats group": what a workload and the totals share.
my @STATS = (
    duration_s     => 'number',
    ops            => 'integer',
    ops_per_sec    => 'number',
    errors         => 'integer',
    errors_by_kind => obj(map { $_ => 'integer' } @ERROR_KINDS),
    hits           => 'integer',
    misses         => 'integer',
    bytes_in       => 'integer',
    bytes_out      => 'integer',
    connects       => 'integer',
    reconnects     => 'integer',
    validated      => 'integer',
    validate_mismatches => 'integer',
    tls            => obj(
        handshakes       => 'integer',
        resumed          => 'integer',
        errors_by_reason => obj(map { $_ => 'integer' } @TLS_REASONS),
        handshake        => obj(latency_us => $LATENCY),
    ),
    latency_us     => $LATENCY,
    commands       => { map => $COMMAND, keys => \@COMMAND_KINDS },
);

my $INTERVAL = obj(
    t_s         => 'number',
    len_s       => 'number',
    ops         => 'integer',
    ops_per_sec => 'number',
    errors      => 'integer',
    hits        => 'integer',
    misses      => 'integer',
    latency_us  => $INTERVAL_LATENCY,
);

# A workload: its own keys, the open-loop schedule, then the stats group.
my $WORKLOAD = obj(
    name                => 'string',
    phase               => 'integer',
    intervals           => arr($INTERVAL),
    runs                => 'integer',
    rate                => obj(
        target_runs_per_sec   => 'number',
        achieved_runs_per_sec => 'number',
        late_runs             => 'integer',
        max_lag_us            => 'number',
    ),
    rate_achieved_ratio => 'number',
    service             => obj(latency_us => $LATENCY),
    @STATS,
);

my $TOP = obj(
    version    => 'integer',
    duration_s => 'number',
    seed       => 'integer',
    workloads  => arr($WORKLOAD),
    totals     => obj(@STATS, cpu_us_per_op => 'number'),
    client     => obj(
        threads   => arr(obj(cpu_s => 'number', wall_s => 'number', utilization => 'number')),
        saturated => 'bool',
    ),
);

# ---- walking a decoded file against the schema ----------------------------------------

# The JSON type of a freshly decoded value.  JSON::PP gives integers IV and
# numbers with a fraction NV; this must look before anything uses the value
# in another context (which would add flags).
sub jtype {
    my ($v) = @_;
    return 'null' unless defined $v;
    if (ref $v) {
        return 'object' if ref $v eq 'HASH';
        return 'array' if ref $v eq 'ARRAY';
        return 'bool' if JSON::PP::is_bool($v);
        return 'ref ' . ref $v;
    }
    my $f = B::svref_2object(\$v)->FLAGS;
    return 'integer' if $f & B::SVf_IOK && !($f & B::SVf_NOK);
    return 'number' if $f & B::SVf_NOK;
    return 'integer' if $f & B::SVf_IOK;
    return 'string';
}

sub type_ok {
    my ($want, $got) = @_;
    return 1 if $want eq $got;
    return 1 if $want eq 'number' && $got eq 'integer';
    return 0;
}

# Schema paths seen in some file ("workloads[].intervals[].ops"), so the end
# can check that every part of the schema was met at least once.
my %VISITED;

# walk($value, $schema, $path, $errors): appends "path: problem" strings.
sub walk {
    my ($v, $s, $path, $err) = @_;
    $VISITED{$path} = 1;
    my $t = jtype($v);
    if (!ref $s) {
        push @$err, "$path: expected $s, got $t" unless type_ok($s, $t);
        return;
    }
    if ($s->{obj}) {
        return push @$err, "$path: expected an object, got $t" unless $t eq 'object';
        my $keys = $s->{obj};
        for my $k (sort keys %$keys) {
            if (exists $v->{$k}) {
                walk($v->{$k}, $keys->{$k}, $path eq '' ? $k : "$path.$k", $err);
            } else {
                push @$err, "$path: missing key '$k'";
            }
        }
        for my $k (sort keys %$v) {
            push @$err, "$path: undocumented key '$k'" unless exists $keys->{$k};
        }
    } elsif ($s->{arr}) {
        return push @$err, "$path: expected an array, got $t" unless $t eq 'array';
        walk($_, $s->{arr}, "$path\[]", $err) for @$v;
    } elsif ($s->{map}) {
        return push @$err, "$path: expected an object, got $t" unless $t eq 'object';
        my %allowed = map { $_ => 1 } @{ $s->{keys} // [] };
        for my $k (sort keys %$v) {
            push @$err, "$path: undocumented key '$k'" if $s->{keys} && !$allowed{$k};
            walk($v->{$k}, $s->{map}, "$path.*", $err);
        }
    } elsif ($s->{tuple}) {
        return push @$err, "$path: expected an array, got $t" unless $t eq 'array';
        my @want = @{ $s->{tuple} };
        return push @$err, "$path: expected " . scalar(@want) . " elements, got " . scalar(@$v)
            unless @$v == @want;
        walk($v->[$_], $want[$_], "$path\[$_]", $err) for 0 .. $#want;
    }
}

# Every schema path, as walk names them.
sub schema_paths {
    my ($s, $path, $out) = @_;
    $out->{$path} = 1;
    return $out unless ref $s;
    if ($s->{obj}) {
        schema_paths($s->{obj}{$_}, $path eq '' ? $_ : "$path.$_", $out) for keys %{ $s->{obj} };
    } elsif ($s->{arr}) {
        schema_paths($s->{arr}, "$path\[]", $out);
    } elsif ($s->{map}) {
        schema_paths($s->{map}, "$path.*", $out);
    } elsif ($s->{tuple}) {
        schema_paths($s->{tuple}[$_], "$path\[$_]", $out) for 0 .. $#{ $s->{tuple} };
    }
    return $out;
}

# Every key name in the schema, with the types it has: {name => {type => 1}}.
# Map members (the command kinds) count as keys of their map's value type.
sub schema_names {
    my ($s, $out) = @_;
    return $out unless ref $s;
    my $type_of = sub { my $n = shift; ref $n ? ($n->{obj} || $n->{map} ? 'object' : 'array') : $n };
    if ($s->{obj}) {
        for my $k (keys %{ $s->{obj} }) {
            $out->{$k}{ $type_of->($s->{obj}{$k}) } = 1;
            schema_names($s->{obj}{$k}, $out);
        }
    } elsif ($s->{arr}) {
        schema_names($s->{arr}, $out);
    } elsif ($s->{map}) {
        $out->{$_}{ $type_of->($s->{map}) } = 1 for @{ $s->{keys} // [] };
        schema_names($s->{map}, $out);
    } elsif ($s->{tuple}) {
        schema_names($_, $out) for @{ $s->{tuple} };
    }
    return $out;
}

# check_file($label, $path) -> decoded JSON or undef; the schema tests.
sub check_file {
    my ($label, $path) = @_;
    my $j = eval { read_json($path) };
    ok($j, "$label: the JSON file is written and parses") or do {
        diag($@);
        return undef;
    };
    my @err;
    walk($j, $TOP, '', \@err);
    my @missing = grep { /missing key/ } @err;
    my @extra = grep { /undocumented key/ } @err;
    my @types = grep { !/missing key|undocumented key/ } @err;
    is_deeply(\@missing, [], "$label: every key of the schema is there");
    is_deeply(\@extra, [], "$label: no key outside the schema");
    is_deeply(\@types, [], "$label: every value has its schema type");
    is($j->{version}, 1, "$label: version 1");
    return $j;
}

sub json_path { return sprintf '%s/run%d.json', $TMP, ++$nfile }

sub write_lua {
    my ($text) = @_;
    my $path = sprintf '%s/script%d.lua', $TMP, ++$nfile;
    open my $fh, '>', $path or die "$path: $!";
    print $fh $text;
    close $fh;
    return $path;
}

my $mc = start_memcached(threads => 2);

# ---- a plain run: the built-in workload, two threads, several intervals ----------------

{
    my $jf = json_path();
    my $res = run_mcs({ timeout => 20 }, '--server', $mc->addr, qw(--threads 2 --clients 2),
        qw(--duration 1.2 --interval 0.4 --quiet --json), $jf);
    is($res->{exit}, 0, 'plain: exit 0') or diag($res->{err});
    my $j = check_file('plain', $jf);
    if ($j) {
        my $w = $j->{workloads}[0] // {};
        is(scalar @{ $j->{client}{threads} // [] }, 2, 'plain: client.threads has both threads');
        cmp_ok(scalar @{ $w->{intervals} // [] }, '>=', 2, 'plain: intervals were recorded');
        is($w->{rate}{target_runs_per_sec}, 0, 'plain: no schedule, target 0');
        is($w->{rate_achieved_ratio}, 1, 'plain: no schedule, rate_achieved_ratio 1');
        is($w->{runs}, $w->{ops}, 'plain: one request per run, runs = ops');
        is($w->{service}{latency_us}{max}, 0, 'plain: closed loop, no separate service time');
    }
}

# ---- a TLS run -----------------------------------------------------------------------

SKIP: {
    skip 'memcached has no TLS support (-Z)', 8 unless memcached_has_tls();
    my $probe = run_mcs({ timeout => 20 }, '--server', '127.0.0.1:1', '--tls',
        '--tls-insecure', '--duration', '0.1', '--quiet');
    skip 'mcshredder was built without TLS', 8 if $probe->{err} =~ /built without TLS/;
    my $tmc = start_memcached(tls => 1);
    my $jf = json_path();
    my $res = run_mcs({ timeout => 20 }, '--server', $tmc->addr, '--tls', '--tls-ca', $tmc->ca,
        qw(--threads 1 --clients 2 --duration 1 --interval 0.4 --quiet --json), $jf);
    is($res->{exit}, 0, 'TLS: exit 0') or diag($res->{err});
    my $j = check_file('TLS', $jf);
    cmp_ok($j ? $j->{totals}{tls}{handshakes} : 0, '>=', 2, 'TLS: handshakes counted');
    cmp_ok($j ? $j->{totals}{tls}{handshake}{latency_us}{max} : 0, '>', 0,
           'TLS: handshake latency recorded');
    $tmc->stop('KILL');
}

# ---- a rate-limited run ----------------------------------------------------------------

{
    my $jf = json_path();
    my $res = run_mcs({ timeout => 20 }, '--server', $mc->addr, qw(--threads 1 --clients 4),
        qw(--rate 500 --duration 1.2 --interval 0.4 --quiet --json), $jf);
    is($res->{exit}, 0, 'rate: exit 0') or diag($res->{err});
    my $j = check_file('rate', $jf);
    my $w = $j ? $j->{workloads}[0] : {};
    is($w->{rate}{target_runs_per_sec}, 500, 'rate: target_runs_per_sec 500');
    cmp_ok($w->{service}{latency_us}{max} // 0, '>', 0, 'rate: service time recorded');
}

# ---- a Lua script: every command kind, two phases, a schedule in the second -----------

{
    my $lua = write_lua(<<'LUA');
function config()
    local t1, t2 = mcs.thread(), mcs.thread()
    mcs.add(t1, { func = "every", clients = 1, limit = 3, rate_limit = 0 })
    mcs.add(t2, { func = "quick", clients = 1, limit = 5, rate_limit = 0 })
    mcs.shredder({ t1, t2 })
    mcs.add({ t1, t2 }, { func = "quick", clients = 2, rate_limit = 200 })
    mcs.shredder({ t1, t2 }, 1)
end

-- write req, flush, read until a response that is not VALUE or STAT
local function rt(req)
    mcs.write(req)
    mcs.flush()
    local res = mcs.read()
    while mcs.res_type(res) == "VALUE" or mcs.res_type(res) == "STAT" do
        res = mcs.read()
    end
    return res
end

function every()
    rt(mcs.set("schema:", 1, 0, 0, 10))     -- set
    rt(mcs.get("schema:", 1))               -- get
    rt(mcs.touch("schema:", 1, 60))         -- touch
    rt(mcs.incr("schema:n"))                -- incr
    rt(mcs.delete("schema:", 1))            -- delete
    rt(mcs.ms("schema:", 2, 10))            -- ms
    rt(mcs.mg("schema:", 2, "v"))           -- mg
    rt(mcs.ma("schema:n", -1))              -- ma
    rt(mcs.md("schema:", 2))                -- md
    rt(mcs.mn())                            -- mn
    rt(mcs.version())                       -- other
end

function quick()
    rt(mcs.mn())
end
LUA
    my $jf = json_path();
    my $res = run_mcs({ timeout => 20 }, '--server', $mc->addr, '--conf', $lua,
        qw(--interval 0.4 --quiet --json), $jf);
    is($res->{exit}, 0, 'Lua: exit 0') or diag($res->{err});
    my $j = check_file('Lua', $jf);
    is_deeply([sort keys %{ $j ? $j->{totals}{commands} : {} }], [sort @COMMAND_KINDS],
              'Lua: every command kind of the schema occurs');
    is(scalar @{ $j ? $j->{workloads} : [] }, 3, 'Lua: three workloads');
}

# ---- no workloads at all, no threads -----------------------------------------------------

{
    my $lua = write_lua("function config() end\n");
    my $jf = json_path();
    my $res = run_mcs({ timeout => 20 }, '--server', $mc->addr, '--conf', $lua, '--quiet',
        '--json', $jf);
    is($res->{exit}, 0, 'empty: exit 0') or diag($res->{err});
    my $j = check_file('empty', $jf);
    is_deeply($j ? $j->{workloads} : undef, [], 'empty: workloads is []');
    is_deeply($j ? $j->{client}{threads} : undef, [], 'empty: client.threads is []');
}

# ---- a server that is not there: errors, exit 3, the file still follows the schema -------

{
    my $port = free_port();
    my $jf = json_path();
    my $res = run_mcs({ timeout => 20 }, '--server', "127.0.0.1:$port",
        qw(--threads 1 --clients 1 --duration 5 --quiet --json), $jf);
    is($res->{exit}, 3, 'unreachable: exit 3') or diag($res->{err});
    my $j = check_file('unreachable', $jf);
    cmp_ok($j ? $j->{totals}{errors_by_kind}{connect} : 0, '>', 0,
           'unreachable: connect errors counted');
}

# ---- every part of the schema was met in some file ------------------------------------------

{
    my @unvisited = grep { !$VISITED{$_} } sort keys %{ schema_paths($TOP, '', {}) };
    # the TLS run is the only one with TLS; without it nothing is missed in
    # the schema walk (the tls object is present, all zeros, in every file)
    is_deeply(\@unvisited, [], 'every key of the schema was checked in some real file');
}

# ---- docs/json.md against the schema ----------------------------------------------------------
#
# The docs describe keys in tables whose first column is the key (or several
# keys, `p50`, `p90`, ...; a nested one may be written as a path,
# `threads[].cpu_s`) and whose second column, when it is a type, starts with
# integer / number / string / object / array / bool(ean).

my $DOC_PATH = repo_root() . '/docs/json.md';
my $doc = do { local (@ARGV, $/) = ($DOC_PATH); <> } // '';
ok(length $doc, 'docs/json.md is there');

my (%doc_types, %in_table);
for my $line (split /\n/, $doc) {
    next unless $line =~ /^\|\s*([^|]*?)\s*\|\s*([^|]*?)\s*\|/;
    my ($first, $second) = ($1, $2);
    next unless $first =~ /^`[^`]+`(?:\s*,\s*`[^`]+`)*$/;
    # a path names its last key
    my @keys = map { s/^.*[.\]]//r } $first =~ /`([^`]+)`/g;
    my $type = $second =~ /^(integer|number|string|object|array|bool)/i ? lc $1 : undef;
    for my $k (@keys) {
        $in_table{$k} = 1;
        $doc_types{$k}{$type} = 1 if defined $type;
    }
}
my %mentioned = map { $_ => 1 } $doc =~ /`([A-Za-z_][A-Za-z0-9_]*)`/g;

my $names = schema_names($TOP, {});
# Members listed in prose rather than in a table of their own.
my %prose_ok = map { $_ => 1 } @TLS_REASONS;

my @undocumented = grep { !($in_table{$_} || ($prose_ok{$_} && $mentioned{$_})) }
                   sort keys %$names;
is_deeply(\@undocumented, [], 'docs/json.md documents every key the file has')
    or diag("keys written by mcshredder but not documented in docs/json.md: @undocumented");

my @type_diff;
for my $k (sort keys %doc_types) {
    next unless $names->{$k};
    for my $t (sort keys %{ $doc_types{$k} }) {
        push @type_diff, "$k: documented as $t, schema has " . join('/', sort keys %{ $names->{$k} })
            unless $names->{$k}{$t} || ($t eq 'number' && $names->{$k}{integer});
    }
}
is_deeply(\@type_diff, [], 'docs/json.md gives every key the type the file has');

my @phantom = grep { !$names->{$_} } sort keys %in_table;
is_deeply(\@phantom, [], 'every key docs/json.md documents is in the file')
    or diag("documented in docs/json.md but never written: @phantom");

# "## `totals`": the keys of a workload it does not have ("none of ...",
# or "the same keys as a workload except ...").
SKIP: {
    my ($section) = $doc =~ /^##\s+`totals`\s*\n(.*?)(?=^##\s)/ms;
    my ($sentence) = ($section // '') =~ /\b(?:except|none of)\b([^.:)]*)/s;
    skip 'docs/json.md does not list what totals leaves out', 1 unless $sentence;
    my @doc_except = sort $sentence =~ /`([^`]+)`/g;
    my @code_except = sort grep { !exists $TOP->{obj}{totals}{obj}{$_} }
                           keys %{ $WORKLOAD->{obj} };
    is_deeply(\@doc_except, \@code_except,
              'docs/json.md: the keys a workload has and totals lacks')
        or diag("docs say totals lacks: @doc_except; the file's totals lacks: @code_except");
}

# The example: shortened, but it must not show keys that do not exist.
SKIP: {
    my ($example) = $doc =~ /^## Example.*?```json\n(.*?)```/ms;
    skip 'docs/json.md has no example', 2 unless $example;
    my $ej = eval { JSON::PP->new->decode($example) };
    ok($ej, 'docs/json.md: the example is valid JSON') or skip('the example does not parse', 1);
    my @err;
    walk($ej, $TOP, '', \@err);
    # "..." stands for the rest of the keys, as the docs say
    my @extra = grep { /undocumented key/ && !/'\.\.\.'/ } @err;
    is_deeply(\@extra, [], 'docs/json.md: the example has no key outside the schema');
    my @left_out = grep { /missing key/ } @err;
    note("the example leaves out (it is shortened): " . join('; ', @left_out)) if @left_out;
}

$mc->stop('KILL');
done_testing();
