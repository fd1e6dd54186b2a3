/* tests/progs/shape_efault.c: socket calls with pointers the kernel refuses (EFAULT), for
 * tests/shim_efault.t. Each case runs in a child of its own, so a crash is seen as the signal
 * that ended it: one line per case, "NAME r=N errno=NAME" or "NAME signal=N". Knows nothing of
 * sockpolicy.
 *   shape_efault PORT      (PORT: a TCP listener on 127.0.0.1 the accept cases connect to) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif

static const char *ename(int e)
{
    const char *n = e ? strerrorname_np(e) : "0";
    return n ? n : "?";
}

static int port;
static char *bad;   /* a page that cannot be read (PROT_NONE: never reused by another mmap) */
static char *edge;  /* the last 8 bytes of a readable page, followed by that one */

static struct sockaddr_in lo(int p)
{
    struct sockaddr_in s = { .sin_family = AF_INET, .sin_port = htons((unsigned short)p) };
    s.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return s;
}

/* A listener with one connection waiting in its queue. */
static int pending_listener(void)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in s = lo(0);
    socklen_t sl = sizeof s;
    if (bind(l, (struct sockaddr *)&s, sizeof s) != 0 || listen(l, 4) != 0 ||
        getsockname(l, (struct sockaddr *)&s, &sl) != 0)
        exit(3);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&s, sizeof s) != 0)
        exit(3);
    return l;
}

static long run(const char *name)
{
    static struct iovec iov = { "x", 1 };
    if (!strcmp(name, "connect"))
        return connect(socket(AF_INET, SOCK_STREAM, 0), (struct sockaddr *)bad, 16);
    if (!strcmp(name, "connect-edge")) /* 8 readable bytes, then a fault */
        return connect(socket(AF_INET, SOCK_STREAM, 0), (struct sockaddr *)edge, 16);
    if (!strcmp(name, "connect6"))
        return connect(socket(AF_INET6, SOCK_STREAM, 0), (struct sockaddr *)bad, 28);
    if (!strcmp(name, "connect-udp"))
        return connect(socket(AF_INET, SOCK_DGRAM, 0), (struct sockaddr *)bad, 16);
    if (!strcmp(name, "bind"))
        return bind(socket(AF_INET, SOCK_STREAM, 0), (struct sockaddr *)bad, 16);
    if (!strcmp(name, "sendto-udp"))
        return sendto(socket(AF_INET, SOCK_DGRAM, 0), "x", 1, 0, (struct sockaddr *)bad, 16);
    if (!strcmp(name, "sendto-tfo"))
        return sendto(socket(AF_INET, SOCK_STREAM, 0), "x", 1, MSG_FASTOPEN,
                      (struct sockaddr *)bad, 16);
    if (!strcmp(name, "sendmsg-msghdr"))
        return sendmsg(socket(AF_INET, SOCK_DGRAM, 0), (struct msghdr *)bad, 0);
    if (!strcmp(name, "sendmsg-name")) {
        struct msghdr m = { .msg_name = bad, .msg_namelen = 16, .msg_iov = &iov, .msg_iovlen = 1 };
        return sendmsg(socket(AF_INET, SOCK_DGRAM, 0), &m, 0);
    }
    if (!strcmp(name, "sendmmsg-vec"))
        return sendmmsg(socket(AF_INET, SOCK_DGRAM, 0), (struct mmsghdr *)bad, 2, 0);
    if (!strcmp(name, "sendmmsg-name")) {
        struct mmsghdr v = { .msg_hdr = { .msg_name = bad, .msg_namelen = 16, .msg_iov = &iov,
                                          .msg_iovlen = 1 } };
        return sendmmsg(socket(AF_INET, SOCK_DGRAM, 0), &v, 1, 0);
    }
    if (!strcmp(name, "sendmmsg-vec2")) { /* the first entry readable, the second not: 1 sent */
        static struct sockaddr_in to;
        to = lo(port);
        struct mmsghdr *v = (struct mmsghdr *)(bad - sizeof *v);
        memset(v, 0, sizeof *v);
        v->msg_hdr.msg_name = &to;
        v->msg_hdr.msg_namelen = sizeof to;
        v->msg_hdr.msg_iov = &iov;
        v->msg_hdr.msg_iovlen = 1;
        return sendmmsg(socket(AF_INET, SOCK_DGRAM, 0), v, 2, 0);
    }
    if (!strcmp(name, "accept-addr")) {
        socklen_t len = 16;
        return accept(pending_listener(), (struct sockaddr *)bad, &len);
    }
    if (!strcmp(name, "accept-len")) {
        struct sockaddr_in s;
        return accept(pending_listener(), (struct sockaddr *)&s, (socklen_t *)bad);
    }
    if (!strcmp(name, "accept4-addr")) {
        socklen_t len = 16;
        return accept4(pending_listener(), (struct sockaddr *)bad, &len, SOCK_CLOEXEC);
    }
    fprintf(stderr, "unknown case %s\n", name);
    exit(2);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 3)
        return 2;
    port = atoi(argv[1]);
    char *pages = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (pages == MAP_FAILED)
        return 3;
    mprotect(pages + 4096, 4096, PROT_NONE);
    bad = pages + 4096;
    edge = pages + 4096 - 8;
    struct sockaddr_in s = lo(port);
    memcpy(edge, &s, 8);
    for (int i = 2; i < argc; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            alarm(10);
            long r = run(argv[i]);
            printf("%s r=%ld errno=%s\n", argv[i], r, ename(r < 0 ? errno : 0));
            _exit(0);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        if (WIFSIGNALED(st))
            printf("%s signal=%d\n", argv[i], WTERMSIG(st));
    }
    return 0;
}
