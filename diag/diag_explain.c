/* diag/diag_explain.c: why a socket call failed, in plain words. The connect(2) list of the
 * seed page, said our way, plus what Linux adds (firewalls, routes, backlogs, SYN retries),
 * and bind(2), listen(2), accept(2), socket(2). A sentence names the sysctl or command that
 * changes the outcome when there is one. */
#include <errno.h>
#include <sys/socket.h>

#include "diag.h"

#define ANY_OP (-1)
enum fam { F_ANY, F_INET, F_UNIX };

struct explanation {
    int op; /* enum sp_op, or ANY_OP */
    enum fam fam;
    int err;
    const char *text;
};

/* The first entry that matches op, family and errno wins: specific entries come first, and
 * none repeats the text a more general one below already gives. */
static const struct explanation table[] = {
    /* connect, TCP/UDP */
    {SP_OP_CONNECT, F_INET, ECONNREFUSED,
     "nothing listens on that port at the destination (or a firewall there rejected it with a RST)"},
    {SP_OP_CONNECT, F_INET, ETIMEDOUT,
     "no answer to the connection request: the SYNs were dropped on the way (a firewall) or the "
     "host is down; the kernel gave up after net.ipv4.tcp_syn_retries retries (6 by default, "
     "about 2 minutes) or the socket's TCP_SYNCNT / TCP_USER_TIMEOUT"},
    {SP_OP_CONNECT, F_INET, ENETUNREACH,
     "no route to that network from this host (ip route get ADDRESS shows none, or the "
     "interface for it is missing)"},
    {SP_OP_CONNECT, F_INET, EHOSTUNREACH,
     "the destination host cannot be reached: an 'unreachable' route, no answer to ARP / "
     "neighbour discovery on the local link, or a router answered host unreachable"},
    {SP_OP_CONNECT, F_INET, EACCES,
     "a 'prohibit' route forbids that destination, or the address is a broadcast one and the "
     "socket lacks SO_BROADCAST"},
    {SP_OP_CONNECT, F_INET, EPERM,
     "a local firewall rule (iptables/nftables OUTPUT, or a cgroup BPF program) refused the "
     "packet, or a TCP connect to a broadcast/multicast address was attempted"},
    {SP_OP_CONNECT, F_INET, EADDRNOTAVAIL,
     "no local port or address was free for this connection (net.ipv4.ip_local_port_range "
     "exhausted, or the address bound before is gone), or the destination is 0.0.0.0:0"},
    {SP_OP_CONNECT, F_INET, EAGAIN,
     "no free local port for an outgoing connection: widen net.ipv4.ip_local_port_range or "
     "reuse connections"},
    {SP_OP_CONNECT, F_INET, EADDRINUSE,
     "the local address and port this socket is bound to are already used by another "
     "connection to the same destination"},
    {SP_OP_CONNECT, F_INET, EINVAL,
     "the address is not valid for this socket (a broadcast, the all-ones or a multicast peer "
     "for TCP, or a wrong address length)"},
    {SP_OP_CONNECT, F_INET, ENETDOWN,
     "the network interface the route uses is down (ip link set DEV up)"},
    {SP_OP_CONNECT, F_INET, ECONNRESET,
     "the destination accepted the request and then reset the connection before it was set up"},
    {SP_OP_CONNECT, F_INET, EHOSTDOWN, "the destination host is known to be down"},
    /* connect, AF_UNIX */
    {SP_OP_CONNECT, F_UNIX, ECONNREFUSED,
     "the socket file exists but nothing listens on it (its server exited without removing it)"},
    {SP_OP_CONNECT, F_UNIX, ENOENT, "no socket file at that path (the server is not running?)"},
    {SP_OP_CONNECT, F_UNIX, EAGAIN,
     "the server's backlog is full: it is not accepting fast enough (net.core.somaxconn caps "
     "the backlog)"},
    {SP_OP_CONNECT, F_UNIX, EACCES,
     "permission denied: no write permission on the socket file or no search permission on a "
     "directory of its path"},
    {SP_OP_CONNECT, F_UNIX, EPROTOTYPE,
     "the socket at that path is of another type (a stream socket connecting to a datagram "
     "one, or the reverse)"},
    {SP_OP_CONNECT, F_UNIX, ETIMEDOUT, "the server's backlog stayed full until the timeout"},
    /* connect, any family */
    {SP_OP_CONNECT, F_ANY, EINPROGRESS,
     "non-blocking connect started; the outcome is logged when the program reads SO_ERROR or "
     "closes the socket"},
    {SP_OP_CONNECT, F_ANY, EALREADY,
     "a previous non-blocking connect on this socket has not completed yet"},
    {SP_OP_CONNECT, F_ANY, EISCONN, "the socket is already connected"},
    {SP_OP_CONNECT, F_ANY, EAFNOSUPPORT,
     "the address belongs to another family than the socket (an IPv4 address on an IPv6 socket "
     "or the reverse)"},
    {SP_OP_CONNECT, F_ANY, EINTR,
     "a signal arrived before the connection was set up; it goes on in the background"},
    {SP_OP_CONNECT, F_ANY, EADDRNOTAVAIL, "the address is not available on this machine"},
    {SP_OP_CONNECT, F_ANY, ECONNREFUSED, "the destination refused the connection"},
    {SP_OP_CONNECT, F_ANY, ETIMEDOUT, "the connection attempt timed out"},
    /* bind */
    {SP_OP_BIND, F_INET, EADDRINUSE,
     "another socket already uses that address and port (ss -ltnp shows who); SO_REUSEADDR "
     "helps only against old TIME_WAIT connections"},
    {SP_OP_BIND, F_INET, EADDRNOTAVAIL,
     "that address is not configured on any interface of this host (ip addr); "
     "net.ipv4.ip_nonlocal_bind=1 allows it anyway"},
    {SP_OP_BIND, F_INET, EACCES,
     "ports below net.ipv4.ip_unprivileged_port_start (1024) need root or CAP_NET_BIND_SERVICE"},
    {SP_OP_BIND, F_UNIX, EADDRINUSE,
     "a file already exists at that path (a stale socket from a previous run: remove it first)"},
    {SP_OP_BIND, F_UNIX, EACCES, "no write or search permission on a directory of the path"},
    {SP_OP_BIND, F_UNIX, ENOENT, "a directory of the path does not exist"},
    {SP_OP_BIND, F_ANY, EINVAL,
     "the socket is already bound, or the address length or family is wrong"},
    {SP_OP_BIND, F_ANY, EADDRNOTAVAIL, "the address is not available on this machine"},
    {SP_OP_BIND, F_ANY, EAFNOSUPPORT, "the address belongs to another family than the socket"},
    /* listen */
    {SP_OP_LISTEN, F_ANY, EADDRINUSE,
     "another socket already listens on the same port (the socket was bound to an ephemeral "
     "port that is now taken, or SO_REUSEPORT is not set on both)"},
    {SP_OP_LISTEN, F_ANY, EOPNOTSUPP, "this kind of socket cannot listen (a datagram socket?)"},
    {SP_OP_LISTEN, F_ANY, EINVAL, "the socket is already connected or cannot listen"},
    /* accept */
    {SP_OP_ACCEPT, F_ANY, EAGAIN, "no connection is waiting (a non-blocking accept); not an error"},
    {SP_OP_ACCEPT, F_ANY, ECONNABORTED,
     "a connection arrived and was reset by the peer before it could be accepted"},
    {SP_OP_ACCEPT, F_ANY, EINVAL, "the socket is not listening (listen() was not called)"},
    {SP_OP_ACCEPT, F_ANY, ENOBUFS, "the kernel is short of socket memory"},
    {SP_OP_ACCEPT, F_ANY, EPERM, "a firewall rule forbids this connection"},
    {SP_OP_ACCEPT, F_ANY, EPROTO, "a protocol error on the new connection"},
    {SP_OP_ACCEPT, F_ANY, EOPNOTSUPP, "this kind of socket does not accept connections"},
    {SP_OP_ACCEPT, F_ANY, EINTR, "a signal arrived before a connection did"},
    /* socket */
    {SP_OP_SOCKET, F_ANY, EAFNOSUPPORT,
     "this kernel does not support that address family (IPv6 disabled? module not loaded?)"},
    {SP_OP_SOCKET, F_ANY, EPROTONOSUPPORT, "this kernel does not support that protocol"},
    {SP_OP_SOCKET, F_ANY, EACCES, "not allowed to create this kind of socket (raw sockets need "
                                  "CAP_NET_RAW)"},
    {SP_OP_SOCKET, F_ANY, EINVAL, "unknown socket type or flags"},
    /* any call */
    {ANY_OP, F_INET, ENETDOWN, "the network interface is down"},
    {ANY_OP, F_INET, ENETUNREACH, "no route to that network"},
    {ANY_OP, F_INET, EHOSTUNREACH, "the destination host cannot be reached"},
    {ANY_OP, F_ANY, ENETDOWN, "the network is down"},
    {ANY_OP, F_ANY, ENETUNREACH, "the network cannot be reached"},
    {ANY_OP, F_ANY, EHOSTUNREACH, "the host cannot be reached"},
    {ANY_OP, F_ANY, EADDRINUSE, "the address is already in use"},
    {ANY_OP, F_ANY, ENONET, "the machine is not on the network"},
    {ANY_OP, F_ANY, EHOSTDOWN, "the host is down"},
    {ANY_OP, F_ANY, ENOPROTOOPT, "the protocol does not support that option"},
    {ANY_OP, F_ANY, ECONNRESET, "the peer reset the connection"},
    {ANY_OP, F_ANY, EBADF, "the program passed a descriptor that is not open"},
    {ANY_OP, F_ANY, ENOTSOCK, "the program passed a descriptor that is not a socket"},
    {ANY_OP, F_ANY, EFAULT, "the program passed an address outside its memory (a bug in it)"},
    {ANY_OP, F_ANY, EINVAL, "an argument was invalid for this socket"},
    {ANY_OP, F_ANY, EMFILE,
     "the process has no descriptor left: raise ulimit -n (RLIMIT_NOFILE) or close some"},
    {ANY_OP, F_ANY, ENFILE, "the system's file table is full (fs.file-max)"},
    {ANY_OP, F_ANY, ENOBUFS, "the kernel is short of socket buffer memory"},
    {ANY_OP, F_ANY, ENOMEM, "the kernel is out of memory"},
    {ANY_OP, F_ANY, EINTR, "a signal interrupted the call"},
    {ANY_OP, F_ANY, EAGAIN, "the operation would block on a non-blocking socket"},
    {ANY_OP, F_ANY, EACCES, "permission denied"},
    {ANY_OP, F_ANY, EPERM, "operation not permitted (a firewall rule, or a missing capability)"},
    {ANY_OP, F_ANY, ENOTDIR, "a component of the socket path is not a directory"},
    {ANY_OP, F_ANY, ENAMETOOLONG, "the socket path is too long (108 bytes at most)"},
    {ANY_OP, F_ANY, ENOENT, "the socket path does not exist"},
    {ANY_OP, F_ANY, ELOOP, "too many symbolic links in the socket path"},
    {ANY_OP, F_ANY, EROFS, "the path is on a read-only file system"},
    {ANY_OP, F_ANY, EPROTOTYPE, "the socket at that path is of another type"},
    {ANY_OP, F_ANY, EOPNOTSUPP, "the socket does not support this operation"},
    {ANY_OP, F_ANY, ETIMEDOUT, "the operation timed out"},
};

static enum fam fam_of(int family)
{
    if (family == AF_INET || family == AF_INET6)
        return F_INET;
    if (family == AF_UNIX)
        return F_UNIX;
    return F_ANY;
}

const char *sp_explain(enum sp_op op, int err, int family)
{
    enum fam f = fam_of(family);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        const struct explanation *e = &table[i];
        if (e->err == err && (e->op == ANY_OP || e->op == (int)op) &&
            (e->fam == F_ANY || e->fam == f))
            return e->text;
    }
    return NULL;
}

const char *sp_explain_event(const struct sp_event *ev)
{
    if (ev->rule && (ev->rule->action == SP_ACT_DENY || ev->rule->action == SP_ACT_FAIL))
        return ev->rule->action == SP_ACT_DENY
                   ? "denied by a sockpolicy rule; the kernel was never asked"
                   : "failed on purpose by a sockpolicy 'fail' rule (fault injection)";
    if (ev->flags & SP_EVF_DEFAULT_DENY)
        return "denied by the sockpolicy policy's default for this operation; no rule allowed it";
    if (ev->flags & SP_EVF_MESSAGE)
        return NULL;
    if (sp_event_connected_at_close(ev))
        return NULL;
    if (ev->phase == SP_PHASE_CLOSE && ev->err == 0)
        return "the program closed the socket before the connection completed";
    if (ev->err == 0)
        return NULL;
    return sp_explain(ev->op, ev->err, ev->family);
}
