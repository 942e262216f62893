#!/usr/bin/perl
# unit_bio.t: builds and runs the C unit test t/unit_bio.c (tls_bio.c, our
# OpenSSL BIO over the connection buffers, against an in-process OpenSSL
# server) and passes its TAP through. It is compiled here, with tls_bio.c
# alone, so the Makefile needs no OpenSSL test target.
#
# Skipped when the build has no TLS or no C compiler / OpenSSL headers are
# at hand; when the build has TLS, a compile error is a failure.
use strict;
use warnings;
use lib 't/lib';
use File::Temp qw(tempdir);
use MCS ();

my $root = MCS::repo_root();
my $build = $ENV{MCS_BUILD_DIR} // "$root/build";
$build = "$root/$build" unless $build =~ m{^/};

sub skip_all { print "1..0 # SKIP $_[0]\n"; exit 0 }

my $config = "$build/config.h";
skip_all("$config not found (configure first)") unless -e $config;
my $has_tls = do {
    open my $fh, '<', $config or skip_all("$config: $!");
    local $/;
    <$fh> =~ /^#define HAVE_TLS 1/m;
};
skip_all('the build has no TLS') unless $has_tls;

my $cc = $ENV{CC} // 'cc';
my $ssl = `pkg-config --cflags --libs openssl 2>/dev/null`;
chomp $ssl;
$ssl = '-lssl -lcrypto' if $? != 0 || $ssl eq '';
my $tmp = tempdir('mcs-unit-bio-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $bin = "$tmp/unit_bio";
my $cmd = "$cc -std=gnu11 -O1 -g -Wall -Wextra -I$build -I$root -o $bin "
        . "$root/t/unit_bio.c $root/tls_bio.c $ssl -pthread 2>&1";
my $out = `$cmd`;
if ($? != 0) {
    skip_all("no C compiler ($cc)") if $out =~ /not found/ && $out !~ /\.[ch]:/;
    print "1..1\nnot ok 1 - compile t/unit_bio.c with tls_bio.c\n";
    print "# $_\n" for ($cmd, split /\n/, $out);
    exit 1;
}
print "# compiler said: $_\n" for grep { /warning/ } split /\n/, $out;

system($bin);
exit($? == 0 ? 0 : 1);
