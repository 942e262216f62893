#!/usr/bin/perl
# unit_series.t: runs the C unit test t/unit_series.c (series.c, hdrlog.c and
# the "intervals" JSON of report.c) and passes its TAP through.  Under
# `make test` (MCS_BUILD_DIR set) the binary built there is used when it
# exists; otherwise the test is compiled here, into a temporary directory,
# with $CC (default cc) and the sanitizers when the compiler has them.
use strict;
use warnings;
use lib 't/lib';
use File::Temp qw(tempdir);
use MCS ();

my $root = MCS::repo_root();

if (defined $ENV{MCS_BUILD_DIR} && -x "$ENV{MCS_BUILD_DIR}/t/unit_series") {
    my $bin = "$ENV{MCS_BUILD_DIR}/t/unit_series";
    exec { $bin } $bin or die "exec $bin: $!\n";
}

my $cc = $ENV{CC} // 'cc';
my $dir = tempdir('mcs-unit-series-build-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $bin = "$dir/unit_series";
my @src = map { "$root/$_" }
    qw(t/unit_series.c hist.c stats.c report.c series.c hdrlog.c);
my @flags = ('-std=gnu11', '-Wall', '-Wextra', '-O1', '-g', "-I$root");
my @san = ('-fsanitize=address,undefined', '-fno-sanitize-recover=undefined',
           '-fno-omit-frame-pointer');

if (system("command -v '$cc' >/dev/null 2>&1") != 0) {
    print "1..0 # SKIP no C compiler ($cc)\n";
    exit 0;
}

# The compiler's output; $? says whether it worked.
sub compile {
    my $cmd = join ' ', map { quotemeta } $cc, @_, @flags, @src, '-lm', '-o', $bin;
    return `$cmd 2>&1`;
}

my $out = compile(@san);
$out = compile() if $? != 0;
if ($? != 0) {
    print "1..1\nnot ok 1 - compile t/unit_series.c\n";
    print map { "# $_\n" } split /\n/, $out;
    exit 1;
}
# warnings are shown, not fatal (the build has no -Werror either)
print map { "# $_\n" } split /\n/, $out;
system { $bin } $bin;
exit($? == 0 ? 0 : 1);
