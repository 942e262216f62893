# MockServer.pm: a tiny memcached stand-in for the fault tests.  It runs in
# a forked process on a free loopback port and does, per connection, what a
# real memcached never does: garbage, truncated values, resets, stalls.
# Core Perl only.
#
#   use lib 't/lib';
#   use MockServer;
#   my $mock = MockServer->start(steps => [['serve', 5], ['garbage', 20]]);
#   run_mcs('--server', $mock->addr, ...);
#   is($mock->connections, ...);
#   $mock->stop;                      # also when the object goes away
#
# start(%opt), one of:
#   steps   => [STEP, ...]            the same steps for every connection
#   conns   => [[STEP, ...], ...]     steps for the 1st, 2nd, ... connection
#   then    => [STEP, ...]            for connections past the end of conns
#                                     (default: ['serve'])
#   handler => sub { my ($conn, $n) = @_; ... }   full control: $conn is a
#                                     MockServer::Conn, $n counts from 1
#
# Steps (each an array ref; the connection is closed after the last one):
#   ['serve', N]       answer N requests the way memcached would (N omitted
#                      or 0: until the client closes)
#   ['send', BYTES]    send BYTES as they are
#   ['garbage', LEN]   send LEN bytes that are no protocol, then \r\n
#   ['read', N]        read N requests, answer none
#   ['truncate', N]    read one request and answer it with a value header
#                      promising N bytes, then a few of them, then close
#   ['close_after', N] read until N bytes arrived, then close
#   ['close']          close (FIN)
#   ['reset']          close with a TCP reset (SO_LINGER 0)
#   ['stall', SECS]    read and ignore everything for SECS (omitted: until
#                      the client closes)
#   ['sleep', SECS]    sleep without reading
#
# The emulation behind 'serve' keeps a per-connection store and knows mg,
# ms, md, mn, get/gets, set/add/replace/append/prepend, delete, version;
# anything else gets ERROR.
#
# Methods: addr ("127.0.0.1:PORT"), port, pid, connections (accepted so
# far), requests (requests read by connections that have ended), stop.
package MockServer;

use strict;
use warnings;

use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX ();
use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes qw(time sleep);

sub start {
    my ($class, %opt) = @_;
    my $self = bless { owner => $$ }, $class;
    $self->{dir} = tempdir('mcs-mock-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    $self->{log} = "$self->{dir}/events";
    open my $touch, '>', $self->{log} or die "$self->{log}: $!";
    close $touch;

    my $listen = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1',
        LocalPort => 0,
        Proto     => 'tcp',
        Listen    => 128,
        ReuseAddr => 1,
    ) or die "MockServer: listen: $!\n";
    $self->{port} = $listen->sockport;

    my $pid = fork // die "MockServer: fork: $!\n";
    if ($pid == 0) {
        # The server: its own process group, so stop() ends it and every
        # connection process it forked in one go.
        POSIX::setpgid(0, 0);
        open STDIN, '<', '/dev/null';
        $SIG{PIPE} = 'IGNORE';
        $SIG{CHLD} = 'IGNORE';    # reap connection processes automatically
        $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP);
        eval { _accept_loop($self, $listen, \%opt) };
        POSIX::_exit(0);
    }
    close $listen;
    $self->{pid} = $pid;
    return $self;
}

sub port { $_[0]{port} }
sub addr { "127.0.0.1:$_[0]{port}" }
sub pid  { $_[0]{pid} }

sub _events {
    my ($self) = @_;
    open my $fh, '<', $self->{log} or return ();
    my @lines = <$fh>;
    close $fh;
    return @lines;
}

# Connections accepted so far.
sub connections {
    my ($self) = @_;
    return scalar grep { /^accept / } $self->_events;
}

# Requests read, summed over the connections that have ended.
sub requests {
    my ($self) = @_;
    my $n = 0;
    for ($self->_events) {
        $n += $1 if /^done \d+ requests=(\d+)/;
    }
    return $n;
}

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    return if $self->{owner} != $$;
    kill 'KILL', -$pid;    # the server's process group: it and its children
    kill 'KILL', $pid;
    waitpid($pid, 0);
    return;
}

sub DESTROY {
    my ($self) = @_;
    local ($@, $!, $?);
    $self->stop if $self->{pid} && $self->{owner} == $$;
}

sub _log {
    my ($self, $line) = @_;
    if (open my $fh, '>>', $self->{log}) {
        syswrite $fh, "$line\n";
        close $fh;
    }
}

sub _accept_loop {
    my ($self, $listen, $opt) = @_;
    my $n = 0;
    while (1) {
        my $sock = $listen->accept;
        unless ($sock) {
            next if $!{EINTR};
            last;
        }
        $n++;
        $self->_log("accept $n");
        my $pid = fork;
        if (!defined $pid) {
            close $sock;
            next;
        }
        if ($pid == 0) {
            close $listen;
            my $conn = MockServer::Conn->new($sock);
            eval {
                if ($opt->{handler}) {
                    $opt->{handler}->($conn, $n);
                } else {
                    my $steps = $opt->{steps};
                    if ($opt->{conns}) {
                        $steps = $opt->{conns}[$n - 1] // $opt->{then} // [['serve']];
                    }
                    $conn->run_steps($steps // [['serve']]);
                }
            };
            $self->_log("done $n requests=$conn->{nreq}");
            $conn->close;
            POSIX::_exit(0);
        }
        close $sock;
    }
}

# ---- one connection ------------------------------------------------------------

package MockServer::Conn;

use strict;
use warnings;
use IO::Select;
use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes qw(time sleep);

sub new {
    my ($class, $sock) = @_;
    binmode $sock;
    return bless { sock => $sock, buf => '', nreq => 0, store => {}, eof => 0 }, $class;
}

# More bytes into the buffer: false at EOF or on an error.  $timeout in
# seconds (undef: wait as long as it takes).
sub _fill {
    my ($self, $timeout) = @_;
    return 0 if $self->{eof} || !$self->{sock};
    if (defined $timeout) {
        my $sel = IO::Select->new($self->{sock});
        return 1 unless $sel->can_read($timeout);   # nothing yet; not EOF
    }
    my $got = sysread($self->{sock}, $self->{buf}, 65536, length $self->{buf});
    if (!$got) {
        $self->{eof} = 1;
        return 0;
    }
    return 1;
}

# read_request -> {line => "...", cmd => "mg", args => [...], data => ...}
# or undef at EOF.  Reads the data block of storage commands too.
sub read_request {
    my ($self) = @_;
    while (1) {
        my $eol = index($self->{buf}, "\r\n");
        if ($eol >= 0) {
            my $line = substr($self->{buf}, 0, $eol);
            my @tok = split ' ', $line;
            my $cmd = $tok[0] // '';
            my $need = 0;
            if ($cmd eq 'ms' && @tok >= 3 && $tok[2] =~ /^\d+$/) {
                $need = $tok[2] + 2;
            } elsif ($cmd =~ /^(?:set|add|replace|append|prepend|cas)$/ && @tok >= 5
                     && $tok[4] =~ /^\d+$/) {
                $need = $tok[4] + 2;
            }
            if (length($self->{buf}) >= $eol + 2 + $need) {
                my $data = $need ? substr($self->{buf}, $eol + 2, $need - 2) : undef;
                substr($self->{buf}, 0, $eol + 2 + $need, '');
                $self->{nreq}++;
                return { line => $line, cmd => $cmd, args => [@tok[1 .. $#tok]],
                         data => $data };
            }
        }
        return undef unless $self->_fill;
    }
}

sub send {
    my ($self, $bytes) = @_;
    return 0 unless $self->{sock};
    my $off = 0;
    while ($off < length $bytes) {
        my $n = syswrite($self->{sock}, $bytes, length($bytes) - $off, $off);
        return 0 unless $n;
        $off += $n;
    }
    return 1;
}

sub close {
    my ($self) = @_;
    if (my $s = delete $self->{sock}) {
        CORE::close($s);
    }
}

# A TCP reset: SO_LINGER on with a zero timeout, then close.
sub reset {
    my ($self) = @_;
    if (my $s = delete $self->{sock}) {
        setsockopt($s, SOL_SOCKET, SO_LINGER, pack('II', 1, 0));
        CORE::close($s);
    }
}

# The answer memcached would give to $req (may be '' for quiet requests).
sub answer {
    my ($self, $req) = @_;
    my ($cmd, @a) = ($req->{cmd}, @{ $req->{args} });
    my $st = $self->{store};
    if ($cmd eq 'mn') {
        return "MN\r\n";
    } elsif ($cmd eq 'mg') {
        my ($key, @fl) = @a;
        my %f = map { substr($_, 0, 1) => substr($_, 1) } @fl;
        my $item = defined $key ? $st->{$key} : undef;
        return exists $f{q} ? '' : "EN\r\n" unless $item;
        my @ret;
        push @ret, "k$key" if exists $f{k};
        push @ret, "f$item->{flags}" if exists $f{f};
        push @ret, 's' . length($item->{value}) if exists $f{s};
        push @ret, 't-1' if exists $f{t};
        push @ret, "c$item->{cas}" if exists $f{c};
        push @ret, "O$f{O}" if exists $f{O};
        my $flags = @ret ? ' ' . join(' ', @ret) : '';
        return 'VA ' . length($item->{value}) . "$flags\r\n$item->{value}\r\n"
            if exists $f{v};
        return "HD$flags\r\n";
    } elsif ($cmd eq 'ms') {
        my ($key, $len, @fl) = @a;
        my %f = map { substr($_, 0, 1) => substr($_, 1) } @fl;
        $st->{$key} = { value => $req->{data}, flags => $f{F} // 0, cas => ++$self->{cas} };
        return exists $f{q} ? '' : "HD\r\n";
    } elsif ($cmd eq 'md') {
        my ($key, @fl) = @a;
        my $had = delete $st->{$key};
        return '' if $had && grep { $_ eq 'q' } @fl;
        return $had ? "HD\r\n" : "NF\r\n";
    } elsif ($cmd eq 'get' || $cmd eq 'gets') {
        my $out = '';
        for my $key (@a) {
            my $item = $st->{$key} or next;
            $out .= "VALUE $key $item->{flags} " . length($item->{value})
                . ($cmd eq 'gets' ? " $item->{cas}" : '') . "\r\n$item->{value}\r\n";
        }
        return "${out}END\r\n";
    } elsif ($cmd =~ /^(?:set|add|replace|append|prepend)$/) {
        my ($key, $flags) = @a;
        my $noreply = grep { $_ eq 'noreply' } @a;
        $st->{$key} = { value => $req->{data}, flags => $flags, cas => ++$self->{cas} };
        return $noreply ? '' : "STORED\r\n";
    } elsif ($cmd eq 'delete') {
        return delete $st->{ $a[0] // '' } ? "DELETED\r\n" : "NOT_FOUND\r\n";
    } elsif ($cmd eq 'version') {
        return "VERSION 1.6.99-mock\r\n";
    }
    return "ERROR\r\n";
}

# serve(N): answer N requests (0/undef: until EOF).  False at EOF.
sub serve {
    my ($self, $n) = @_;
    my $done = 0;
    while (!$n || $done < $n) {
        my $req = $self->read_request or return 0;
        $self->send($self->answer($req)) or return 0;
        $done++;
    }
    return 1;
}

# A value header promising $len bytes for the request, a few bytes of it.
sub truncated_answer {
    my ($self, $req, $len) = @_;
    my $key = $req->{args}[0] // 'x';
    my $head = $req->{cmd} eq 'mg' ? "VA $len\r\n" : "VALUE $key 0 $len\r\n";
    return $head . substr('abcdefgh' x 4, 0, $len > 8 ? 8 : $len - 1);
}

sub garbage {
    my ($len) = @_;
    my @chars = (map({ chr } 0x00 .. 0x08, 0x0e .. 0x1f, 0x7f .. 0xff), '!', '#', '~');
    my $s = join '', map { $chars[rand @chars] } 1 .. ($len || 16);
    return "$s\r\n";
}

sub run_steps {
    my ($self, $steps) = @_;
    for my $step (@$steps) {
        my ($op, @arg) = @$step;
        if ($op eq 'serve') {
            $self->serve($arg[0]) or return;
        } elsif ($op eq 'send') {
            $self->send($arg[0]) or return;
        } elsif ($op eq 'garbage') {
            $self->send(garbage($arg[0])) or return;
        } elsif ($op eq 'read') {
            for (1 .. ($arg[0] // 1)) {
                $self->read_request or return;
            }
        } elsif ($op eq 'truncate') {
            my $req = $self->read_request or return;
            $self->send($self->truncated_answer($req, $arg[0] // 100));
            $self->close;
            return;
        } elsif ($op eq 'close_after') {
            while (length($self->{buf}) < $arg[0]) {
                $self->_fill or return;
            }
            $self->close;
            return;
        } elsif ($op eq 'close') {
            $self->close;
            return;
        } elsif ($op eq 'reset') {
            $self->reset;
            return;
        } elsif ($op eq 'stall') {
            my $until = defined $arg[0] ? time + $arg[0] : undef;
            while (!defined $until || time < $until) {
                my $left = defined $until ? $until - time : undef;
                last if defined $left && $left <= 0;
                $self->_fill(defined $left ? ($left < 0.2 ? $left : 0.2) : undef) or last;
                $self->{buf} = '';
            }
        } elsif ($op eq 'sleep') {
            sleep($arg[0] // 1);
        } else {
            die "MockServer: unknown step '$op'\n";
        }
    }
}

1;
