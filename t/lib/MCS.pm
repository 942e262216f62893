# MCS.pm: helpers for the mcshredder test suite: throwaway memcached servers
# (plain, TLS with a generated CA, Unix socket), raw memcached requests, and
# running the mcshredder binary with a hard timeout.  Core Perl only.
#
#   use lib 't/lib';
#   use MCS;
#   my $mc  = start_memcached();                  # or (tls => 1), (unix => 1)
#   my $res = run_mcs('--server', $mc->addr, '--duration', 1);
#   is($res->{exit}, 0);
#   my $st  = mc_stats($mc);                       # {cmd_get => ..., ...}
#
# Exports: start_memcached mc_cmd mc_stats run_mcs run_cmd run_lua read_json
# free_port memcached_has_tls repo_root mcs_bin (details above each sub).
#
# Environment:
#   MCS_BIN        mcshredder binary (default <repo>/build/mcshredder);
#                  `make test` sets it to the binary of that build.
#   MCS_BUILD_DIR  build directory holding t/unit_* (default 'build');
#                  `make test` sets it.
#   MCS_MEMCACHED  memcached binary (default: memcached from PATH).
#   MCS_DEBUG      when set, memcached logs are kept and their path printed.
package MCS;

use strict;
use warnings;

use Cwd qw(abs_path);
use Exporter qw(import);
use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IO::Socket::UNIX;
use IO::Select;
use JSON::PP ();
use POSIX qw(:sys_wait_h);
use Scalar::Util ();
use Time::HiRes qw(time sleep);

our @EXPORT = qw(start_memcached mc_cmd mc_stats run_mcs run_cmd run_lua read_json
                 free_port memcached_has_tls repo_root mcs_bin);

my $REPO_ROOT = abs_path(File::Spec->catdir(dirname(__FILE__), '..', '..'));

sub repo_root { return $REPO_ROOT }

sub mcs_bin { return $ENV{MCS_BIN} // "$REPO_ROOT/build/mcshredder" }

sub memcached_bin { return $ENV{MCS_MEMCACHED} // 'memcached' }

# Every server this process started, by pid, so END can stop stragglers.
my %LIVE;

# Make SIGINT/SIGTERM run END blocks (and so stop servers) unless the test
# installed handlers of its own.
my %SIGNUM = (HUP => 1, INT => 2, TERM => 15);
for my $sig (sort keys %SIGNUM) {
    next if defined $SIG{$sig} && $SIG{$sig} ne '' && $SIG{$sig} ne 'DEFAULT';
    $SIG{$sig} = sub { exit 128 + $SIGNUM{$sig} };
}

# free_port(): a TCP port that 127.0.0.1 can bind right now, below the
# kernel's ephemeral range when it leaves room (10000..32767 by default), so
# that no outgoing connection of another test takes it in the meantime.
sub free_port {
    my ($lo, $hi) = (10000, 60000);
    if (open my $fh, '<', '/proc/sys/net/ipv4/ip_local_port_range') {
        my ($eph) = split ' ', scalar <$fh>;
        $hi = $eph - 1 if $eph && $eph > $lo + 2000;
    }
    for (1 .. 200) {
        my $port = $lo + int(rand($hi - $lo + 1));
        my $s = IO::Socket::INET->new(
            LocalAddr => '127.0.0.1',
            LocalPort => $port,
            Proto     => 'tcp',
            Listen    => 1,
        ) or next;
        close $s;
        return $port;
    }
    die "MCS::free_port: no free port found\n";
}

my $HAS_TLS;
# memcached_has_tls(): true when the memcached binary accepts -Z.
sub memcached_has_tls {
    return $HAS_TLS if defined $HAS_TLS;
    my $bin = memcached_bin();
    my $help = `$bin -h 2>&1`;
    $HAS_TLS = ($help =~ /--enable-ssl/ && $help =~ /ssl_chain_cert/) ? 1 : 0;
    return $HAS_TLS;
}

# ---- certificates ------------------------------------------------------------

my $OPENSSL_CNF = <<'CNF';
[req]
distinguished_name = dn
prompt = no
[dn]
CN = mcshredder-test
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost,IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[v3_client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF

sub _run_quiet {
    my ($log, @cmd) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log;
        open STDERR, '>>', $log;
        exec @cmd or POSIX::_exit(127);
    }
    waitpid($pid, 0);
    return $? == 0;
}

# make_certs($dir, %opt): a throwaway CA, a server certificate for
# 127.0.0.1 / localhost / ::1 and a client certificate, all signed by the CA.
# Keys are EC P-256 unless key => 'rsa:2048' (any `openssl req -newkey` arg).
# Returns a hashref of PEM paths: ca ca_key server_cert server_key
# client_cert client_key.
sub make_certs {
    my ($dir, %opt) = @_;
    my @newkey = ($opt{key} // 'ec') eq 'ec'
        ? ('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256')
        : ('-newkey', $opt{key});
    my $days = $opt{days} // 2;
    my $cnf = "$dir/openssl.cnf";
    my $log = "$dir/openssl.log";
    open my $fh, '>', $cnf or die "$cnf: $!";
    print $fh $OPENSSL_CNF;
    close $fh;

    my %c = map { $_ => "$dir/$_.pem" }
        qw(ca ca_key server_cert server_key client_cert client_key);
    my $serial = 1000 + int(rand(1_000_000));
    my @steps = (
        [qw(openssl req -x509 -config), $cnf, qw(-extensions v3_ca), @newkey,
         '-nodes', '-keyout', $c{ca_key}, '-out', $c{ca}, '-days', $days,
         '-subj', '/CN=mcshredder test CA'],
    );
    for my $who (qw(server client)) {
        my $csr = "$dir/$who.csr";
        push @steps,
            [qw(openssl req -new -config), $cnf, @newkey, '-nodes',
             '-keyout', $c{"${who}_key"}, '-out', $csr,
             '-subj', $who eq 'server' ? '/CN=127.0.0.1' : '/CN=mcshredder-client'],
            [qw(openssl x509 -req -in), $csr, '-CA', $c{ca}, '-CAkey', $c{ca_key},
             '-set_serial', $serial++, '-days', $days, '-out', $c{"${who}_cert"},
             '-extfile', $cnf, '-extensions', "v3_$who"];
    }
    for my $cmd (@steps) {
        next if _run_quiet($log, @$cmd);
        my $out = do { local (@ARGV, $/) = ($log); <> } // '';
        die "MCS::make_certs: '@$cmd' failed:\n$out";
    }
    return \%c;
}

# ---- memcached ---------------------------------------------------------------

# start_memcached(%opt) -> MCS::Memcached
#   args  => [...]      extra memcached arguments (e.g. ['-m', 64, '-vv'])
#   tls   => 1          -Z with a generated CA and certificates; the server
#                       also gets a plain (notls) listener on ->plain_port so
#                       mc_cmd/mc_stats keep working. A hashref instead of 1
#                       is passed to make_certs (e.g. {key => 'rsa:2048'}).
#   unix  => 1          listen on a Unix socket (->sock) instead of TCP
#   threads => N        -t (default 1)
#   wait  => seconds    how long to wait for it to accept (default 5)
# Dies when memcached does not come up.  The server stops when the object
# goes away, on ->stop, or at exit.
sub start_memcached {
    my (%opt) = @_;
    my $tries = $opt{unix} ? 1 : 5;
    my $err;
    for (1 .. $tries) {
        my $mc = eval { MCS::Memcached->_start(%opt) };
        return $mc if $mc;
        $err = $@;
        last if $err !~ /did not start/;
    }
    die $err;
}

# ---- raw requests ------------------------------------------------------------

sub _connect {
    my ($server, $timeout) = @_;
    my $s;
    if (ref $server) {
        if (defined $server->{sock}) {
            $s = IO::Socket::UNIX->new(Peer => $server->{sock}, Type => SOCK_STREAM);
        } else {
            my $port = $server->{plain_port} // $server->{port};
            $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                Proto => 'tcp', Timeout => $timeout);
        }
    } elsif ($server =~ m{^/}) {
        $s = IO::Socket::UNIX->new(Peer => $server, Type => SOCK_STREAM);
    } else {
        my $addr = $server =~ /^\d+$/ ? "127.0.0.1:$server" : $server;
        $s = IO::Socket::INET->new(PeerAddr => $addr, Proto => 'tcp',
            Timeout => $timeout);
    }
    die "MCS: cannot connect to " . (ref $server ? $server->addr : $server) . ": $!\n"
        unless $s;
    binmode $s;
    $s->autoflush(1);
    return $s;
}

# Number of complete responses at the start of $buf (text protocol, classic
# and meta).  VALUE/STAT lists end at END; a VA carries a data block; any
# other line is one response.
sub count_responses {
    my ($buf) = @_;
    my ($n, $pos, $in_list) = (0, 0, 0);
    while (1) {
        my $eol = index($buf, "\r\n", $pos);
        return $n if $eol < 0;
        my $line = substr($buf, $pos, $eol - $pos);
        $pos = $eol + 2;
        if ($line =~ /^VALUE \S+ \d+ (\d+)/ || $line =~ /^VA (\d+)/) {
            my $len = $1;
            return $n if length($buf) < $pos + $len + 2;
            $pos += $len + 2;
            $in_list = 1 if $line =~ /^VALUE/;
            $n++ if $line =~ /^VA/;
        } elsif ($line =~ /^(?:STAT|ITEM|CONFIG) /) {
            $in_list = 1;
        } elsif ($line eq 'END') {
            $in_list = 0;
            $n++;
        } elsif (!$in_list) {
            $n++;
        }
    }
}

# mc_cmd($server, $request, %opt) -> response text
# $server: an MCS::Memcached, "host:port", a port number or a socket path.
# Sends $request as is and reads until `responses` complete responses have
# arrived (default 1; see count_responses), or until the buffer matches
# `until` (a regex) when given, or `timeout` seconds (default 5) pass.
# Returns whatever was read (possibly '').
sub mc_cmd {
    my ($server, $req, %opt) = @_;
    my $timeout = $opt{timeout} // 5;
    my $want = $opt{responses} // 1;
    my $s = _connect($server, $timeout);
    print $s $req;
    my $sel = IO::Select->new($s);
    my $buf = '';
    my $deadline = time + $timeout;
    while (1) {
        if (defined $opt{until}) {
            last if $buf =~ $opt{until};
        } else {
            last if count_responses($buf) >= $want;
        }
        my $left = $deadline - time;
        last if $left <= 0;
        last unless $sel->can_read($left);
        my $got = sysread($s, $buf, 65536, length $buf);
        last unless $got;
    }
    close $s;
    return $buf;
}

# mc_stats($server[, $sub]) -> {name => value}; $sub e.g. 'settings', 'slabs'.
sub mc_stats {
    my ($server, $sub) = @_;
    my $cmd = defined $sub ? "stats $sub\r\n" : "stats\r\n";
    my $out = mc_cmd($server, $cmd, until => qr/(?:^|\r\n)(?:END|ERROR[^\r\n]*)\r\n\z/);
    die "MCS::mc_stats: no END in reply to '$cmd': $out\n" unless $out =~ /END\r\n\z/;
    my %st;
    for my $line (split /\r\n/, $out) {
        $st{$1} = $2 if $line =~ /^STAT (\S+) ?(.*)$/;
    }
    return \%st;
}

# ---- running mcshredder --------------------------------------------------------

sub _slurp {
    my ($path) = @_;
    open my $fh, '<:raw', $path or return '';
    local $/;
    my $s = <$fh>;
    return $s // '';
}

# run_mcs([\%opt,] @args) -> {out, err, exit, signal, elapsed, timed_out, cmd}
#   timeout => seconds (default 60, or $ENV{MCS_TIMEOUT}); on expiry the
#              process gets SIGTERM, then SIGKILL 5 s later, timed_out = 1
#   stdin   => string fed on standard input (default: /dev/null)
#   env     => {NAME => value} added to the environment (undef deletes)
#   bin     => binary instead of mcs_bin()
# A program that cannot be started gives exit 127 and the reason in err.
# exit is the exit status (undef when killed by a signal), signal the signal
# number (0 when none).
sub run_mcs {
    my $opt = ref $_[0] eq 'HASH' ? shift : {};
    my $bin = $opt->{bin} // mcs_bin();
    die "MCS::run_mcs: $bin is not an executable (build it, or set MCS_BIN)\n"
        if $bin =~ m{/} && !-x $bin;
    return run_cmd($opt, $bin, @_);
}

# run_cmd([\%opt,] $program, @args): run_mcs for any program (looked up in
# PATH when it has no slash), e.g. run_cmd({stdin => ...}, 'openssl', ...).
sub run_cmd {
    my $opt = ref $_[0] eq 'HASH' ? shift : {};
    my ($bin, @args) = @_;
    my $timeout = $opt->{timeout} // $ENV{MCS_TIMEOUT} // 60;

    my $dir = tempdir('mcs-run-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my ($out_f, $err_f, $in_f) = map { "$dir/$_" } qw(stdout stderr stdin);
    if (defined $opt->{stdin}) {
        open my $fh, '>:raw', $in_f or die "$in_f: $!";
        print $fh $opt->{stdin};
        close $fh;
    } else {
        $in_f = '/dev/null';
    }

    my $start = time;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', $in_f or POSIX::_exit(126);
        open STDOUT, '>', $out_f or POSIX::_exit(126);
        open STDERR, '>', $err_f or POSIX::_exit(126);
        for my $k (keys %{ $opt->{env} // {} }) {
            if (defined $opt->{env}{$k}) { $ENV{$k} = $opt->{env}{$k} }
            else { delete $ENV{$k} }
        }
        { exec { $bin } $bin, @args }
        print STDERR "exec $bin: $!\n";
        POSIX::_exit(127);
    }

    my ($timed_out, $status) = (0, undef);
    my $deadline = $start + $timeout;
    my $killed_at;
    while (1) {
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid) { $status = $?; last }
        if ($r < 0) { $status = -1; last }
        my $now = time;
        if (!$timed_out && $now >= $deadline) {
            $timed_out = 1;
            kill 'TERM', $pid;
            $killed_at = $now;
        } elsif ($timed_out && $now - $killed_at > 5) {
            kill 'KILL', $pid;
        }
        sleep 0.01;
    }
    my $elapsed = time - $start;
    my %res = (
        out       => _slurp($out_f),
        err       => _slurp($err_f),
        exit      => ($status & 127) ? undef : $status >> 8,
        signal    => $status & 127,
        elapsed   => $elapsed,
        timed_out => $timed_out,
        cmd       => join(' ', $bin, @args),
    );
    return \%res;
}

# run_lua($server, $lua_text, @extra_args) -> run_mcs result
# Writes the script to a temp file and runs
#   mcshredder --conf FILE --server ADDR @extra_args
# where ADDR is $server->addr (or $server itself when it is a string).
# A leading hashref in @extra_args is passed to run_mcs as its options.
sub run_lua {
    my ($server, $lua, @extra) = @_;
    my $opt = (@extra && ref $extra[0] eq 'HASH') ? shift @extra : {};
    my $dir = tempdir('mcs-lua-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $conf = "$dir/test.lua";
    open my $fh, '>', $conf or die "$conf: $!";
    print $fh $lua;
    close $fh;
    my $addr = ref $server ? $server->addr : $server;
    return run_mcs($opt, '--conf', $conf, '--server', $addr, @extra);
}

# read_json($path) -> decoded data; dies on a missing file or bad JSON.
sub read_json {
    my ($path) = @_;
    open my $fh, '<:raw', $path or die "MCS::read_json: $path: $!\n";
    local $/;
    my $text = <$fh>;
    close $fh;
    my $data = eval { JSON::PP->new->utf8->relaxed(0)->decode($text) };
    die "MCS::read_json: $path: $@" unless defined $data;
    return $data;
}

END {
    my $rc = $?;
    for my $mc (values %LIVE) {
        $mc->stop if $mc && $mc->{owner} == $$;
    }
    $? = $rc;
}

# ---- MCS::Memcached: one running server ------------------------------------------

package MCS::Memcached;

use strict;
use warnings;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IO::Socket::UNIX;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);

sub port        { $_[0]{port} }        # TLS port when tls => 1
sub plain_port  { $_[0]{plain_port} }  # plain listener (tls => 1 only)
sub pid         { $_[0]{pid} }
sub sock        { $_[0]{sock} }        # unix => 1 only
sub tls         { $_[0]{tls} }
sub dir         { $_[0]{dir} }         # temp dir (certs, socket, log)
sub log         { $_[0]{log} }         # memcached's stdout+stderr
sub ca          { $_[0]{certs}{ca} }
sub client_cert { $_[0]{certs}{client_cert} }
sub client_key  { $_[0]{certs}{client_key} }
sub server_cert { $_[0]{certs}{server_cert} }
sub server_key  { $_[0]{certs}{server_key} }
sub host        { '127.0.0.1' }

# "127.0.0.1:PORT" (the TLS port for a TLS server) or the socket path.
sub addr {
    my ($self) = @_;
    return $self->{sock} if defined $self->{sock};
    return "127.0.0.1:$self->{port}";
}

sub _start {
    my ($class, %opt) = @_;
    my $self = bless { owner => $$ }, $class;
    my $keep = $ENV{MCS_DEBUG};
    my $dir = tempdir('mcs-mc-XXXXXX', TMPDIR => 1, CLEANUP => !$keep);
    # memcached drops to 'nobody' when run as root: let it reach its files.
    chmod 0755, $dir;
    $self->{dir} = $dir;
    $self->{log} = "$dir/memcached.log";

    my @cmd = (MCS::memcached_bin(), '-U', '0', '-t', $opt{threads} // 1);
    push @cmd, '-u', 'nobody' if $> == 0;

    if ($opt{unix}) {
        # memcached creates the socket after dropping privileges
        chmod 0777, $dir if $> == 0;
        $self->{sock} = "$dir/memcached.sock";
        push @cmd, "-s", $self->{sock};
    } elsif ($opt{tls}) {
        die "MCS::start_memcached: memcached has no TLS support (-Z)\n"
            unless MCS::memcached_has_tls();
        my %copt = ref $opt{tls} eq 'HASH' ? %{ $opt{tls} } : ();
        $self->{certs} = MCS::make_certs($dir, %copt);
        chmod 0644, values %{ $self->{certs} };
        $self->{tls} = 1;
        $self->{port} = MCS::free_port();
        do { $self->{plain_port} = MCS::free_port() }
            while $self->{plain_port} == $self->{port};
        my $c = $self->{certs};
        push @cmd, '-Z',
            '-o', "ssl_chain_cert=$c->{server_cert},ssl_key=$c->{server_key},"
                . "ssl_ca_cert=$c->{ca}",
            '-l', "127.0.0.1:$self->{port},notls:127.0.0.1:$self->{plain_port}";
    } else {
        $self->{port} = MCS::free_port();
        push @cmd, '-l', '127.0.0.1', '-p', $self->{port};
    }
    push @cmd, @{ $opt{args} // [] };
    $self->{cmd} = join ' ', @cmd;

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $self->{log};
        open STDERR, '>&', \*STDOUT;
        exec @cmd or POSIX::_exit(127);
    }
    $self->{pid} = $pid;
    $LIVE{$pid} = $self;
    Scalar::Util::weaken($LIVE{$pid});

    my $deadline = time + ($opt{wait} // 5);
    while (1) {
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid) {
            delete $self->{pid};
            delete $LIVE{$pid};
            my $log = MCS::_slurp($self->{log});
            die "MCS::start_memcached: memcached did not start (exit "
                . ($? >> 8) . "): $self->{cmd}\n$log";
        }
        last if $self->_accepts;
        if (time > $deadline) {
            $self->stop;
            die "MCS::start_memcached: memcached did not start: not accepting "
                . "after " . ($opt{wait} // 5) . " s: $self->{cmd}\n";
        }
        sleep 0.02;
    }
    print STDERR "# memcached $pid log: $self->{log}\n" if $keep;
    return $self;
}

sub _accepts {
    my ($self) = @_;
    my $s = defined $self->{sock}
        ? IO::Socket::UNIX->new(Peer => $self->{sock}, Type => SOCK_STREAM)
        : IO::Socket::INET->new(PeerAddr => '127.0.0.1',
              PeerPort => $self->{plain_port} // $self->{port},
              Proto => 'tcp', Timeout => 1);
    return 0 unless $s;
    close $s;
    return 1;
}

# ->stop([$signal]): send SIGTERM (or $signal, e.g. 'KILL'), wait (SIGKILL
# after 5 s); returns the wait status.  memcached acts on SIGTERM at its next
# clock tick, so a graceful stop takes up to a second.
sub stop {
    my ($self, $signal) = @_;
    my $pid = delete $self->{pid} or return;
    return if $self->{owner} != $$;
    delete $LIVE{$pid};
    kill $signal // 'TERM', $pid;
    my $deadline = time + 5;
    while (waitpid($pid, WNOHANG) == 0) {
        if (time > $deadline) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
            last;
        }
        sleep 0.01;
    }
    return $?;
}

# ->running: the process is still alive
sub running {
    my ($self) = @_;
    return 0 unless $self->{pid};
    return 1 if waitpid($self->{pid}, WNOHANG) == 0;
    delete $LIVE{$self->{pid}};
    delete $self->{pid};
    return 0;
}

sub DESTROY {
    my ($self) = @_;
    local ($@, $!, $?);
    $self->stop if $self->{pid} && $self->{owner} == $$;
}

1;
