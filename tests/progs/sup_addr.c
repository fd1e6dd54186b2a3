/* sup_addr: the address spellings of one call, for tests/supervise_*.t (a plain program: it
 * knows nothing of sockpolicy). One thing per run, one line of output:
 *   sup_addr KIND SOCKFAM ADDR PORT [len=N] [from=HOST]
 *       KIND tcp (connect), udp (connect, then send() with no address) or sendto (one
 *       datagram with the address); SOCKFAM 4 or 6: the socket's family; ADDR an IPv4 address
 *       (sent as AF_INET), an IPv6 one (AF_INET6), or unspec:IPV4 (AF_UNSPEC with that
 *       address); len=N passes N bytes of the address (24: a sockaddr_in6 without scope id);
 *       from=HOST binds the socket to HOST first. Prints "connect=R errno=E" (tcp),
 *       "connect=R errno=E send=R errno=E" (udp) or "send=R errno=E" (sendto).
 *   sup_addr unix DIR NAME
 *       chdir(DIR), then a stream connect to the relative path NAME: "connect=R errno=E"
 *   sup_addr bind MS
 *       a TCP bind to 127.0.0.1 (port 0), then sleeps MS: "bind=R errno=E waited=W" with W the
 *       bind's time in ms rounded down to 100 ms */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
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

static socklen_t make_addr(const char *host, int port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (!strncmp(host, "unspec:", 7)) {
        inet_pton(AF_INET, host + 7, &in->sin_addr);
        in->sin_family = AF_UNSPEC;
        in->sin_port = htons((uint16_t)port);
        return sizeof *in;
    }
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        return sizeof *in;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        return sizeof *in6;
    }
    fprintf(stderr, "sup_addr: bad address %s\n", host);
    exit(2);
}

static int inet_main(int argc, char **argv)
{
    const char *kind = argv[1];
    int fam = atoi(argv[2]) == 6 ? AF_INET6 : AF_INET;
    struct sockaddr_storage ss;
    socklen_t len = make_addr(argv[3], atoi(argv[4]), &ss);
    const char *from = NULL;
    for (int i = 5; i < argc; i++) {
        if (!strncmp(argv[i], "len=", 4))
            len = (socklen_t)atoi(argv[i] + 4);
        else if (!strncmp(argv[i], "from=", 5))
            from = argv[i] + 5;
    }
    int fd = socket(fam, (strcmp(kind, "tcp") ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        printf("socket=-1 errno=%s\n", ename(errno));
        return 1;
    }
    if (from) {
        struct sockaddr_storage b;
        socklen_t blen = make_addr(from, 0, &b);
        if (bind(fd, (struct sockaddr *)&b, blen) != 0) {
            printf("bind=-1 errno=%s\n", ename(errno));
            return 1;
        }
    }
    if (!strcmp(kind, "sendto")) {
        ssize_t r = sendto(fd, "x", 1, 0, (struct sockaddr *)&ss, len);
        printf("send=%d errno=%s\n", r < 0 ? -1 : (int)r, ename(r < 0 ? errno : 0));
        return 0;
    }
    int r = connect(fd, (struct sockaddr *)&ss, len);
    int err = r == 0 ? 0 : errno;
    if (!strcmp(kind, "tcp")) {
        printf("connect=%d errno=%s\n", r, ename(err));
        return 0;
    }
    ssize_t s = r == 0 ? send(fd, "x", 1, 0) : -1;
    printf("connect=%d errno=%s send=%d errno=%s\n", r, ename(err), s < 0 ? -1 : (int)s,
           ename(r != 0 ? 0 : s < 0 ? errno : 0));
    return 0;
}

static int unix_main(char **argv)
{
    if (chdir(argv[2]) != 0) {
        printf("chdir=-1 errno=%s\n", ename(errno));
        return 1;
    }
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    snprintf(un.sun_path, sizeof un.sun_path, "%s", argv[3]);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int r = connect(fd, (struct sockaddr *)&un, sizeof un);
    printf("connect=%d errno=%s\n", r, ename(r == 0 ? 0 : errno));
    return 0;
}

static int bind_main(char **argv)
{
    struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct timespec a, b;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    clock_gettime(CLOCK_MONOTONIC, &a);
    int r = bind(fd, (struct sockaddr *)&in, sizeof in);
    int err = r == 0 ? 0 : errno;
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    printf("bind=%d errno=%s waited=%ld\n", r, ename(err), ms / 100 * 100);
    usleep((useconds_t)atoi(argv[2]) * 1000u);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 5 && (!strcmp(argv[1], "tcp") || !strcmp(argv[1], "udp") || !strcmp(argv[1], "sendto")))
        return inet_main(argc, argv);
    if (argc >= 4 && !strcmp(argv[1], "unix"))
        return unix_main(argv);
    if (argc >= 3 && !strcmp(argv[1], "bind"))
        return bind_main(argv);
    fprintf(stderr, "usage: see tests/progs/sup_addr.c\n");
    return 2;
}
