/* torture_fdreuse: a plain program that closes sockets every way Linux offers (close,
 * close_range, closefrom, dup2 over them, and raw syscalls a preloaded library never sees),
 * reuses their numbers for other kinds of descriptor, and checks each call's result and errno
 * against what the kernel says. Also the error cases: EBADF, ENOTSOCK, EINVAL, EADDRINUSE,
 * ECONNREFUSED, EOPNOTSUPP, EAFNOSUPPORT.
 *   torture_fdreuse [CHURN [SECONDS]]       defaults 20000 socket/close cycles, 10 s watchdog
 * Prints one "case: result" line per check (the same with or without a preloaded library, so
 * a wrapper may diff two runs), "info:" lines that may differ, and PASS / FAIL. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "torture.h"

static int failures;



/* Prints "name: ok" or "name: r=R errno=NAME"; checks r and errno against the expectation
 * (want_errno 0: the call must succeed and leave errno as it was). */
static void expect(const char *name, int r, int err, int want_errno)
{
    int good = want_errno ? (r == -1 && err == want_errno) : (r >= 0 && err == 4242);
    if (good)
        printf("%s: %s\n", name, want_errno ? strerrorname_np(err) : "ok");
    else {
        printf("%s: r=%d errno=%s (want %s)\n", name, r, strerrorname_np(err) ? : "?",
               want_errno ? strerrorname_np(want_errno) : "success, errno untouched");
        failures++;
    }
}

#define CHECK(name, call, want)                                                             \
    do {                                                                                    \
        errno = 4242;                                                                       \
        int r_ = (call);                                                                    \
        expect(name, r_, errno, want);                                                      \
    } while (0)

static int sock_type(int fd)
{
    int t = -1;
    socklen_t l = sizeof t;
    return getsockopt(fd, SOL_SOCKET, SO_TYPE, &t, &l) ? -errno : t;
}

static int tcp_listener(struct sockaddr_in *a)
{
    socklen_t len = sizeof *a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    a->sin_family = AF_INET;
    a->sin_port = 0;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)a, len) || listen(fd, 64) ||
        getsockname(fd, (struct sockaddr *)a, &len)) {
        printf("FAIL: listener: %s\n", strerror(errno));
        exit(1);
    }
    return fd;
}

static int udp_bound(struct sockaddr_in *a)
{
    socklen_t len = sizeof *a;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    a->sin_family = AF_INET;
    a->sin_port = 0;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)a, len) || getsockname(fd, (struct sockaddr *)a, &len)) {
        printf("FAIL: udp: %s\n", strerror(errno));
        exit(1);
    }
    return fd;
}

int main(int argc, char **argv)
{
    int churn = argc > 1 ? atoi(argv[1]) : 20000;
    int seconds = argc > 2 ? atoi(argv[2]) : 10;
    struct sockaddr_in la, ua, ra;
    if (churn < 0 || seconds < 1)
        return 2;
    signal(SIGALRM, watchdog_alarm);
    signal(SIGPIPE, SIG_IGN);
    alarm(seconds);
    int fds_before = count_fds();
    int lst = tcp_listener(&la);
    int udp = udp_bound(&ua);
    int refused = socket(AF_INET, SOCK_STREAM, 0); /* bound, not listening */
    ra = la;
    ra.sin_port = 0;
    socklen_t rl = sizeof ra;
    bind(refused, (struct sockaddr *)&ra, rl);
    getsockname(refused, (struct sockaddr *)&ra, &rl);

    /* Plain errors. */
    CHECK("close(-1)", close(-1), EBADF);
    CHECK("close(big)", close(1 << 20), EBADF);
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    CHECK("connect(file)", connect(devnull, (struct sockaddr *)&la, sizeof la), ENOTSOCK);
    CHECK("accept(file)", accept(devnull, NULL, NULL), ENOTSOCK);
    CHECK("listen(file)", listen(devnull, 1), ENOTSOCK);
    CHECK("bind(file)", bind(devnull, (struct sockaddr *)&la, sizeof la), ENOTSOCK);
    int t = socket(AF_INET, SOCK_STREAM, 0);
    CHECK("accept(unlistened)", accept(t, NULL, NULL), EINVAL);
    CHECK("bind(in use)", bind(t, (struct sockaddr *)&la, sizeof la), EADDRINUSE);
    CHECK("connect(short addrlen)", connect(t, (struct sockaddr *)&la, 3), EINVAL);
    CHECK("connect(refused)", connect(t, (struct sockaddr *)&ra, sizeof ra), ECONNREFUSED);
    close(t);
    t = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = la.sin_port,
                               .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    CHECK("connect(v4 socket, v6 addr)", connect(t, (struct sockaddr *)&a6, sizeof a6),
          EAFNOSUPPORT);
    CHECK("accept4(bad flags)", accept4(lst, NULL, NULL, 0x7fff0000), EINVAL);
    CHECK("listen(udp)", listen(udp, 1), EOPNOTSUPP);
    CHECK("socket(bad type)", socket(AF_INET, 12345, 0), EINVAL);
    CHECK("socket(bad family)", socket(9999, SOCK_STREAM, 0), EAFNOSUPPORT);
    CHECK("connect(closed fd)", (close(t), connect(t, (struct sockaddr *)&la, sizeof la)), EBADF);

    /* close_range, then the number comes back as UDP. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    CHECK("connect(tcp)", connect(s, (struct sockaddr *)&la, sizeof la), 0);
    int acc = accept(lst, NULL, NULL);
    CHECK("close_range(one)", close_range(s, s, 0), 0);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    printf("info: udp socket reuses the number: %s\n", u == s ? "yes" : "no");
    CHECK("udp type after close_range", sock_type(u) == SOCK_DGRAM ? 0 : -1, 0);
    CHECK("connect(udp on reused fd)", connect(u, (struct sockaddr *)&ua, sizeof ua), 0);
    CHECK("send(udp on reused fd)", (int)send(u, "x", 1, 0), 0);
    close(u);
    close(acc);

    /* A close the library cannot see: the number is reused by a file, then by a socket. */
    s = socket(AF_INET, SOCK_STREAM, 0);
    listen(s, 4);
    CHECK("raw close", (int)syscall(SYS_close, s), 0);
    int f = open("/dev/null", O_RDONLY);
    printf("info: file reuses the raw-closed number: %s\n", f == s ? "yes" : "no");
    CHECK("accept(file on raw-closed fd)", accept(f, NULL, NULL), ENOTSOCK);
    CHECK("connect(file on raw-closed fd)", connect(f, (struct sockaddr *)&la, sizeof la),
          ENOTSOCK);
    CHECK("close(file on raw-closed fd)", close(f), 0);
    s = socket(AF_INET, SOCK_STREAM, 0);
    CHECK("raw close_range", (int)syscall(SYS_close_range, s, s, 0), 0);
    int sv[2];
    CHECK("socketpair on raw-closed fd", socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    CHECK("unix pair works", (int)write(sv[0], "ab", 2) == 2 && read(sv[1], (char[2]){0}, 2) == 2
                                 ? 0 : -1, 0);
    CHECK("connect(unix pair end, inet addr)", connect(sv[0], (struct sockaddr *)&la, sizeof la),
          EINVAL);
    close(sv[0]);
    close(sv[1]);

    /* dup2 over a TCP listener: the number is now a UDP socket. */
    int l2 = tcp_listener(&(struct sockaddr_in){ 0 });
    int u2 = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK("dup2(udp over listener)", dup2(u2, l2), 0);
    CHECK("listen(udp dup'd over listener)", listen(l2, 1), EOPNOTSUPP);
    CHECK("accept(udp dup'd over listener)", accept(l2, NULL, NULL), EOPNOTSUPP);
    CHECK("connect(udp dup'd over listener)", connect(l2, (struct sockaddr *)&ua, sizeof ua), 0);
    close(l2);
    CHECK("dup'd udp still open", sock_type(u2) == SOCK_DGRAM ? 0 : -1, 0);
    close(u2);
    /* dup3 of a connected TCP socket onto a fresh number, F_DUPFD_CLOEXEC too. */
    s = socket(AF_INET, SOCK_STREAM, 0);
    connect(s, (struct sockaddr *)&la, sizeof la);
    acc = accept(lst, NULL, NULL);
    int d = fcntl(s, F_DUPFD_CLOEXEC, 200);
    CHECK("F_DUPFD_CLOEXEC", d >= 200 ? 0 : -1, 0);
    close(s);
    CHECK("write through the dup", (int)write(d, "z", 1), 0);
    CHECK("read at the peer", (int)read(acc, (char[1]){0}, 1), 0);
    CHECK("connect(dup, connected)", connect(d, (struct sockaddr *)&la, sizeof la), EISCONN);
    close(d);
    close(acc);

    /* close_range with CLOSE_RANGE_CLOEXEC closes nothing. */
    s = socket(AF_INET, SOCK_STREAM, 0);
    CHECK("close_range(CLOEXEC)", close_range(s, s, CLOSE_RANGE_CLOEXEC), 0);
    CHECK("fd still open and cloexec", (fcntl(s, F_GETFD) & FD_CLOEXEC) ? 0 : -1, 0);
    CHECK("connect after CLOEXEC range", connect(s, (struct sockaddr *)&la, sizeof la), 0);
    acc = accept(lst, NULL, NULL);
    close(acc);
    close(s);

    /* Churn: thousands of sockets of alternating kinds on the same few numbers. */
    int wrong = 0, tcp_nodelay = 0, tcp_total = 0;
    for (int i = 0; i < churn; i++) {
        int type = (i % 3 == 0) ? SOCK_DGRAM : SOCK_STREAM;
        int x = socket(AF_INET, type, 0);
        if (x < 0 || sock_type(x) != type) {
            wrong++;
            continue;
        }
        if (type == SOCK_STREAM && i % 7 == 1) {
            int one = 0;
            socklen_t ol = sizeof one;
            if (connect(x, (struct sockaddr *)&la, sizeof la) != 0)
                wrong++;
            int y = accept(lst, NULL, NULL);
            if (y < 0)
                wrong++;
            else
                close(y);
            tcp_total++;
            if (getsockopt(x, IPPROTO_TCP, TCP_NODELAY, &one, &ol) == 0 && one)
                tcp_nodelay++;
            struct linger lg = { 1, 0 };
            setsockopt(x, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        } else if (type == SOCK_DGRAM && connect(x, (struct sockaddr *)&ua, sizeof ua) != 0) {
            wrong++;
        }
        if (i % 5 == 0 ? syscall(SYS_close, x) : i % 5 == 1 ? close_range(x, x, 0) : close(x))
            wrong++;
    }
    CHECK("churn: every socket had its own type and worked", wrong ? -1 : 0, 0);
    printf("info: churn=%d connected=%d with nodelay=%d\n", churn, tcp_total, tcp_nodelay);

    /* closefrom (or close_range when the program inherited a descriptor above ours):
     * everything we opened goes, the count returns to where it was. */
    int lowest = lst, highest = lst, inherited_above = 0;
    int ours[] = { udp, devnull, refused };
    for (unsigned i = 0; i < sizeof ours / sizeof ours[0]; i++) {
        lowest = ours[i] < lowest ? ours[i] : lowest;
        highest = ours[i] > highest ? ours[i] : highest;
    }
    for (int fd = highest + 1; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            inherited_above = 1;
    errno = 4242;
    if (inherited_above)
        close_range(lowest, highest, 0);
    else
        closefrom(lowest);
    int gone = sock_type(lst) == -EBADF && sock_type(udp) == -EBADF;
    errno = 4242;
    CHECK("after closefrom, our sockets are gone", gone ? 0 : -1, 0);
    int fds_after = count_fds();
    printf("info: fds before=%d after=%d\n", fds_before, fds_after);
    CHECK("no descriptor leaked", fds_after == fds_before ? 0 : -1, 0);
    if (failures) {
        printf("FAIL: %d checks failed\n", failures);
        return 1;
    }
    printf("PASS\n");
    return 0;
}
