#!/usr/bin/perl
# unit_dist.t: runs the C unit test t/unit_dist (built by `make check` /
# `make test` from t/unit_dist.c) and passes its TAP through.  The binary is
# looked up in $MCS_BUILD_DIR (set by `make test`), else build/.
use strict;
use warnings;

my $dir = $ENV{MCS_BUILD_DIR} // 'build';
my $bin = "$dir/t/unit_dist";
if (!-x $bin) {
    print "1..0 # SKIP $bin not built (make -C build check)\n";
    exit 0;
}
exec { $bin } $bin or die "exec $bin: $!\n";
