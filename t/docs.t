#!/usr/bin/perl
# docs.t: the documentation keeps up with the binary.
#   - every long option that `mcshredder --help` (and `mcshredder compare
#     --help`) prints is documented in man/mcshredder.1 and docs/cli.md;
#   - every option the man page documents (the tags of its option lists),
#     and every option docs/cli.md documents (the first column of its option
#     tables), and every option docs/guide.md uses, is printed by --help
#     (a few old spellings the binary accepts without listing them are
#     allowed, and checked to be accepted);
#   - the man page renders with no groff warnings;
#   - every mcs.* function the binary registers is described in
#     docs/lua-api.md and listed in its index of functions, and every
#     function it has a section for is registered.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use MCS;

chdir repo_root() or die "chdir: $!";

my $MAN = 'man/mcshredder.1';
my $CLI = 'docs/cli.md';
my $API = 'docs/lua-api.md';
my $GUIDE = 'docs/guide.md';

# The original mcshredder's spellings: accepted, not listed by --help.
my %ALIASES = map { $_ => 1 } qw(tls_ca_cert tls_chain_cert tls_key);

sub slurp {
    my ($path) = @_;
    open my $fh, '<', $path or die "$path: $!";
    local $/;
    return scalar <$fh>;
}

# Long options named in a text: --name, not inside a longer word.
sub long_opts {
    my ($text) = @_;
    my %o;
    $o{$1} = 1 while $text =~ /(?<![\w-])--([a-z][a-z0-9_]*(?:-[a-z0-9_]+)*)/g;
    return \%o;
}

# ---- the options --help prints -------------------------------------------------------

my $help = run_mcs({ timeout => 10 }, '--help');
is($help->{exit}, 0, '--help exits 0') or diag($help->{err});
my $chelp = run_mcs({ timeout => 10 }, 'compare', '--help');
is($chelp->{exit}, 0, 'compare --help exits 0') or diag($chelp->{err});

my %main = %{ long_opts($help->{out}) };
my %cmp = %{ long_opts($chelp->{out}) };
my %all = (%main, %cmp);
cmp_ok(scalar(keys %main), '>=', 30, 'found the options in --help')
    or diag($help->{out});

# ---- the man page --------------------------------------------------------------------

ok(-f $MAN, "$MAN exists") or BAIL_OUT("no $MAN");
my $man = slurp($MAN);
(my $man_plain = $man) =~ s/\\-/-/g;    # roff's \- is a plain minus
$man_plain =~ s/\\f[BIRP]//g;
$man_plain =~ s/\\&//g;
my $man_opts = long_opts($man_plain);

for my $o (sort keys %all) {
    ok($man_opts->{$o}, "--$o (from --help) is in $MAN");
}

# Options the man page documents: the tag line after each .TP.
my %man_doc;
{
    my @lines = split /\n/, $man_plain;
    for my $i (0 .. $#lines - 1) {
        next unless $lines[$i] =~ /^\.TP\b/;
        my $tag = $lines[$i + 1];
        $man_doc{$_} = 1 for keys %{ long_opts($tag) };
    }
}
cmp_ok(scalar(keys %man_doc), '>=', 30, "found the option list of $MAN");
for my $o (sort keys %man_doc) {
    ok($all{$o} || $ALIASES{$o}, "--$o (documented in $MAN) is in --help");
}

# ---- docs/cli.md ---------------------------------------------------------------------

my $cli = slurp($CLI);
my $cli_opts = long_opts($cli);
for my $o (sort keys %all) {
    ok($cli_opts->{$o}, "--$o (from --help) is in $CLI");
}
# Options cli.md documents: the first column of its tables.
my %cli_doc;
for my $line (split /\n/, $cli) {
    next unless $line =~ /^\|\s*(`[^|]*)\|/;
    my $cell = $1;
    next unless $cell =~ /^`--/;
    $cli_doc{$_} = 1 for keys %{ long_opts($cell) };
}
cmp_ok(scalar(keys %cli_doc), '>=', 30, "found the option tables of $CLI");
for my $o (sort keys %cli_doc) {
    ok($all{$o} || $ALIASES{$o}, "--$o (documented in $CLI) is in --help");
}

# ---- docs/guide.md uses real options -------------------------------------------------

if (-f $GUIDE) {
    # in the mcshredder command lines of its ```sh blocks only: openssl
    # and memcached have options of their own
    my $guide = slurp($GUIDE);
    my %used;
    my ($lang, @block);
    for my $line (split /\n/, $guide) {
        if ($line =~ /^\s*```\s*(\w*)\s*$/) {
            if (!defined $lang) {           # an opening fence
                ($lang, @block) = ($1);
                next;
            }
            if ($lang eq 'sh') {
                (my $text = join("\n", @block)) =~ s/\\\n/ /g;
                for my $cmd (split /\n/, $text) {
                    next unless $cmd =~ /\bmcshredder\b/;
                    $cmd =~ s/.*?\bmcshredder\b//;
                    $cmd =~ s/\|.*//;       # a pipe into something else
                    $cmd =~ s/#.*//;         # a comment
                    $used{$_} = 1 for keys %{ long_opts($cmd) };
                }
            }
            undef $lang;
            next;
        }
        push @block, $line if defined $lang;
    }
    cmp_ok(scalar(keys %used), '>=', 10, "found mcshredder command lines in $GUIDE");
    for my $o (sort keys %used) {
        ok($all{$o} || $ALIASES{$o}, "--$o (used in $GUIDE) is in --help");
    }
}

# ---- the old spellings are still accepted --------------------------------------------

for my $o (sort keys %ALIASES) {
    my $r = run_mcs({ timeout => 10 }, '--help', "--$o", 'x');
    unlike($r->{err}, qr/unknown option/, "--$o is accepted");
}

# ---- the man page renders cleanly ----------------------------------------------------

SKIP: {
    my $groff = `command -v groff 2>/dev/null`;
    skip 'groff is not installed', 2 unless $groff;
    my $r = run_cmd({ timeout => 30 }, 'groff', '-man', '-Tutf8', '-ww', '-z', $MAN);
    is($r->{exit}, 0, 'groff renders the man page');
    is($r->{err}, '', 'groff -ww: no warnings') or diag($r->{err});
}

# ---- every registered mcs.* function is in docs/lua-api.md ---------------------------

my $tmp = tempdir('mcs-docs-XXXXXX', TMPDIR => 1, CLEANUP => 1);
open my $fh, '>', "$tmp/names.lua" or die "$tmp/names.lua: $!";
print $fh <<'LUA';
function config()
    local names = {}
    for name, v in pairs(mcs) do
        if type(v) == "function" then names[#names + 1] = name end
    end
    table.sort(names)
    for _, name in ipairs(names) do print("mcs." .. name) end
end
LUA
close $fh;
my $r = run_mcs({ timeout => 10 }, '--conf', "$tmp/names.lua");
is($r->{exit}, 0, 'listing the mcs table works') or diag($r->{err});
my @funcs = $r->{out} =~ /^mcs\.(\w+)$/mg;
cmp_ok(scalar(@funcs), '>=', 60, 'the binary registers the mcs.* functions');

my $api = slurp($API);
my ($index) = $api =~ /^## Index of functions\n(.*?)(?=^## |\z)/ms;
ok(defined $index, "$API has an index of functions");
$index //= '';
my $index_code = join ' ', $index =~ /`([^`]*)`/g;

for my $f (@funcs) {
    ok($api =~ /mcs\.\Q$f\E\(/, "mcs.$f is described in $API");
    ok($index_code =~ /(?<![\w.])\Q$f\E\b/, "mcs.$f is in the index of $API");
}

# and no section describes a function the binary does not have
my %registered = map { $_ => 1 } @funcs;
while ($api =~ /^###+ .*$/mg) {
    my $heading = $&;
    for my $f ($heading =~ /`mcs\.(\w+)\(/g) {
        ok($registered{$f}, "mcs.$f (a section of $API) is registered");
    }
}

done_testing();
