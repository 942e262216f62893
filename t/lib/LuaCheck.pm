# LuaCheck.pm: what the t/api_*.t files share: the check.lua prelude that
# Lua scripts print CHECK lines with, turning those lines into TAP tests, a
# temp dir for result files, and a one-run script wrapper.
package LuaCheck;
use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempdir);
use Test::More;
use MCS;

our @EXPORT = qw($CHECK_LUA $TMP lua_checks json_path once_script);

our $CHECK_LUA = do {
    local (@ARGV, $/) = (repo_root() . '/t/lua/check.lua');
    <>;
};

our $TMP = tempdir('mcs-lua-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $json_n = 0;
sub json_path { return "$TMP/run" . ++$json_n . ".json" }

# One TAP test per CHECK line the script printed, then one saying that all
# $want of them ran (a script that died half way prints fewer).
sub lua_checks {
    my ($res, $want, $label) = @_;
    my @lines = $res->{out} =~ /^CHECK (.*)$/mg;
    for my $l (@lines) {
        if ($l =~ /^ok (.*)/) {
            pass("$label: $1");
        } else {
            fail("$label: " . ($l =~ s/^not ok //r));
        }
    }
    is(scalar @lines, $want, "$label: all $want script checks ran")
        or diag("exit " . ($res->{exit} // 'signal ' . $res->{signal})
                . ($res->{timed_out} ? ' (timed out)' : '') . "\nstderr: $res->{err}");
}

# A script whose config runs one workload function `f` once on one client.
sub once_script {
    my ($body) = @_;
    return $CHECK_LUA . <<'LUA' . $body;
function config(args)
    local t = mcs.thread()
    mcs.add(t, { func = "f", clients = 1, limit = 1, rate_limit = 0 }, args)
    mcs.shredder({ t }, 20)
end
LUA
}

1;
