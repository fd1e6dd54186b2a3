/* fd_pin: a plain program that connects to 127.0.0.1:PORT and then tries to undo options on
 * the socket by ways a per-number record of pins misses:
 *   fd_pin WAY PORT
 *   dup        SO_KEEPALIVE 0 through dup() of the socket
 *   dupfd      the same through fcntl(F_DUPFD)
 *   scm        the same through a copy received over SCM_RIGHTS
 *   closed     the same through dup(), after the original number was closed
 *   high       the socket moved to a number above 500,000 (RLIMIT_NOFILE raised at run time,
 *              after the first socket), connected there, SO_KEEPALIVE 0 on it
 *   ifindex    SO_BINDTOIFINDEX 0 on the socket itself (the policy bound it to a device)
 *   plain      SO_KEEPALIVE 0 on the socket itself
 *   churn      20,000 pinned sockets connected and closed first (the shim's record of pins
 *              must drop closed sockets, not fill up), then as dup
 * Prints "keepalive=N device=NAME" read back from the socket afterwards ("device=" when it
 * is bound to none). Exit 0, or 2 when the setup failed. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SO_BINDTOIFINDEX
#define SO_BINDTOIFINDEX 62
#endif

static void die(const char *what)
{
    printf("setup failed: %s: %s\n", what, strerror(errno));
    exit(2);
}

static int pass_fd(int fd)
{
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) != 0)
        die("socketpair");
    char byte = 'x';
    struct iovec iov = { &byte, 1 };
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
                        .msg_controllen = sizeof u.b };
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    if (sendmsg(sp[0], &m, 0) != 1)
        die("sendmsg");
    m.msg_controllen = sizeof u.b;
    if (recvmsg(sp[1], &m, 0) != 1 || !CMSG_FIRSTHDR(&m))
        die("recvmsg");
    int got;
    memcpy(&got, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof got);
    close(sp[0]);
    close(sp[1]);
    return got;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: fd_pin dup|dupfd|scm|closed|high|ifindex|plain PORT\n");
        return 2;
    }
    const char *way = argv[1];
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (!strcmp(way, "churn")) {
        /* Against a listener of our own, each connection accepted at once: no other process
         * has to keep up with 20,000 connections on a loaded machine. */
        struct linger lg = { 1, 0 }; /* reset on close: no TIME_WAIT pile-up */
        struct sockaddr_in own = a;
        socklen_t olen = sizeof own;
        own.sin_port = 0;
        int l = socket(AF_INET, SOCK_STREAM, 0);
        if (l < 0 || bind(l, (struct sockaddr *)&own, sizeof own) != 0 || listen(l, 64) != 0 ||
            getsockname(l, (struct sockaddr *)&own, &olen) != 0)
            die("churn listener");
        for (int i = 0; i < 20000; i++) {
            int c = socket(AF_INET, SOCK_STREAM, 0);
            if (c < 0 || connect(c, (struct sockaddr *)&own, sizeof own) != 0)
                die("churn connect");
            int s = accept(l, NULL, NULL);
            if (s < 0)
                die("churn accept");
            setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            close(c);
            close(s);
        }
        close(l);
        way = "dup";
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket");
    if (!strcmp(way, "high")) {
        struct rlimit rl = { 1 << 20, 1 << 20 };
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            die("setrlimit (root only)");
        int high = 500000 + (int)(getpid() % 1000);
        if (dup2(fd, high) != high)
            die("dup2");
        close(fd);
        fd = high;
    }
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        die("connect");
    int zero = 0, target = fd, r;
    if (!strcmp(way, "dup") || !strcmp(way, "closed"))
        target = dup(fd);
    else if (!strcmp(way, "dupfd"))
        target = fcntl(fd, F_DUPFD, 100);
    else if (!strcmp(way, "scm"))
        target = pass_fd(fd);
    if (target < 0)
        die("copy");
    if (!strcmp(way, "closed")) {
        close(fd);
        fd = target;
    }
    if (!strcmp(way, "ifindex"))
        r = setsockopt(target, SOL_SOCKET, SO_BINDTOIFINDEX, &zero, sizeof zero);
    else
        r = setsockopt(target, SOL_SOCKET, SO_KEEPALIVE, &zero, sizeof zero);
    if (r != 0)
        die("setsockopt");
    int ka = -1;
    socklen_t l = sizeof ka;
    getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &ka, &l);
    char dev[IF_NAMESIZE + 1] = "";
    l = sizeof dev - 1;
    if (getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, &l) != 0)
        l = 0;
    dev[l] = 0;
    printf("keepalive=%d device=%s\n", ka, dev);
    return 0;
}
