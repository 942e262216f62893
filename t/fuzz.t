#!/usr/bin/perl
# fuzz.t: a short libFuzzer run of both targets (t/fuzz_proto.c: the
# response parser and request scanner; t/fuzz_tls.c: the TLS read path)
# through scripts/fuzz.sh. $MCS_FUZZ_SECONDS per target (default 10; both
# run at once). Skipped when clang with libFuzzer is not available; fails
# on a crash, timeout, leak or sanitizer report.
use strict;
use warnings;
use lib 't/lib';
use MCS ();

my $root = MCS::repo_root();
my $secs = $ENV{MCS_FUZZ_SECONDS} // 10;
$secs = 10 unless $secs =~ /^\d+$/ && $secs > 0;

my $out = `sh '$root/scripts/fuzz.sh' $secs 2>&1`;
my $rc = $? >> 8;
if ($out =~ /^SKIP: (.*)$/m) {
    print "1..0 # SKIP $1\n";
    exit 0;
}
print "1..1\n";
print "# $_\n" for split /\n/, $out;
print $rc == 0 && $out =~ /^fuzz: no crash$/m ? "ok 1 - fuzzing ${secs}s per target: no crash\n"
                                               : "not ok 1 - fuzzing found a problem (exit $rc)\n";
exit($rc == 0 ? 0 : 1);
