/* shim/connect.c: connect(), through bio_connect_sa with the flags the rule forces, the
 * program's own blocking mode, and an optional bound on how long a blocking connect waits. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <time.h>

#include "apply.h"
#include "bio.h"
#include "fdtab.h"
#include "hooks.h"
#include "log.h"
#include "state.h"

static uint32_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)(ts.tv_sec * 1000 + ts.tv_nsec / 1000000) | 1; /* never 0: 0 means none */
}

/* Waits for a non-blocking connect in progress, at most ms. Returns 0 when connected, or -1
 * with errno (the connect's error, or ETIMEDOUT after aborting the attempt). */
static int wait_connected(int fd, uint32_t ms)
{
    uint32_t start = now_ms();
    for (;;) {
        uint32_t spent = now_ms() - start;
        if (spent >= ms)
            break;
        struct pollfd pfd = { fd, POLLOUT, 0 };
        int n = poll(&pfd, 1, (int)(ms - spent));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        int err = bio_sock_error(fd);
        if (err) {
            errno = err;
            return -1;
        }
        return 0;
    }
    /* Abort the attempt so the socket does not connect later behind the program's back. */
    struct sockaddr unspec = { .sa_family = AF_UNSPEC };
    shim_real.connect(fd, &unspec, sizeof unspec);
    errno = ETIMEDOUT;
    return -1;
}

static void log_outcome(int fd, const struct sockaddr *sa, socklen_t len, int r, int err,
                        uint32_t start, const struct sp_rule *rule)
{
    char ab[160], eb[24];
    if (r == 0)
        shim_log(SP_LOG_ALL, "connect fd=%d %s: connected in %u ms (%s:%u)", fd,
                 shim_fmt_addr(ab, sizeof ab, sa, len), now_ms() - start, rule->file ? rule->file : "?",
                 rule->line);
    else if (!bio_sock_non_fatal_error(err) || err == ETIMEDOUT)
        shim_log(SP_LOG_FAILURES, "connect fd=%d %s: failed: %s after %u ms (%s:%u)", fd,
                 shim_fmt_addr(ab, sizeof ab, sa, len), shim_errname(err, eb, sizeof eb),
                 now_ms() - start, rule->file ? rule->file : "?", rule->line);
}

/* Remembers an attempt still in progress, so that getsockopt(SO_ERROR) can log its end. */
static void note_in_progress(int fd, const struct sockaddr *sa, socklen_t len, int family, int type,
                             uint32_t start)
{
    struct shim_fd *e = shim_fd_valid(fd);
    if (!e)
        e = shim_fd_claim(fd, family, type);
    if (e) {
        e->connect_ms = start;
        e->logged = 0;
        bio_addr_from_sockaddr(&e->peer, sa, len);
    }
}

static int routed_connect(int fd, const struct sockaddr *sa, socklen_t len, int family, int type,
                          const struct sp_rule *rule)
{
    int fl = shim_real.fcntl(fd, F_GETFL);
    if (fl < 0)
        return shim_real.connect(fd, sa, len);
    int nonblock = (fl & O_NONBLOCK) || rule->nonblock;
    int bounded = rule->connect_timeout_ms && !nonblock && type == SOCK_STREAM;
    uint32_t which = SHIM_OPTS_ALL & ~SHIM_OPTS_LISTEN_AFTER;
    if (rule->action != SP_ACT_SET)
        which = 0;
    int flags = shim_bio_flags(rule, family, type, &which,
                               BIO_SOCK_KEEPALIVE | BIO_SOCK_NODELAY | BIO_SOCK_TFO);
    if (nonblock || bounded)
        flags |= BIO_SOCK_NONBLOCK;
    shim_apply_opts(fd, rule, which, SP_OP_CONNECT);
    uint32_t start = now_ms();
    int r = 0;
    for (int tries = 0; tries < 4; tries++) {
        r = bio_connect_sa(fd, sa, len, flags);
        if (r == 1 || !shim_bio_option_failed(fd, &flags, SP_OP_CONNECT))
            break;
    }
    bio_err_clear();
    r = r == 1 ? 0 : -1;
    if (r != 0 && bounded && errno == EINPROGRESS)
        r = wait_connected(fd, rule->connect_timeout_ms);
    int err = errno;
    if (bounded) {
        int now = shim_real.fcntl(fd, F_GETFL); /* back to the program's blocking mode */
        if (now >= 0 && (now & O_NONBLOCK))
            shim_real.fcntl(fd, F_SETFL, now & ~O_NONBLOCK);
    }
    if (r != 0 && err == EINPROGRESS)
        note_in_progress(fd, sa, len, family, type, start);
    log_outcome(fd, sa, len, r, err, start, rule);
    if (rule->action == SP_ACT_SET)
        shim_pin(fd, rule, family, type);
    errno = err;
    return r;
}

static int __attribute__((noinline)) connect_ruled(int fd, const struct sockaddr *sa, socklen_t len)
{
    struct sp_policy *p = shim_policy_for(SP_OP_CONNECT);
    if (!p)
        return shim_real.connect(fd, sa, len);
    int family, type;
    if (!sa || len < sizeof(sa_family_t) || shim_sock_kind(fd, &family, &type) != 0)
        return shim_real.connect(fd, sa, len);
    struct shim_decision d = shim_decide(p, SP_OP_CONNECT, family, type, sa, len);
    if (shim_gate(&d, SP_OP_CONNECT, fd, sa, len) != 0)
        return -1;
    if (!d.rule || (d.action != SP_ACT_SET && !d.rule->connect_timeout_ms))
        return shim_real.connect(fd, sa, len);
    int saved = errno;
    int r = routed_connect(fd, sa, len, family, type, d.rule);
    if (r == 0)
        errno = saved; /* success leaves the caller's errno alone */
    return r;
}

int shim_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    if (__builtin_expect(shim_passthrough(), 1))
        return shim_real.connect(fd, sa, len);
    return connect_ruled(fd, sa, len);
}

SHIM_EXPORT int connect(int fd, __CONST_SOCKADDR_ARG sa, socklen_t len)
{
    return shim_connect(fd, SHIM_SA(sa), len);
}
