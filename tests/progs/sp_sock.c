/* tests/progs/sp_sock.c: a plain socket program (no knowledge of sockpolicy) that the shim
 * tests run under LD_PRELOAD. It does one thing per run and prints what the kernel says about
 * its sockets, read back with getsockopt, one "name=value" per line.
 *
 *   sp_sock client [-6] [-u] [-n] [-s NAME=VAL]... [-w DATA] [-H MS] HOST PORT
 *   sp_sock server [-6] [-u] [-c COUNT] [-H MS] [-p PORTFILE] PORT
 *   sp_sock unix PATH
 *   sp_sock socket [-6] [-u]
 *   sp_sock bind [-6] [-u] PORT */
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
#include <time.h>
#include <unistd.h>

static const char *ename(int e)
{
    const char *n = e ? strerrorname_np(e) : "0";
    return n ? n : "?";
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int geti(int fd, int level, int name)
{
    int v = -1;
    socklen_t l = sizeof v;
    if (getsockopt(fd, level, name, &v, &l) != 0)
        return -1;
    return v;
}

static void print_opts(const char *who, int fd)
{
    int fam = geti(fd, SOL_SOCKET, SO_DOMAIN), type = geti(fd, SOL_SOCKET, SO_TYPE);
    printf("%s.keepalive=%d\n", who, geti(fd, SOL_SOCKET, SO_KEEPALIVE));
    printf("%s.reuseaddr=%d\n", who, geti(fd, SOL_SOCKET, SO_REUSEADDR));
    printf("%s.reuseport=%d\n", who, geti(fd, SOL_SOCKET, SO_REUSEPORT));
    printf("%s.rcvbuf=%d\n", who, geti(fd, SOL_SOCKET, SO_RCVBUF));
    printf("%s.sndbuf=%d\n", who, geti(fd, SOL_SOCKET, SO_SNDBUF));
    printf("%s.mark=%d\n", who, geti(fd, SOL_SOCKET, SO_MARK));
    struct linger lg = { 0, 0 };
    socklen_t ll = sizeof lg;
    getsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, &ll);
    printf("%s.linger=%d/%d\n", who, lg.l_onoff, lg.l_linger);
    printf("%s.nonblock=%d\n", who, (fcntl(fd, F_GETFL) & O_NONBLOCK) ? 1 : 0);
    if (fam == AF_INET)
        printf("%s.tos=%d\n", who, geti(fd, IPPROTO_IP, IP_TOS));
    if (fam == AF_INET6) {
        printf("%s.tos=%d\n", who, geti(fd, IPPROTO_IPV6, IPV6_TCLASS));
        printf("%s.v6only=%d\n", who, geti(fd, IPPROTO_IPV6, IPV6_V6ONLY));
    }
    if (fam != AF_UNIX && type == SOCK_STREAM) {
        printf("%s.keepidle=%d\n", who, geti(fd, IPPROTO_TCP, TCP_KEEPIDLE));
        printf("%s.keepintvl=%d\n", who, geti(fd, IPPROTO_TCP, TCP_KEEPINTVL));
        printf("%s.keepcnt=%d\n", who, geti(fd, IPPROTO_TCP, TCP_KEEPCNT));
        printf("%s.nodelay=%d\n", who, geti(fd, IPPROTO_TCP, TCP_NODELAY));
        printf("%s.user-timeout=%d\n", who, geti(fd, IPPROTO_TCP, TCP_USER_TIMEOUT));
        printf("%s.syn-count=%d\n", who, geti(fd, IPPROTO_TCP, TCP_SYNCNT));
        printf("%s.tfo-connect=%d\n", who, geti(fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT));
        printf("%s.tfo-qlen=%d\n", who, geti(fd, IPPROTO_TCP, TCP_FASTOPEN));
        char cc[16] = "";
        socklen_t cl = sizeof cc;
        getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, &cl);
        printf("%s.congestion=%.16s\n", who, cc);
        struct tcp_info ti;
        socklen_t tl = sizeof ti;
        if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0)
            printf("%s.syn-data-acked=%d\n", who, (ti.tcpi_options & TCPI_OPT_SYN_DATA) ? 1 : 0);
    }
    fflush(stdout);
}

static socklen_t make_addr(struct sockaddr_storage *ss, int v6, const char *host, int port)
{
    memset(ss, 0, sizeof *ss);
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        inet_pton(AF_INET6, host, &a->sin6_addr);
        return sizeof *a;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    inet_pton(AF_INET, host, &a->sin_addr);
    return sizeof *a;
}

/* The program's own setsockopt, as an application would do it. */
static void own_option(int fd, const char *spec)
{
    char name[32];
    int val = 0;
    if (sscanf(spec, "%31[^=]=%d", name, &val) != 2)
        return;
    int level = SOL_SOCKET, opt = -1;
    if (!strcmp(name, "keepalive")) opt = SO_KEEPALIVE;
    else if (!strcmp(name, "nodelay")) level = IPPROTO_TCP, opt = TCP_NODELAY;
    else if (!strcmp(name, "keepidle")) level = IPPROTO_TCP, opt = TCP_KEEPIDLE;
    else if (!strcmp(name, "rcvbuf")) opt = SO_RCVBUF;
    else if (!strcmp(name, "sndbuf")) opt = SO_SNDBUF;
    int r = setsockopt(fd, level, opt, &val, sizeof val);
    printf("setsockopt.%s=%d errno=%s\n", name, r, ename(r ? errno : 0));
}

static int client(int argc, char **argv)
{
    int v6 = 0, udp = 0, nb = 0, hold = 0, opt;
    const char *data = NULL, *sets[8];
    int nsets = 0;
    while ((opt = getopt(argc, argv, "6uns:w:H:")) != -1) {
        if (opt == '6') v6 = 1;
        else if (opt == 'u') udp = 1;
        else if (opt == 'n') nb = 1;
        else if (opt == 's' && nsets < 8) sets[nsets++] = optarg;
        else if (opt == 'w') data = optarg;
        else if (opt == 'H') hold = atoi(optarg);
    }
    if (optind + 2 > argc)
        return 2;
    struct sockaddr_storage ss;
    socklen_t len = make_addr(&ss, v6, argv[optind], atoi(argv[optind + 1]));
    int fd = socket(v6 ? AF_INET6 : AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | (nb ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) {
        printf("socket=-1 errno=%s\n", ename(errno));
        return 1;
    }
    for (int i = 0; i < nsets; i++)
        own_option(fd, sets[i]);
    long t0 = now_ms();
    errno = 0;
    int r = connect(fd, (struct sockaddr *)&ss, len);
    int e = r ? errno : 0;
    printf("connect=%d errno=%s ms=%ld\n", r, ename(e), now_ms() - t0);
    if (r != 0 && e == EINPROGRESS) {
        struct pollfd p = { fd, POLLOUT, 0 };
        poll(&p, 1, 3000);
        int soe = geti(fd, SOL_SOCKET, SO_ERROR);
        printf("so_error=%s\n", ename(soe));
    }
    for (int i = 0; i < nsets; i++)
        own_option(fd, sets[i]);
    if (data && (r == 0 || e == EINPROGRESS)) {
        ssize_t n = send(fd, data, strlen(data), MSG_NOSIGNAL);
        printf("send=%zd\n", n);
        char buf[256];
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 3000) == 1) {
            n = recv(fd, buf, sizeof buf - 1, 0);
            printf("recv=%zd %.*s\n", n, n > 0 ? (int)n : 0, buf);
        }
    }
    print_opts("client", fd);
    if (hold)
        usleep(hold * 1000);
    close(fd);
    return 0;
}

static int server(int argc, char **argv)
{
    int v6 = 0, udp = 0, count = 1, hold = 0, opt;
    const char *portfile = NULL;
    while ((opt = getopt(argc, argv, "6uc:H:p:")) != -1) {
        if (opt == '6') v6 = 1;
        else if (opt == 'u') udp = 1;
        else if (opt == 'c') count = atoi(optarg);
        else if (opt == 'H') hold = atoi(optarg);
        else if (opt == 'p') portfile = optarg;
    }
    if (optind + 1 > argc)
        return 2;
    struct sockaddr_storage ss;
    socklen_t len = make_addr(&ss, v6, v6 ? "::1" : "127.0.0.1", atoi(argv[optind]));
    int fd = socket(v6 ? AF_INET6 : AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        printf("bind=-1 errno=%s\n", ename(errno));
        return 1;
    }
    getsockname(fd, (struct sockaddr *)&ss, &len);
    int port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (!udp && listen(fd, 16) != 0) {
        printf("listen=-1 errno=%s\n", ename(errno));
        return 1;
    }
    printf("port=%d\n", port);
    print_opts("listener", fd);
    if (portfile) {
        FILE *f = fopen(portfile, "w");
        fprintf(f, "%d\n", port);
        fclose(f);
    }
    for (int i = 0; i < count && !udp; i++) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 5000) != 1) {
            printf("accept=timeout\n");
            break;
        }
        struct sockaddr_storage peer;
        socklen_t pl = sizeof peer;
        int c = accept(fd, (struct sockaddr *)&peer, &pl);
        if (c < 0) {
            printf("accept=-1 errno=%s\n", ename(errno));
            continue;
        }
        printf("accept=ok peerlen=%d\n", (int)pl);
        char buf[256];
        struct pollfd q = { c, POLLIN, 0 };
        if (poll(&q, 1, 2000) == 1) {
            ssize_t n = recv(c, buf, sizeof buf, 0);
            printf("recv=%zd\n", n);
            if (n > 0)
                send(c, buf, n, MSG_NOSIGNAL);
        }
        print_opts("accepted", c);
        if (hold)
            usleep(hold * 1000);
        close(c);
    }
    close(fd);
    return 0;
}

static int unix_pair(const char *path)
{
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    snprintf(un.sun_path, sizeof un.sun_path, "%s", path);
    unlink(path);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    int r = bind(l, (struct sockaddr *)&un, sizeof un);
    printf("bind=%d errno=%s\n", r, ename(r ? errno : 0));
    r = listen(l, 4);
    printf("listen=%d errno=%s\n", r, ename(r ? errno : 0));
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    r = connect(c, (struct sockaddr *)&un, sizeof un);
    printf("connect=%d errno=%s\n", r, ename(r ? errno : 0));
    int a = accept(l, NULL, NULL);
    printf("accept=%s errno=%s\n", a >= 0 ? "ok" : "-1", ename(a < 0 ? errno : 0));
    print_opts("client", c);
    unlink(path);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2)
        return 2;
    const char *cmd = argv[1];
    argv++, argc--;
    if (!strcmp(cmd, "client"))
        return client(argc, argv);
    if (!strcmp(cmd, "server"))
        return server(argc, argv);
    if (!strcmp(cmd, "unix") && argc > 1)
        return unix_pair(argv[1]);
    if (!strcmp(cmd, "socket")) {
        int v6 = argc > 1 && !strcmp(argv[1], "-6");
        int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
        printf("socket=%s errno=%s\n", fd >= 0 ? "ok" : "-1", ename(fd < 0 ? errno : 0));
        if (fd >= 0)
            print_opts("socket", fd);
        return 0;
    }
    if (!strcmp(cmd, "udp") && argc > 2) {
        struct sockaddr_storage ss;
        socklen_t len = make_addr(&ss, 0, argv[1], atoi(argv[2]));
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        ssize_t n = sendto(fd, "ping", 4, 0, (struct sockaddr *)&ss, len);
        printf("sendto=%zd errno=%s\n", n, ename(n < 0 ? errno : 0));
        struct iovec iov = { "pong", 4 };
        struct msghdr m = { .msg_name = &ss, .msg_namelen = len, .msg_iov = &iov, .msg_iovlen = 1 };
        n = sendmsg(fd, &m, 0);
        printf("sendmsg=%zd errno=%s\n", n, ename(n < 0 ? errno : 0));
        int r = connect(fd, (struct sockaddr *)&ss, len);
        printf("connect=%d errno=%s\n", r, ename(r ? errno : 0));
        n = send(fd, "x", 1, 0);
        printf("send=%zd errno=%s\n", n, ename(n < 0 ? errno : 0));
        return 0;
    }
    return 2;
}
