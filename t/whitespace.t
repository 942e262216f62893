#!/usr/bin/perl
# whitespace.t: house style for the files in the repository: no trailing
# whitespace, no tabs in C and Lua sources, a newline at the end of every
# file.  Checks the files git knows about (tracked and untracked, minus
# .gitignore'd ones) in a git checkout, else a walk of the tree.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Find;
use MCS ();

chdir MCS::repo_root() or die "chdir: $!";

my $pattern = qr{(?:\.(?:c|h|lua|pl|pm|sh|t)|(?:^|/)Makefile\.am|(?:^|/)configure\.ac|^\.ci/run)\z};
my $no_tabs = qr{\.(?:c|h|lua)\z};
# generated or third-party files a walk of the tree could meet
my $skip = qr{(?:^|/)(?:config\.h|default_script\.h)\z|^(?:build[^/]*|autom4te\.cache|\.git)/};

my @files;
if (-e '.git' && `git --version 2>/dev/null`) {
    @files = split /\0/,
        `git ls-files -z --cached --others --exclude-standard 2>/dev/null`;
}
if (!@files) {
    find({ no_chdir => 1, wanted => sub {
        my $f = $File::Find::name;
        $f =~ s{^\./}{};
        if (-d $_ && $f =~ m{^(?:build[^/]*|autom4te\.cache|\.git)\z}) {
            $File::Find::prune = 1;
            return;
        }
        push @files, $f if -f $_;
    } }, '.');
}
@files = sort grep { $_ =~ $pattern && $_ !~ $skip && -f $_ } @files;

plan skip_all => 'no files to check' unless @files;

for my $f (@files) {
    open my $fh, '<:raw', $f or do { fail("$f: $!"); next };
    my $text = do { local $/; <$fh> };
    close $fh;
    my @bad;
    my $n = 0;
    for my $line (split /\n/, $text, -1) {
        $n++;
        push @bad, "$f:$n: trailing whitespace" if $line =~ /[ \t\r]\z/;
        push @bad, "$f:$n: tab" if $f =~ $no_tabs && $line =~ /\t/;
    }
    push @bad, "$f: no newline at end of file"
        if length $text && substr($text, -1) ne "\n";
    ok(!@bad, $f) or diag join "\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)],
        @bad > 10 ? ('... ' . (@bad - 10) . ' more') : ();
}

done_testing();
