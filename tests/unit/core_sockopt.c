/* tests/unit/core_sockopt.c: the policy's extra options (core/sockopt.h): each one set and read
 * back from the socket, skipped where it does not apply, refusals reported with errno, errno
 * preserved, the fixed names. */
#include "core_helpers.h"

#include "sockopt.h"
#include "sysops.h"

static const char *const names[BIO_OPT_COUNT] = {
    "keepalive", "keepalive-idle", "keepalive-interval", "keepalive-count", "nodelay",
    "user-timeout", "syn-count", "tfo", "tfo-queue", "reuseaddr", "reuseport", "v6only",
    "mark", "tos", "rcvbuf", "sndbuf", "linger", "congestion", "bind-device"};

static struct bio_optset full_set(void)
{
    struct bio_optset s;

    memset(&s, 0, sizeof s);
    s.val[BIO_OPT_KEEPALIVE] = 1;
    s.val[BIO_OPT_KEEPIDLE] = 31;
    s.val[BIO_OPT_KEEPINTVL] = 7;
    s.val[BIO_OPT_KEEPCNT] = 4;
    s.val[BIO_OPT_NODELAY] = 1;
    s.val[BIO_OPT_USER_TIMEOUT] = 12000;
    s.val[BIO_OPT_SYNCNT] = 3;
    s.val[BIO_OPT_TFO_CONNECT] = 1;
    s.val[BIO_OPT_TFO_QLEN] = 17;
    s.val[BIO_OPT_REUSEADDR] = 1;
    s.val[BIO_OPT_REUSEPORT] = 1;
    s.val[BIO_OPT_V6ONLY] = 1;
    s.val[BIO_OPT_MARK] = 0x2a;
    s.val[BIO_OPT_TOS] = 0x20;
    s.val[BIO_OPT_RCVBUF] = 32768;
    s.val[BIO_OPT_SNDBUF] = 32768;
    s.val[BIO_OPT_LINGER] = 5;
    strcpy(s.congestion, "reno");
    strcpy(s.device, "lo");
    s.mask = (1U << BIO_OPT_COUNT) - 1;
    return s;
}

/* The value the kernel reports for what was set (buffers are doubled, strings match = 0). */
static int expected(enum bio_opt o, const struct bio_optset *s)
{
    if (o == BIO_OPT_RCVBUF || o == BIO_OPT_SNDBUF)
        return 2 * s->val[o];
    if (o == BIO_OPT_CONGESTION || o == BIO_OPT_BINDTODEVICE)
        return 0;
    return s->val[o];
}

static void check_socket(const char *what, int family, int type)
{
    struct bio_optset s = full_set();
    struct bio_opt_report rep;
    int fd = socket(family, type, 0), r, o, v, consistent = 1, readback = 1;

    if (fd < 0) {
        skip("%s: no socket", what);
        return;
    }
    errno = 4321;
    r = bio_opt_apply(fd, &s, ~0U, &rep);
    is_int(errno, 4321, "%s: errno preserved", what);
    for (o = 0; o < BIO_OPT_COUNT; o++) {
        uint32_t bit = BIO_OPT_BIT(o);
        int n = !!(rep.applied & bit) + !!(rep.skipped & bit) + !!(rep.failed & bit);

        if (n != 1) {
            diag("%s: %s reported %d times", what, names[o], n);
            consistent = 0;
        }
        if (!!(rep.skipped & bit) == bio_opt_applies(o, family, type)) {
            diag("%s: %s skipped disagrees with bio_opt_applies", what, names[o]);
            consistent = 0;
        }
        if (rep.failed & bit) {
            /* Only SO_MARK may be refused here (no CAP_NET_ADMIN); say so. */
            diag("%s: %s refused: %s", what, names[o], bio_errno_name(rep.err[o]));
            if (o != BIO_OPT_MARK || rep.err[o] != EPERM)
                consistent = 0;
        }
        if (rep.applied & bit) {
            if (bio_opt_read(fd, o, &s, &v) != 0 || v != expected(o, &s)) {
                diag("%s: %s reads back %d, want %d", what, names[o], v, expected(o, &s));
                readback = 0;
            }
        }
    }
    is_int(r, __builtin_popcount(rep.failed), "%s: return counts the failures", what);
    ok(consistent, "%s: each option applied, skipped or refused exactly once", what);
    ok(readback, "%s: every applied option reads back from the socket", what);
    close(fd);
}

static int fail_mark(int fd, int level, int name, const void *val, socklen_t len)
{
    if (level == SOL_SOCKET && name == SO_MARK) {
        errno = EPERM;
        return -1;
    }
    return setsockopt(fd, level, name, val, len);
}

int main(void)
{
    struct bio_optset s = full_set();
    struct bio_opt_report rep;
    int fd, v, o, all;

    for (o = 0, all = 1; o < BIO_OPT_COUNT; o++)
        all &= bio_opt_name(o) && strcmp(bio_opt_name(o), names[o]) == 0;
    ok(all, "bio_opt_name spells every option as the policy does");
    ok(bio_opt_name(BIO_OPT_COUNT) == NULL, "bio_opt_name out of range: NULL");

    ok(bio_opt_applies(BIO_OPT_NODELAY, AF_INET, SOCK_STREAM) &&
           bio_opt_applies(BIO_OPT_NODELAY, AF_INET6, SOCK_STREAM),
       "TCP options apply to TCP");
    ok(!bio_opt_applies(BIO_OPT_NODELAY, AF_INET, SOCK_DGRAM) &&
           !bio_opt_applies(BIO_OPT_KEEPIDLE, AF_UNIX, SOCK_STREAM) &&
           !bio_opt_applies(BIO_OPT_CONGESTION, AF_INET6, SOCK_DGRAM),
       "TCP options do not apply to UDP or AF_UNIX");
    ok(!bio_opt_applies(BIO_OPT_TOS, AF_UNIX, SOCK_STREAM) &&
           bio_opt_applies(BIO_OPT_TOS, AF_INET6, SOCK_DGRAM),
       "tos: not on AF_UNIX, yes on AF_INET6 UDP");
    ok(!bio_opt_applies(BIO_OPT_V6ONLY, AF_INET, SOCK_STREAM) &&
           bio_opt_applies(BIO_OPT_V6ONLY, AF_INET6, SOCK_DGRAM),
       "v6only only on AF_INET6");
    ok(bio_opt_applies(BIO_OPT_RCVBUF, AF_UNIX, SOCK_DGRAM), "rcvbuf applies everywhere");

    check_socket("TCP/IPv4", AF_INET, SOCK_STREAM);
    if (ipv6_works())
        check_socket("TCP/IPv6", AF_INET6, SOCK_STREAM);
    else
        skip("no IPv6");
    check_socket("UDP/IPv4", AF_INET, SOCK_DGRAM);
    check_socket("AF_UNIX stream", AF_UNIX, SOCK_STREAM);

    /* Skips reported by name on UDP. */
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    bio_opt_apply(fd, &s, BIO_OPT_BIT(BIO_OPT_NODELAY) | BIO_OPT_BIT(BIO_OPT_V6ONLY) |
                              BIO_OPT_BIT(BIO_OPT_TOS), &rep);
    is_int(rep.skipped, BIO_OPT_BIT(BIO_OPT_NODELAY) | BIO_OPT_BIT(BIO_OPT_V6ONLY),
           "UDP/IPv4: nodelay and v6only skipped");
    is_int(rep.applied, BIO_OPT_BIT(BIO_OPT_TOS), "UDP/IPv4: tos applied");
    is_int(getint(fd, IPPROTO_IP, IP_TOS), 0x20, "IP_TOS reads back");
    close(fd);

    /* A refusal does not stop the rest; errno stays; the report names it. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    strcpy(s.congestion, "nosuch-cc");
    s.val[BIO_OPT_LINGER] = -1;
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &(struct linger){1, 9}, sizeof(struct linger));
    errno = 99;
    is_int(bio_opt_apply(fd, &s,
                         BIO_OPT_BIT(BIO_OPT_CONGESTION) | BIO_OPT_BIT(BIO_OPT_KEEPIDLE) |
                             BIO_OPT_BIT(BIO_OPT_LINGER),
                         &rep),
           1, "bogus congestion: one failure");
    is_int(errno, 99, "errno preserved past a refusal");
    is_int(rep.failed, BIO_OPT_BIT(BIO_OPT_CONGESTION), "congestion reported failed");
    is_int(rep.err[BIO_OPT_CONGESTION], ENOENT, "congestion refused with ENOENT");
    is_int(getint(fd, IPPROTO_TCP, TCP_KEEPIDLE), 31, "options before and after still set");
    bio_opt_read(fd, BIO_OPT_LINGER, &s, &v);
    is_int(v, -1, "linger -1 turns SO_LINGER off");
    bio_opt_read(fd, BIO_OPT_CONGESTION, &s, &v);
    is_int(v, 1, "bio_opt_read: congestion does not match the refused name");
    is_int(bio_opt_apply(fd, &s, 0, &rep), 0, "empty which: nothing to do");
    is_int(rep.applied | rep.skipped | rep.failed, 0, "empty which: empty report");
    close(fd);

    /* SO_MARK refused (as without CAP_NET_ADMIN), through a fake setsockopt. */
    {
        struct bio_sysops ops = *bio_sysops();

        ops.setsockopt = fail_mark;
        bio_set_sysops(&ops);
        fd = socket(AF_INET, SOCK_STREAM, 0);
        s = full_set();
        is_int(bio_opt_apply(fd, &s, BIO_OPT_BIT(BIO_OPT_MARK) | BIO_OPT_BIT(BIO_OPT_NODELAY), NULL),
               1, "mark refused: one failure (rep may be NULL)");
        bio_opt_apply(fd, &s, BIO_OPT_BIT(BIO_OPT_MARK), &rep);
        is_int(rep.err[BIO_OPT_MARK], EPERM, "mark refused: EPERM reported");
        is_int(getint(fd, IPPROTO_TCP, TCP_NODELAY), 1, "nodelay set despite the mark refusal");
        bio_set_sysops(NULL);
        close(fd);
    }

    /* Unreadable socket: -1 with errno. */
    fd = dup(0);
    close(fd);
    errno = 0;
    is_int(bio_opt_apply(fd, &s, ~0U, &rep), -1, "closed fd: -1");
    is_int(errno, EBADF, "closed fd: EBADF");
    is_int(bio_opt_read(fd, BIO_OPT_NODELAY, &s, &v), -1, "bio_opt_read(closed fd): -1");
    return done_testing();
}
