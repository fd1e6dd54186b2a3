/* tests/unit/core_helpers.h: small helpers shared by the core_*.c tests: loopback addresses,
 * socket read-back and error-queue expectations. */
#ifndef SOCKPOLICY_TESTS_CORE_HELPERS_H
#define SOCKPOLICY_TESTS_CORE_HELPERS_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bio.h"
#include "tap.h"

__attribute__((unused)) static bio_addr addr4(const char *ip, unsigned short port)
{
    bio_addr a;
    struct in_addr in;

    bio_addr_clear(&a);
    inet_pton(AF_INET, ip, &in);
    bio_addr_rawmake(&a, AF_INET, &in, sizeof in, htons(port));
    return a;
}

__attribute__((unused)) static bio_addr addr6(const char *ip, unsigned short port)
{
    bio_addr a;
    struct in6_addr in;

    bio_addr_clear(&a);
    inet_pton(AF_INET6, ip, &in);
    bio_addr_rawmake(&a, AF_INET6, &in, sizeof in, htons(port));
    return a;
}

__attribute__((unused)) static bio_addr addr_unix(const char *path)
{
    bio_addr a;

    bio_addr_clear(&a);
    bio_addr_rawmake(&a, AF_UNIX, path, strlen(path), 0);
    return a;
}

/* getsockopt of an int, or -1000 - errno when it fails. */
__attribute__((unused)) static int getint(int fd, int level, int name)
{
    int v = 0;
    socklen_t len = sizeof v;

    if (getsockopt(fd, level, name, &v, &len) != 0)
        return -1000 - errno;
    return v;
}

__attribute__((unused)) static int is_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    return fl < 0 ? -1 : (fl & O_NONBLOCK) != 0;
}

__attribute__((unused)) static void set_nonblock(int fd, int on)
{
    int fl = fcntl(fd, F_GETFL);

    fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

__attribute__((unused)) static int fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

/* The port (host order) the socket is bound to, or -1. */
__attribute__((unused)) static int local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;

    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

/* A TCP port on 127.0.0.1 on which nobody listens (bound then closed). */
__attribute__((unused)) static int dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

    bind(fd, (struct sockaddr *)&sin, sizeof sin);
    port = local_port(fd);
    close(fd);
    return port;
}

/* A listening TCP socket on 127.0.0.1:0 (plain libc). */
__attribute__((unused)) static int tcp_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(fd, 16) != 0)
        return -1;
    *port = local_port(fd);
    return fd;
}

__attribute__((unused)) static int ipv6_works(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0), r;
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};

    if (fd < 0)
        return 0;
    r = bind(fd, (struct sockaddr *)&s6, sizeof s6) == 0;
    close(fd);
    return r;
}

#define SYS(e) (BIO_ERR_SYS_FLAG | (unsigned long)(e))
#define BIOR(r) (BIO_ERR_LIB_BIO | (unsigned long)(r))

/* Pops the whole queue and compares it with want[] (codes) and wdata[] (data strings, NULL
 * for none), n entries. One ok line named name. */
__attribute__((unused)) static int expect_queue(const char *name, int n, const unsigned long *want,
                                                const char *const *wdata)
{
    unsigned long got[20];
    const char *gdata[20];
    int k = 0, i, same = 1;

    while (k < 20 && (got[k] = bio_err_get(&gdata[k])) != 0)
        k++;
    if (k != n)
        same = 0;
    for (i = 0; same && i < n; i++) {
        const char *a = gdata[i], *b = wdata ? wdata[i] : NULL;

        if (got[i] != want[i] || (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0))
            same = 0;
    }
    if (!ok(same, "%s: error queue", name)) {
        for (i = 0; i < k; i++)
            diag("  got  %08lx %s", got[i], gdata[i] ? gdata[i] : "-");
        for (i = 0; i < n; i++)
            diag("  want %08lx %s", want[i], wdata && wdata[i] ? wdata[i] : "-");
    }
    return same;
}

#define QUEUE0(name) expect_queue(name, 0, NULL, NULL)
#define QUEUE1(name, c1, d1)                                                                 \
    expect_queue(name, 1, (const unsigned long[]){c1}, (const char *const[]){d1})
#define QUEUE2(name, c1, d1, c2, d2)                                                         \
    expect_queue(name, 2, (const unsigned long[]){c1, c2}, (const char *const[]){d1, d2})

#endif
