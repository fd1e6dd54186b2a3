/* tests/unit/core_bio.c: every BIO routine and flag of core/bio.h on real sockets, read back
 * from outside (getsockopt, fcntl, getsockname), and the error paths of the reference. */
#include "core_helpers.h"

#include <stdlib.h>
#include <sys/stat.h>

static const char *sockdir;

static void test_socket(void)
{
    int fd;

    errno = 4321;
    fd = bio_socket(AF_INET, SOCK_STREAM, 0, 0x3f);
    ok(fd >= 0, "bio_socket(AF_INET, STREAM) gives an fd");
    is_int(getint(fd, SOL_SOCKET, SO_TYPE), SOCK_STREAM, "bio_socket: SO_TYPE is SOCK_STREAM");
    is_int(is_nonblock(fd), 0, "bio_socket: options ignored (still blocking)");
    is_int(getint(fd, SOL_SOCKET, SO_KEEPALIVE), 0, "bio_socket: options ignored (no keepalive)");
    is_int(errno, 4321, "bio_socket: errno untouched on success");
    QUEUE0("bio_socket success");
    close(fd);

    fd = bio_socket(4242, SOCK_STREAM, 0, 0);
    is_int(fd, -1, "bio_socket(bogus family) returns -1");
    is_int(errno, EAFNOSUPPORT, "bio_socket(bogus family): errno EAFNOSUPPORT");
    QUEUE2("bio_socket failure", SYS(EAFNOSUPPORT), "calling socket()",
           BIOR(BIO_R_UNABLE_TO_CREATE_SOCKET), NULL);
}

static void test_bind(void)
{
    bio_addr a = addr4("127.0.0.1", 0);
    int fd, fd2, p[2];

    errno = 4321;
    is_int(bio_bind(-1, &a, BIO_SOCK_REUSEADDR), 0, "bio_bind(-1) returns 0");
    is_int(errno, 4321, "bio_bind(-1): errno untouched");
    QUEUE1("bio_bind(-1)", BIOR(BIO_R_INVALID_SOCKET), NULL);

    fd = socket(AF_INET, SOCK_STREAM, 0);
    set_nonblock(fd, 1);
    is_int(bio_bind(fd, &a, BIO_SOCK_REUSEADDR | BIO_SOCK_KEEPALIVE), 1, "bio_bind REUSEADDR");
    is_int(getint(fd, SOL_SOCKET, SO_REUSEADDR), 1, "bio_bind REUSEADDR: SO_REUSEADDR reads 1");
    ok(local_port(fd) > 0, "bio_bind: getsockname shows a port");
    is_int(is_nonblock(fd), 1, "bio_bind leaves O_NONBLOCK alone");
    is_int(getint(fd, SOL_SOCKET, SO_KEEPALIVE), 0, "bio_bind ignores KEEPALIVE");
    QUEUE0("bio_bind success");

    a = addr4("127.0.0.1", (unsigned short)local_port(fd));
    listen(fd, 1);
    fd2 = socket(AF_INET, SOCK_STREAM, 0);
    is_int(bio_bind(fd2, &a, 0), 0, "bio_bind on a port in use fails");
    is_int(errno, EADDRINUSE, "bio_bind in use: EADDRINUSE");
    is_int(getint(fd2, SOL_SOCKET, SO_REUSEADDR), 0, "bio_bind without flag: SO_REUSEADDR 0");
    QUEUE2("bio_bind in use", SYS(EADDRINUSE), "calling bind()",
           BIOR(BIO_R_UNABLE_TO_BIND_SOCKET), NULL);
    close(fd);
    close(fd2);

    a = addr4("127.0.0.1", 0);
    is_int(bio_bind(fd, &a, BIO_SOCK_REUSEADDR), 0, "bio_bind(closed fd, REUSEADDR) fails");
    is_int(errno, EBADF, "bio_bind closed fd: EBADF");
    QUEUE2("bio_bind closed fd REUSEADDR", SYS(EBADF), "calling setsockopt()",
           BIOR(BIO_R_UNABLE_TO_REUSEADDR), NULL);
    is_int(bio_bind(-2, &a, 0), 0, "bio_bind(-2) reaches the kernel");
    QUEUE2("bio_bind(-2)", SYS(EBADF), "calling bind()", BIOR(BIO_R_UNABLE_TO_BIND_SOCKET),
           NULL);

    if (pipe(p) == 0) {
        is_int(bio_bind(p[0], &a, 0), 0, "bio_bind(pipe) fails");
        is_int(errno, ENOTSOCK, "bio_bind(pipe): ENOTSOCK");
        QUEUE2("bio_bind(pipe)", SYS(ENOTSOCK), "calling bind()",
               BIOR(BIO_R_UNABLE_TO_BIND_SOCKET), NULL);
        close(p[0]);
        close(p[1]);
    }
}

static void test_connect(void)
{
    int lport = 0, lfd = tcp_listener(&lport), fd, p[2];
    bio_addr a = addr4("127.0.0.1", (unsigned short)lport), dead;
    struct pollfd pfd;

    is_int(bio_connect(-1, &a, 0), 0, "bio_connect(-1) returns 0");
    QUEUE1("bio_connect(-1)", BIOR(BIO_R_INVALID_SOCKET), NULL);

    fd = socket(AF_INET, SOCK_STREAM, 0);
    close(fd);
    is_int(bio_connect(fd, &a, BIO_SOCK_KEEPALIVE), 0, "bio_connect(closed fd) returns 0");
    is_int(errno, EBADF, "bio_connect(closed fd): EBADF");
    QUEUE1("bio_connect(closed fd): ioctl entry only", SYS(EBADF), "calling ioctlsocket()");

    if (pipe(p) == 0) {
        set_nonblock(p[0], 1);
        is_int(bio_connect(p[0], &a, 0), 0, "bio_connect(pipe) returns 0");
        is_int(errno, ENOTSOCK, "bio_connect(pipe): ENOTSOCK");
        is_int(is_nonblock(p[0]), 0, "bio_connect(pipe): FIONBIO made the pipe blocking");
        QUEUE2("bio_connect(pipe)", SYS(ENOTSOCK), "calling connect()",
               BIOR(BIO_R_CONNECT_ERROR), NULL);
        is_int(bio_connect(p[0], &a, BIO_SOCK_KEEPALIVE), 0, "bio_connect(pipe, KEEPALIVE)");
        QUEUE2("bio_connect(pipe, KEEPALIVE)", SYS(ENOTSOCK), "calling setsockopt()",
               BIOR(BIO_R_UNABLE_TO_KEEPALIVE), NULL);
        close(p[0]);
        close(p[1]);
    }

    /* Blocking connect with KEEPALIVE|NODELAY forces blocking mode. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    set_nonblock(fd, 1);
    errno = 4321;
    is_int(bio_connect(fd, &a, BIO_SOCK_KEEPALIVE | BIO_SOCK_NODELAY | BIO_SOCK_REUSEADDR |
                                   BIO_SOCK_V6_ONLY),
           1, "bio_connect KEEPALIVE|NODELAY succeeds");
    is_int(errno, 4321, "bio_connect success leaves errno alone");
    is_int(is_nonblock(fd), 0, "bio_connect without NONBLOCK clears O_NONBLOCK");
    is_int(getint(fd, SOL_SOCKET, SO_KEEPALIVE), 1, "bio_connect KEEPALIVE reads back 1");
    is_int(getint(fd, IPPROTO_TCP, TCP_NODELAY), 1, "bio_connect NODELAY reads back 1");
    is_int(getint(fd, SOL_SOCKET, SO_REUSEADDR), 0, "bio_connect ignores REUSEADDR");
    QUEUE0("bio_connect success");
    close(fd);

    /* Non-blocking connect in progress: 0, empty queue, EINPROGRESS. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    is_int(bio_connect(fd, &a, BIO_SOCK_NONBLOCK), 0, "bio_connect NONBLOCK returns 0");
    is_int(errno, EINPROGRESS, "bio_connect NONBLOCK: EINPROGRESS");
    ok(bio_sock_should_retry(0), "bio_sock_should_retry(0) after EINPROGRESS");
    is_int(is_nonblock(fd), 1, "bio_connect NONBLOCK sets O_NONBLOCK");
    QUEUE0("bio_connect in progress");
    pfd.fd = fd;
    pfd.events = POLLOUT;
    ok(poll(&pfd, 1, 2000) == 1, "non-blocking connect completes");
    is_int(bio_sock_error(fd), 0, "bio_sock_error after a completed connect is 0");
    close(fd);

    /* Refused, blocking and non-blocking. */
    dead = addr4("127.0.0.1", (unsigned short)dead_port());
    fd = socket(AF_INET, SOCK_STREAM, 0);
    is_int(bio_connect(fd, &dead, 0), 0, "bio_connect refused returns 0");
    is_int(errno, ECONNREFUSED, "bio_connect refused: ECONNREFUSED");
    ok(!bio_sock_should_retry(0), "ECONNREFUSED is fatal");
    QUEUE2("bio_connect refused", SYS(ECONNREFUSED), "calling connect()",
           BIOR(BIO_R_CONNECT_ERROR), NULL);
    close(fd);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (bio_connect(fd, &dead, BIO_SOCK_NONBLOCK) == 0 && errno == EINPROGRESS) {
        QUEUE0("bio_connect NONBLOCK to a dead port");
        pfd.fd = fd;
        pfd.events = POLLOUT;
        poll(&pfd, 1, 2000);
        is_int(bio_sock_error(fd), ECONNREFUSED, "bio_sock_error reports ECONNREFUSED");
        is_int(bio_sock_error(fd), 0, "bio_sock_error: the pending error is cleared");
    } else {
        QUEUE2("bio_connect NONBLOCK refused at once", SYS(ECONNREFUSED), "calling connect()",
               BIOR(BIO_R_CONNECT_ERROR), NULL);
        skip("refused immediately, no pending error to read");
        skip("refused immediately, no pending error to read");
    }
    close(fd);

    /* NODELAY on UDP and AF_UNIX: fails after KEEPALIVE, which stays set. */
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    is_int(bio_connect(fd, &a, BIO_SOCK_KEEPALIVE | BIO_SOCK_NODELAY), 0,
           "bio_connect NODELAY on UDP fails");
    is_int(errno, ENOPROTOOPT, "NODELAY on UDP: ENOPROTOOPT");
    is_int(getint(fd, SOL_SOCKET, SO_KEEPALIVE), 1, "no cleanup: KEEPALIVE stays on UDP");
    QUEUE2("NODELAY on UDP", SYS(ENOPROTOOPT), "calling setsockopt()",
           BIOR(BIO_R_UNABLE_TO_NODELAY), NULL);
    is_int(bio_connect(fd, &a, BIO_SOCK_NONBLOCK), 1, "UDP connect NONBLOCK returns 1 at once");
    {
        bio_addr unspec;

        bio_addr_clear(&unspec);
        is_int(bio_connect(fd, &unspec, 0), 1, "AF_UNSPEC connect on UDP dissolves: 1");
    }
    close(fd);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    is_int(bio_connect(fd, &a, BIO_SOCK_NODELAY), 0, "bio_connect NODELAY on AF_UNIX fails");
    is_int(errno, EOPNOTSUPP, "NODELAY on AF_UNIX: EOPNOTSUPP");
    QUEUE2("NODELAY on AF_UNIX", SYS(EOPNOTSUPP), "calling setsockopt()",
           BIOR(BIO_R_UNABLE_TO_NODELAY), NULL);
    close(fd);

    /* TFO: TCP_FASTOPEN_CONNECT before connect (3.2+ Linux); on UDP, UNABLE_TO_TFO. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    is_int(bio_connect(fd, &a, BIO_SOCK_TFO), 1, "bio_connect TFO succeeds");
    is_int(getint(fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT), 1, "TFO: TCP_FASTOPEN_CONNECT reads 1");
    close(fd);
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    is_int(bio_connect(fd, &a, BIO_SOCK_TFO), 0, "bio_connect TFO on UDP fails");
    QUEUE2("TFO on UDP", SYS(ENOPROTOOPT), "calling setsockopt()", BIOR(BIO_R_UNABLE_TO_TFO),
           NULL);
    close(fd);

    {
        char path[200];
        bio_addr u;

        snprintf(path, sizeof path, "%s/nobody-here", sockdir);
        u = addr_unix(path);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        is_int(bio_connect(fd, &u, BIO_SOCK_NONBLOCK), 0, "AF_UNIX connect to no path fails");
        is_int(errno, ENOENT, "AF_UNIX connect: ENOENT");
        QUEUE2("AF_UNIX ENOENT", SYS(ENOENT), "calling connect()", BIOR(BIO_R_CONNECT_ERROR),
               NULL);
        close(fd);
    }
    /* drain the listener */
    set_nonblock(lfd, 1);
    while ((fd = accept(lfd, NULL, NULL)) >= 0)
        close(fd);
    close(lfd);
}

static void test_listen(void)
{
    bio_addr a = addr4("127.0.0.1", 0);
    int fd, p[2], somax = 4096;
    FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");

    if (f) {
        if (fscanf(f, "%d", &somax) != 1)
            somax = 4096;
        fclose(f);
    }
    is_int(bio_listen(-1, &a, 0), 0, "bio_listen(-1) returns 0");
    QUEUE1("bio_listen(-1)", BIOR(BIO_R_INVALID_SOCKET), NULL);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    close(fd);
    is_int(bio_listen(fd, &a, 0), 0, "bio_listen(closed fd) returns 0");
    QUEUE2("bio_listen(closed fd)", SYS(EBADF), "calling getsockopt()",
           BIOR(BIO_R_GETTING_SOCKTYPE), NULL);
    if (pipe(p) == 0) {
        is_int(bio_listen(p[0], &a, 0), 0, "bio_listen(pipe) returns 0");
        is_int(errno, ENOTSOCK, "bio_listen(pipe): ENOTSOCK");
        QUEUE2("bio_listen(pipe)", SYS(ENOTSOCK), "calling getsockopt()",
               BIOR(BIO_R_GETTING_SOCKTYPE), NULL);
        close(p[0]);
        close(p[1]);
    }

    fd = socket(AF_INET, SOCK_STREAM, 0);
    is_int(bio_listen(fd, &a, BIO_SOCK_REUSEADDR | BIO_SOCK_KEEPALIVE | BIO_SOCK_NONBLOCK |
                                  BIO_SOCK_NODELAY | BIO_SOCK_V6_ONLY),
           1, "bio_listen all flags on AF_INET");
    is_int(getint(fd, SOL_SOCKET, SO_ACCEPTCONN), 1, "bio_listen: SO_ACCEPTCONN 1");
    is_int(getint(fd, SOL_SOCKET, SO_REUSEADDR), 1, "bio_listen: SO_REUSEADDR 1");
    is_int(getint(fd, SOL_SOCKET, SO_KEEPALIVE), 1, "bio_listen: SO_KEEPALIVE 1");
    is_int(getint(fd, IPPROTO_TCP, TCP_NODELAY), 1, "bio_listen: TCP_NODELAY 1");
    is_int(is_nonblock(fd), 1, "bio_listen NONBLOCK: O_NONBLOCK");
    ok(local_port(fd) > 0, "bio_listen bound a port");
    QUEUE0("bio_listen success");
    /* Listen on a bound (here: listening) socket binds again: EINVAL. */
    is_int(bio_listen(fd, &a, 0), 0, "bio_listen on a bound socket fails");
    is_int(errno, EINVAL, "bio_listen bound: EINVAL");
    is_int(is_nonblock(fd), 0, "no cleanup: the failed listen left the socket blocking");
    QUEUE2("bio_listen bound", SYS(EINVAL), "calling bind()", BIOR(BIO_R_UNABLE_TO_BIND_SOCKET),
           NULL);
    close(fd);

    /* AF_INET socket with an AF_INET6 address: LISTEN_V6_ONLY. */
    {
        bio_addr a6 = addr6("::1", 0);

        fd = socket(AF_INET, SOCK_STREAM, 0);
        is_int(bio_listen(fd, &a6, 0), 0, "bio_listen AF_INET socket, AF_INET6 address fails");
        QUEUE2("V6ONLY on AF_INET", SYS(ENOPROTOOPT), "calling setsockopt()",
               BIOR(BIO_R_LISTEN_V6_ONLY), NULL);
        close(fd);
    }
    if (ipv6_works()) {
        bio_addr a6 = addr6("::1", 0);

        bio_addr any6 = addr6("::", 0);

        /* :: (binding ::1 sets V6ONLY in the kernel whatever was asked) */
        fd = socket(AF_INET6, SOCK_STREAM, 0);
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &(int){1}, sizeof(int));
        is_int(bio_listen(fd, &any6, 0), 1, "bio_listen AF_INET6 without V6_ONLY");
        is_int(getint(fd, IPPROTO_IPV6, IPV6_V6ONLY), 0, "V6ONLY explicitly written as 0");
        is_int(bio_listen(fd, &a6, BIO_SOCK_V6_ONLY), 0, "bio_listen on a bound AF_INET6 socket");
        QUEUE2("bound AF_INET6", SYS(EINVAL), "calling setsockopt()", BIOR(BIO_R_LISTEN_V6_ONLY),
               NULL);
        close(fd);
        fd = socket(AF_INET6, SOCK_STREAM, 0);
        is_int(bio_listen(fd, &a6, BIO_SOCK_V6_ONLY), 1, "bio_listen AF_INET6 V6_ONLY");
        is_int(getint(fd, IPPROTO_IPV6, IPV6_V6ONLY), 1, "V6ONLY reads back 1");
        close(fd);
    } else {
        for (int i = 0; i < 5; i++)
            skip("no IPv6 loopback here");
    }

    /* Datagram listen: bind, no listen(). */
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    is_int(bio_listen(fd, &a, BIO_SOCK_TFO), 1, "bio_listen on UDP succeeds");
    is_int(getint(fd, SOL_SOCKET, SO_ACCEPTCONN), 0, "UDP listen: SO_ACCEPTCONN 0");
    ok(local_port(fd) > 0, "UDP listen: bound");
    QUEUE0("UDP listen");
    close(fd);

    /* TFO on listen: TCP_FASTOPEN qlen = SOMAXCONN, capped by net.core.somaxconn. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    is_int(bio_listen(fd, &a, BIO_SOCK_TFO), 1, "bio_listen TFO");
    is_int(getint(fd, IPPROTO_TCP, TCP_FASTOPEN), somax < SOMAXCONN ? somax : SOMAXCONN,
           "bio_listen TFO: TCP_FASTOPEN qlen reads back");
    close(fd);

    fd = socket(AF_INET, SOCK_RAW, IPPROTO_UDP);
    if (fd >= 0) {
        is_int(bio_listen(fd, &a, 0), 0, "bio_listen on SOCK_RAW fails");
        QUEUE2("RAW listen", SYS(EOPNOTSUPP), "calling listen()",
               BIOR(BIO_R_UNABLE_TO_LISTEN_SOCKET), NULL);
        close(fd);
    } else {
        skip("no CAP_NET_RAW");
        skip("no CAP_NET_RAW");
    }
}

static void test_accept(void)
{
    bio_addr a = addr4("127.0.0.1", 0), peer;
    int lfd = socket(AF_INET, SOCK_STREAM, 0), c, s, fd;
    socklen_t len;
    struct sockaddr_in sin;

    bio_listen(lfd, &a, BIO_SOCK_NONBLOCK);
    a = addr4("127.0.0.1", (unsigned short)local_port(lfd));
    is_int(bio_accept_ex(lfd, &peer, BIO_SOCK_NONBLOCK), -1, "bio_accept_ex, no client: -1");
    is_int(errno, EAGAIN, "bio_accept_ex, no client: EAGAIN");
    ok(bio_sock_should_retry(-1), "EAGAIN is retryable");
    QUEUE0("accept EAGAIN");

    c = socket(AF_INET, SOCK_STREAM, 0);
    connect(c, &a.sa, sizeof a.s_in);
    memset(&peer, 0, sizeof peer);
    s = bio_accept_ex(lfd, &peer, BIO_SOCK_NONBLOCK | BIO_SOCK_KEEPALIVE | BIO_SOCK_NODELAY);
    ok(s >= 0, "bio_accept_ex accepts");
    is_int(is_nonblock(s), 1, "accepted fd: O_NONBLOCK");
    is_int(getint(s, SOL_SOCKET, SO_KEEPALIVE), 0, "accept ignores KEEPALIVE");
    is_int(getint(s, IPPROTO_TCP, TCP_NODELAY), 0, "accept ignores NODELAY");
    is_int(bio_addr_family(&peer), AF_INET, "peer family AF_INET");
    is_int(ntohs(bio_addr_rawport(&peer)), local_port(c), "peer port is the client's");
    close(s);
    close(c);

    c = socket(AF_INET, SOCK_STREAM, 0);
    connect(c, &a.sa, sizeof a.s_in);
    s = bio_accept_ex(lfd, NULL, 0);
    ok(s >= 0, "bio_accept_ex with NULL peer");
    is_int(is_nonblock(s), 0, "accepted without NONBLOCK: blocking");
    close(s);
    close(c);

    c = socket(AF_INET, SOCK_STREAM, 0);
    connect(c, &a.sa, sizeof a.s_in);
    len = sizeof sin;
    s = bio_accept_sa(lfd, (struct sockaddr *)&sin, &len, 0, SOCK_CLOEXEC | SOCK_NONBLOCK);
    ok(s >= 0, "bio_accept_sa with accept4 flags");
    is_int(len, sizeof sin, "bio_accept_sa stores the peer length");
    ok(fcntl(s, F_GETFD) & FD_CLOEXEC, "bio_accept_sa SOCK_CLOEXEC reaches accept4");
    is_int(is_nonblock(s), 1, "bio_accept_sa SOCK_NONBLOCK keeps the fd non-blocking");
    close(s);
    close(c);

    is_int(bio_accept_ex(-1, &peer, 0), -1, "bio_accept_ex(-1): no pre-check, -1");
    is_int(errno, EBADF, "bio_accept_ex(-1): EBADF from the kernel");
    QUEUE2("accept(-1)", SYS(EBADF), "calling accept()", BIOR(BIO_R_ACCEPT_ERROR), NULL);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    is_int(bio_accept_ex(fd, &peer, 0), -1, "accept on a non-listening socket");
    is_int(errno, EINVAL, "accept on a non-listening socket: EINVAL");
    QUEUE2("accept EINVAL", SYS(EINVAL), "calling accept()", BIOR(BIO_R_ACCEPT_ERROR), NULL);
    close(fd);
    close(lfd);
}

static void test_unix(void)
{
    char path[200], buf[8];
    bio_addr a, peer;
    int lfd, c, s;

    snprintf(path, sizeof path, "%s/e2e.sock", sockdir);
    a = addr_unix(path);
    is_int(bio_addr_sockaddr_size(&a), 110, "AF_UNIX size is the whole sockaddr_un");
    lfd = bio_socket(AF_UNIX, SOCK_STREAM, 0, 0);
    is_int(bio_listen(lfd, &a, BIO_SOCK_REUSEADDR), 1, "AF_UNIX bio_listen");
    is_int(getint(lfd, SOL_SOCKET, SO_ACCEPTCONN), 1, "AF_UNIX listening");
    c = bio_socket(AF_UNIX, SOCK_STREAM, 0, 0);
    is_int(bio_connect(c, &a, BIO_SOCK_NONBLOCK), 1, "AF_UNIX bio_connect NONBLOCK: 1");
    memset(&peer, 0x55, sizeof peer);
    s = bio_accept_ex(lfd, &peer, 0);
    ok(s >= 0, "AF_UNIX bio_accept_ex");
    is_int(bio_addr_family(&peer), AF_UNIX, "AF_UNIX peer family");
    is_int((unsigned char)peer.s_un.sun_path[0], 0x55, "unnamed peer: sun_path not cleared");
    ok(write(c, "ping", 4) == 4 && read(s, buf, 4) == 4 && memcmp(buf, "ping", 4) == 0,
       "AF_UNIX data flows client to server");
    ok(write(s, "pong", 4) == 4 && read(c, buf, 4) == 4 && memcmp(buf, "pong", 4) == 0,
       "AF_UNIX data flows server to client");
    {
        union bio_sock_info_u info;
        bio_addr got;

        info.addr = &got;
        is_int(bio_sock_info(lfd, bio_sock_info_address, &info), 1, "bio_sock_info AF_UNIX");
        is_str(got.s_un.sun_path, path, "bio_sock_info gives the bound path");
    }
    {
        bio_addr dupa = addr_unix(path);
        int d = socket(AF_UNIX, SOCK_STREAM, 0);

        is_int(bio_bind(d, &dupa, BIO_SOCK_REUSEADDR), 0, "AF_UNIX REUSEADDR cannot rebind a path");
        QUEUE2("AF_UNIX EADDRINUSE", SYS(EADDRINUSE), "calling bind()",
               BIOR(BIO_R_UNABLE_TO_BIND_SOCKET), NULL);
        close(d);
    }
    QUEUE0("AF_UNIX end to end");
    close(s);
    close(c);
    close(lfd);
    unlink(path);

    /* SEQPACKET gets listen(). */
    snprintf(path, sizeof path, "%s/seq.sock", sockdir);
    a = addr_unix(path);
    lfd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    is_int(bio_listen(lfd, &a, 0), 1, "AF_UNIX SEQPACKET bio_listen");
    is_int(getint(lfd, SOL_SOCKET, SO_ACCEPTCONN), 1, "SEQPACKET listening");
    close(lfd);
    unlink(path);
}

static void test_small(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), p[2], u;
    union bio_sock_info_u info;
    bio_addr got;
    static const int retry[] = {EAGAIN, ENOTCONN, EINTR, EPROTO, EINPROGRESS, EALREADY};
    int i, all = 1;

    is_int(bio_closesocket(-5), 0, "bio_closesocket(-5): 0");
    u = socket(AF_INET, SOCK_DGRAM, 0);
    is_int(bio_closesocket(u), 1, "bio_closesocket(open fd): 1");
    ok(!fd_is_open(u), "bio_closesocket closed it");
    is_int(bio_closesocket(u), 0, "bio_closesocket(closed fd): 0");
    is_int(errno, EBADF, "bio_closesocket(closed fd): EBADF");
    QUEUE0("closesocket never queues");

    is_int(bio_sock_error(fd), 0, "bio_sock_error(fresh socket): 0");
    is_int(bio_sock_error(u), EBADF, "bio_sock_error(closed fd): EBADF");
    ok(pipe(p) == 0, "pipe");
    is_int(bio_sock_error(p[0]), ENOTSOCK, "bio_sock_error(pipe): ENOTSOCK");

    is_int(bio_socket_nbio(fd, 1), 1, "bio_socket_nbio(1)");
    is_int(is_nonblock(fd), 1, "nbio(1): O_NONBLOCK");
    is_int(bio_socket_nbio(fd, 0), 1, "bio_socket_nbio(0)");
    is_int(is_nonblock(fd), 0, "nbio(0): blocking");
    is_int(bio_socket_nbio(fd, 2), 1, "bio_socket_nbio(2)");
    is_int(is_nonblock(fd), 1, "nbio(2): any non-zero is non-blocking");
    is_int(bio_socket_nbio(p[1], 1), 1, "bio_socket_nbio works on a pipe");
    is_int(is_nonblock(p[1]), 1, "pipe is non-blocking");
    u = dup(0);
    close(u);
    is_int(bio_socket_nbio(u, 1), 0, "bio_socket_nbio(closed fd): 0");
    QUEUE1("nbio failure: one SYS entry", SYS(EBADF), "calling ioctlsocket()");

    is_int(bio_set_tcp_ndelay(fd, 1), 1, "bio_set_tcp_ndelay(1)");
    is_int(getint(fd, IPPROTO_TCP, TCP_NODELAY), 1, "TCP_NODELAY 1");
    is_int(bio_set_tcp_ndelay(fd, 0), 1, "bio_set_tcp_ndelay(0)");
    is_int(getint(fd, IPPROTO_TCP, TCP_NODELAY), 0, "TCP_NODELAY 0");
    is_int(bio_set_tcp_ndelay(fd, 7), 1, "bio_set_tcp_ndelay(7)");
    is_int(getint(fd, IPPROTO_TCP, TCP_NODELAY), 1, "TCP_NODELAY 7 reads as on");
    is_int(bio_set_tcp_ndelay(p[0], 1), 0, "bio_set_tcp_ndelay(pipe): 0");
    is_int(errno, ENOTSOCK, "bio_set_tcp_ndelay(pipe): ENOTSOCK");
    QUEUE0("set_tcp_ndelay never queues");

    info.addr = &got;
    is_int(bio_sock_info(fd, (enum bio_sock_info_type)1, &info), 0, "bio_sock_info bad type");
    QUEUE1("unknown info type", BIOR(BIO_R_UNKNOWN_INFO_TYPE), NULL);
    u = dup(0);
    close(u);
    is_int(bio_sock_info(u, bio_sock_info_address, &info), 0, "bio_sock_info(closed fd)");
    QUEUE2("getsockname error", SYS(EBADF), "calling getsockname()",
           BIOR(BIO_R_GETSOCKNAME_ERROR), NULL);
    {
        bio_addr a = addr4("127.0.0.1", 0);

        bio_bind(fd, &a, 0);
        is_int(bio_sock_info(fd, bio_sock_info_address, &info), 1, "bio_sock_info bound");
        is_int(ntohs(bio_addr_rawport(&got)), local_port(fd), "bio_sock_info port");
    }
    for (i = 0; i < (int)(sizeof retry / sizeof retry[0]); i++)
        all &= bio_sock_non_fatal_error(retry[i]);
    ok(all, "non-fatal set: EAGAIN ENOTCONN EINTR EPROTO EINPROGRESS EALREADY");
    ok(!bio_sock_non_fatal_error(ECONNABORTED) && !bio_sock_non_fatal_error(ECONNREFUSED) &&
           !bio_sock_non_fatal_error(0),
       "ECONNABORTED, ECONNREFUSED, 0 are fatal");
    errno = EINTR;
    ok(!bio_sock_should_retry(1) && bio_sock_should_retry(-1) && bio_sock_should_retry(0),
       "should_retry only for 0 and -1");
    close(fd);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    char tmpl[] = "/tmp/sp_core_bio.XXXXXX";

    sockdir = mkdtemp(tmpl);
    bio_err_clear();
    test_socket();
    test_bind();
    test_connect();
    test_listen();
    test_accept();
    test_unix();
    test_small();
    rmdir(sockdir);
    return done_testing();
}
