/* tests/progs/shape_call.c: one socket call, with the address spelled exactly as asked (the
 * family field, the bytes, the length), for tests/shim_shapes.t. Knows nothing of sockpolicy.
 *
 *   shape_call OP SOCKFAM TYPE ADDRFAM ADDR PORT LEN [OKPORT]
 *     OP       connect | bind | sendto | sendmsg | tfo (sendto with MSG_FASTOPEN) |
 *              connsend (connect, then send) | mmsg (sendmmsg of 4 datagrams: the 3rd to
 *              ADDR, the others to the socket family's loopback at OKPORT)
 *     SOCKFAM  inet | inet6 | unix;  TYPE stream | dgram
 *     ADDRFAM  inet | inet6 | unspec | unix | NUMBER (the sa_family value written)
 *     ADDR     an IPv4 or IPv6 address (written where that family keeps it), or a unix path
 *     LEN      the length passed, or "full" (the size of the address family's struct)
 * Prints "r=N errno=NAME" (mmsg also "len=a,b,c,d"). With -c DIR it chdirs to DIR first;
 * with -b ADDR it binds the socket to ADDR (port 0) before the call. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif

static const char *ename(int e)
{
    const char *n = e ? strerrorname_np(e) : "0";
    return n ? n : "?";
}

/* The address bytes, in a buffer bigger than any length a test passes. */
static socklen_t build(unsigned char *buf, const char *fam, const char *addr, int port,
                       const char *lenarg)
{
    memset(buf, 0, 256);
    int f = !strcmp(fam, "inet") ? AF_INET : !strcmp(fam, "inet6") ? AF_INET6
            : !strcmp(fam, "unspec") ? AF_UNSPEC : !strcmp(fam, "unix") ? AF_UNIX : atoi(fam);
    socklen_t full = sizeof(struct sockaddr_in);
    struct in6_addr a6;
    struct in_addr a4;
    if (strchr(addr, '/') || !strcmp(fam, "unix")) {
        struct sockaddr_un *un = (void *)buf;
        strncpy(un->sun_path, addr, sizeof un->sun_path - 1);
        full = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(addr) + 1);
    } else if (inet_pton(AF_INET6, addr, &a6) == 1) {
        struct sockaddr_in6 *s6 = (void *)buf;
        s6->sin6_port = htons((unsigned short)port);
        s6->sin6_addr = a6;
        full = sizeof *s6;
    } else if (inet_pton(AF_INET, addr, &a4) == 1) {
        struct sockaddr_in *s4 = (void *)buf;
        s4->sin_port = htons((unsigned short)port);
        s4->sin_addr = a4;
    }
    ((struct sockaddr *)(void *)buf)->sa_family = (sa_family_t)f;
    return strcmp(lenarg, "full") ? (socklen_t)atoi(lenarg) : full;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *bindto = NULL;
    for (;;) {
        if (argc > 2 && !strcmp(argv[1], "-c")) {
            if (chdir(argv[2]) != 0)
                return 2;
        } else if (argc > 2 && !strcmp(argv[1], "-b")) {
            bindto = argv[2];
        } else {
            break;
        }
        argv += 2, argc -= 2;
    }
    if (argc < 8)
        return 2;
    const char *op = argv[1];
    int dom = !strcmp(argv[2], "inet") ? AF_INET : !strcmp(argv[2], "inet6") ? AF_INET6 : AF_UNIX;
    int type = !strcmp(argv[3], "stream") ? SOCK_STREAM : SOCK_DGRAM;
    unsigned char buf[256] __attribute__((aligned(8)));
    socklen_t len = build(buf, argv[4], argv[5], atoi(argv[6]), argv[7]);
    const struct sockaddr *sa = (const void *)buf;
    int fd = socket(dom, type, 0);
    if (fd < 0) {
        printf("socket=-1 errno=%s\n", ename(errno));
        return 1;
    }
    if (bindto) {
        unsigned char b[256] __attribute__((aligned(8)));
        socklen_t bl = build(b, dom == AF_INET6 ? "inet6" : "inet", bindto, 0, "full");
        if (bind(fd, (const struct sockaddr *)(const void *)b, bl) != 0) {
            printf("bind=-1 errno=%s\n", ename(errno));
            return 1;
        }
    }
    long r = -1;
    errno = 0;
    if (!strcmp(op, "connect")) {
        r = connect(fd, sa, len);
    } else if (!strcmp(op, "bind")) {
        r = bind(fd, sa, len);
    } else if (!strcmp(op, "sendto")) {
        r = sendto(fd, "shape", 5, 0, sa, len);
    } else if (!strcmp(op, "tfo")) {
        r = sendto(fd, "shape", 5, MSG_FASTOPEN, sa, len);
    } else if (!strcmp(op, "sendmsg")) {
        struct iovec iov = { "shape", 5 };
        struct msghdr m = { .msg_name = buf, .msg_namelen = len, .msg_iov = &iov, .msg_iovlen = 1 };
        r = sendmsg(fd, &m, 0);
    } else if (!strcmp(op, "connsend")) {
        r = connect(fd, sa, len);
        if (r == 0)
            r = send(fd, "shape", 5, 0);
    } else if (!strcmp(op, "mmsg") && argc > 8) {
        unsigned char ok[256] __attribute__((aligned(8)));
        socklen_t oklen = build(ok, argv[2], dom == AF_INET6 ? "::1" : "127.0.0.1", atoi(argv[8]),
                                "full");
        struct iovec iov = { "shape", 5 };
        struct mmsghdr v[4];
        memset(v, 0, sizeof v);
        for (int i = 0; i < 4; i++) {
            v[i].msg_hdr.msg_name = i == 2 ? buf : ok;
            v[i].msg_hdr.msg_namelen = i == 2 ? len : oklen;
            v[i].msg_hdr.msg_iov = &iov;
            v[i].msg_hdr.msg_iovlen = 1;
        }
        r = sendmmsg(fd, v, 4, 0);
        int e = errno;
        printf("len=%u,%u,%u,%u\n", v[0].msg_len, v[1].msg_len, v[2].msg_len, v[3].msg_len);
        errno = e;
    } else {
        return 2;
    }
    printf("r=%ld errno=%s\n", r, ename(r < 0 ? errno : 0));
    return 0;
}
