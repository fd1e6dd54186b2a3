/* tests/progs/sp_errtab.c: socket calls that fail (and a few that succeed), one per line as
 * "case ret errno". A plain program: run with and without the shim, the two outputs must be
 * the same. Every case is local (loopback, AF_UNIX in /tmp, pipes). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void report(const char *name, long r, int err)
{
    const char *n = r < 0 ? strerrorname_np(err) : "-";
    printf("%-28s %s %s\n", name, r < 0 ? "-1" : r > 0 ? "pos" : "0", n ? n : "?");
}

#define CASE(name, call)          \
    do {                          \
        errno = 0;                \
        long r_ = (long)(call);   \
        report(name, r_, errno);  \
    } while (0)

static struct sockaddr_in in4(const char *ip, int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static int port_of(int fd)
{
    struct sockaddr_in a;
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    return ntohs(a.sin_port);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int pfd[2];
    if (pipe(pfd) != 0)
        return 1;
    struct sockaddr_in any = in4("127.0.0.1", 0);
    /* A bound, non-listening socket: its port refuses connections. */
    int closed = socket(AF_INET, SOCK_STREAM, 0);
    bind(closed, (struct sockaddr *)&any, sizeof any);
    struct sockaddr_in refused = in4("127.0.0.1", port_of(closed));
    /* A listener with backlog 0, filled by one connection: further SYNs are dropped. */
    int full = socket(AF_INET, SOCK_STREAM, 0);
    bind(full, (struct sockaddr *)&any, sizeof any);
    listen(full, 0);
    struct sockaddr_in fulla = in4("127.0.0.1", port_of(full));
    int filler = socket(AF_INET, SOCK_STREAM, 0);
    connect(filler, (struct sockaddr *)&fulla, sizeof fulla);
    int lis = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    bind(lis, (struct sockaddr *)&any, sizeof any);
    listen(lis, 8);
    struct sockaddr_in lisa = in4("127.0.0.1", port_of(lis));

    int s = socket(AF_INET, SOCK_STREAM, 0);
    CASE("connect_refused", connect(s, (struct sockaddr *)&refused, sizeof refused));
    close(s);
    s = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 r6 = { .sin6_family = AF_INET6, .sin6_port = htons(port_of(closed)),
                               .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    CASE("connect6_refused", connect(s, (struct sockaddr *)&r6, sizeof r6));
    close(s);
    s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    CASE("connect_nb_inprogress", connect(s, (struct sockaddr *)&fulla, sizeof fulla));
    CASE("connect_nb_already", connect(s, (struct sockaddr *)&fulla, sizeof fulla));
    close(s);
    s = socket(AF_INET, SOCK_STREAM, 0);
    errno = 4242;
    int r = connect(s, (struct sockaddr *)&lisa, sizeof lisa);
    printf("%-28s %d errno-kept=%d\n", "connect_ok", r, errno == 4242);
    CASE("connect_isconn", connect(s, (struct sockaddr *)&lisa, sizeof lisa));
    int a = accept(lis, NULL, NULL);
    printf("%-28s %s\n", "accept_ok", a >= 0 ? "fd" : "-1");
    close(a);
    close(s);
    CASE("accept_nb_eagain", accept(lis, NULL, NULL));
    CASE("accept4_nb_eagain", accept4(lis, NULL, NULL, SOCK_CLOEXEC));
    CASE("accept4_badflags", accept4(lis, NULL, NULL, 0x7fff0000));
    CASE("accept_ebadf", accept(-1, NULL, NULL));
    CASE("accept_closed_fd", accept(closed + 100, NULL, NULL));
    CASE("accept_notsock", accept(pfd[0], NULL, NULL));
    CASE("accept_notlistening", accept(closed, NULL, NULL));
    s = socket(AF_INET, SOCK_DGRAM, 0);
    CASE("accept_udp", accept(s, NULL, NULL));
    CASE("listen_udp", listen(s, 1));
    close(s);
    CASE("connect_ebadf", connect(-1, (struct sockaddr *)&lisa, sizeof lisa));
    CASE("connect_closed_fd", connect(closed + 100, (struct sockaddr *)&lisa, sizeof lisa));
    CASE("connect_notsock", connect(pfd[0], (struct sockaddr *)&lisa, sizeof lisa));
    s = socket(AF_INET, SOCK_STREAM, 0);
    CASE("connect_afnosupport", connect(s, (struct sockaddr *)&r6, sizeof r6));
    CASE("connect_shortlen", connect(s, (struct sockaddr *)&lisa, 4));
    CASE("connect_null", connect(s, NULL, sizeof lisa));
    close(s);
    s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un un = { .sun_family = AF_UNIX, .sun_path = "/tmp/sp_errtab-none/x" };
    CASE("connect_unix_enoent", connect(s, (struct sockaddr *)&un, sizeof un));
    close(s);
    char upath[64];
    snprintf(upath, sizeof upath, "/tmp/sp_errtab.%d", (int)getpid());
    struct sockaddr_un ub = { .sun_family = AF_UNIX };
    strcpy(ub.sun_path, upath);
    int ul = socket(AF_UNIX, SOCK_STREAM, 0);
    CASE("bind_unix", bind(ul, (struct sockaddr *)&ub, sizeof ub));
    s = socket(AF_UNIX, SOCK_STREAM, 0);
    CASE("connect_unix_refused", connect(s, (struct sockaddr *)&ub, sizeof ub));
    CASE("bind_unix_inuse", bind(s, (struct sockaddr *)&ub, sizeof ub));
    close(s);
    close(ul);
    unlink(upath);
    s = socket(AF_INET, SOCK_STREAM, 0);
    CASE("bind_inuse", bind(s, (struct sockaddr *)&lisa, sizeof lisa));
    struct sockaddr_in far = in4("192.0.2.1", 0);
    CASE("bind_addrnotavail", bind(s, (struct sockaddr *)&far, sizeof far));
    CASE("bind_ok", bind(s, (struct sockaddr *)&any, sizeof any));
    CASE("bind_twice", bind(s, (struct sockaddr *)&any, sizeof any));
    CASE("bind_afnosupport", bind(s, (struct sockaddr *)&r6, sizeof r6));
    close(s);
    CASE("bind_ebadf", bind(-1, (struct sockaddr *)&any, sizeof any));
    CASE("bind_notsock", bind(pfd[0], (struct sockaddr *)&any, sizeof any));
    CASE("listen_ebadf", listen(-1, 1));
    CASE("listen_notsock", listen(pfd[0], 1));
    CASE("socket_afnosupport", socket(12345, SOCK_STREAM, 0));
    CASE("socket_badtype", socket(AF_INET, 999, 0));
    CASE("socket_protonosupport", socket(AF_INET, SOCK_STREAM, IPPROTO_UDP));
    s = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    CASE("setsockopt_noprotoopt", setsockopt(s, SOL_SOCKET, 12345, &one, sizeof one));
    CASE("setsockopt_shortlen", setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &one, 1));
    CASE("setsockopt_notsock", setsockopt(pfd[0], SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one));
    CASE("setsockopt_ebadf", setsockopt(-1, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one));
    socklen_t ol = sizeof one;
    CASE("getsockopt_ebadf", getsockopt(-1, SOL_SOCKET, SO_ERROR, &one, &ol));
    CASE("getsockopt_noprotoopt", getsockopt(s, SOL_SOCKET, 12345, &one, &ol));
    CASE("getsockopt_soerror", getsockopt(s, SOL_SOCKET, SO_ERROR, &one, &ol));
    CASE("sendto_tcp_unconnected", sendto(s, "x", 1, MSG_NOSIGNAL, (struct sockaddr *)&lisa, sizeof lisa));
    close(s);
    s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in zero = in4("127.0.0.1", 0);
    CASE("sendto_udp_port0", sendto(s, "x", 1, 0, (struct sockaddr *)&zero, sizeof zero));
    CASE("sendto_udp_afnosupport", sendto(s, "x", 1, 0, (struct sockaddr *)&r6, sizeof r6));
    CASE("sendto_udp_ok", sendto(s, "x", 1, 0, (struct sockaddr *)&refused, sizeof refused));
    struct iovec iov = { "x", 1 };
    struct msghdr m = { .msg_name = &zero, .msg_namelen = sizeof zero, .msg_iov = &iov, .msg_iovlen = 1 };
    CASE("sendmsg_udp_port0", sendmsg(s, &m, 0));
    CASE("sendto_notsock", sendto(pfd[1], "x", 1, 0, (struct sockaddr *)&zero, sizeof zero));
    struct sockaddr unspec = { .sa_family = AF_UNSPEC };
    CASE("connect_udp_unspec", connect(s, &unspec, sizeof unspec));
    close(s);
    CASE("close_ebadf", close(-1));
    CASE("close_closed", close(closed + 100));
    CASE("dup2_ebadf", dup2(-1, 50));
    CASE("dup3_same", dup3(pfd[0], pfd[0], 0));
    CASE("close_range_inval", close_range(50, 40, 0));
    close(lis);
    close(filler);
    close(full);
    close(closed);
    return 0;
}
