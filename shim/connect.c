/* shim/connect.c: connect(), through bio_connect_sa with the flags the rule forces, the
 * program's own blocking mode, and an optional bound on how long a blocking connect waits. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "apply.h"
#include "bio.h"
#include "fdtab.h"
#include "hooks.h"
#include "log.h"
#include "state.h"

static uint32_t now_ms(void)
{
    return (uint32_t)(sp_diag_now_ns() / 1000000) | 1; /* never 0: 0 means none */
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

/* Whether log_connect has anything to do for a connect that returned r: at the default level
 * a connect that succeeded, with no non-blocking connect pending anywhere, logs nothing. */
static inline int connect_logs(int r)
{
    return shim_log_level != SP_LOG_OFF &&
           (r != 0 || shim_log_every ||
            atomic_load_explicit(&shim_log_npending, memory_order_relaxed));
}

/* connect_logs(0), the test that is rarely true first: one branch in the common case. */
static inline int connect_logs_success(void)
{
    return __builtin_expect(shim_log_every |
                                atomic_load_explicit(&shim_log_npending, memory_order_relaxed), 0) &&
           shim_log_level != SP_LOG_OFF;
}

static void log_connect_do(int fd, const struct sockaddr *sa, socklen_t len, int family,
                           int type, const struct sp_rule *rule, int r, int err, uint64_t t0);

/* Logs what this connect() told the program (t0: its shim_stamp()); errno preserved. A connect on a socket
 * whose earlier non-blocking connect is still pending reports how that one ended (EISCONN:
 * connected). */
static void __attribute__((noinline)) log_connect(int fd, const struct sockaddr *sa,
                                                  socklen_t len, int family, int type,
                                                  const struct sp_rule *rule, int r, int err,
                                                  uint64_t t0)
{
    int saved = errno; /* the callers' success paths rely on it */
    log_connect_do(fd, sa, len, family, type, rule, r, err, t0);
    errno = saved;
}

static void log_connect_do(int fd, const struct sockaddr *sa, socklen_t len, int family,
                           int type, const struct sp_rule *rule, int r, int err, uint64_t t0)
{
    if (r != 0 && (err == EALREADY || err == EINTR) && shim_log_pending(fd))
        return; /* still pending */
    if (shim_log_pending(fd) && (r == 0 || err != EINPROGRESS)) {
        shim_log_connect_end(fd, r == 0 || err == EISCONN ? 0 : err, SP_PHASE_LATER_CONNECT,
                             NULL);
        return;
    }
    uint64_t took = shim_stamp_elapsed_ns(t0);
    if (r != 0 && (err == EINPROGRESS || err == EINTR)) /* EINTR: it goes on, too */
        shim_log_connect_pending(fd, sa, len, family, type, rule, sp_diag_now_ns() - took);
    shim_log_call(SP_OP_CONNECT, fd, family, type, sa, len, 1, rule, r ? err : 0,
                  sp_diag_now_ns() - took,
                  SHIM_LOG_LOCAL | SHIM_LOG_MODE);
}

/* The BIO_SOCK_* flags that reached the socket, in the event's options. */
static void log_flag_opts(int fd, int flags)
{
    static const struct {
        int flag;
        enum bio_opt opt;
    } map[] = {
        { BIO_SOCK_KEEPALIVE, BIO_OPT_KEEPALIVE },
        { BIO_SOCK_NODELAY, BIO_OPT_NODELAY },
        { BIO_SOCK_TFO, BIO_OPT_TFO_CONNECT },
    };
    for (unsigned i = 0; i < sizeof map / sizeof map[0]; i++)
        if (flags & map[i].flag)
            shim_log_opt_result(fd, SP_OP_CONNECT, map[i].opt, 0);
}

/* A rule that only sets options: each one set once (keepalive and nodelay too, which BIO
 * would set again from its flags), then the program's own connect. BIO's FIONBIO, and the
 * F_GETFL it needs to keep the program's blocking mode, buy nothing here. */
static int options_connect(int fd, const struct sockaddr *sa, socklen_t len, int family, int type,
                           const struct sp_rule *rule)
{
    shim_apply_opts_kind(fd, rule, SHIM_OPTS_ALL & ~SHIM_OPTS_LISTEN_AFTER, SP_OP_CONNECT, family,
                         type);
    uint64_t t0 = shim_stamp();
    /* Through the core, with the program's blocking mode left as it is: the options were set
     * above, once each, so no BIO flag repeats them. */
    if (__builtin_expect(bio_connect_sa(fd, sa, len, SP_BIO_KEEP_MODE) == 1, 1)) {
        /* Nothing on this path changes errno (log_connect and shim_pin preserve it): the
         * caller's stays, unread. */
        if (connect_logs_success())
            log_connect(fd, sa, len, family, type, rule, 0, 0, t0);
        shim_pin(fd, rule, family, type);
        return 0;
    }
    int err = errno;
    bio_err_clear();
    if (connect_logs(-1))
        log_connect(fd, sa, len, family, type, rule, -1, err, t0);
    shim_pin(fd, rule, family, type);
    errno = err;
    return -1;
}

/* A connect whose rule forces something: the call goes through the core (bio_connect_sa) with
 * the BIO flags the rule asks for. Success leaves the caller's errno as it was. */
static int connect_core(int fd, const struct sockaddr *sa, socklen_t len, int family, int type,
                          const struct sp_rule *rule)
{
    if (rule->action == SP_ACT_SET && !rule->nonblock && !rule->connect_timeout_ms &&
        !(rule->opts.mask & BIO_OPT_BIT(BIO_OPT_TFO_CONNECT)))
        return options_connect(fd, sa, len, family, type, rule);
    int saved = errno;
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
    uint64_t t0 = shim_stamp();
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
    if (shim_log_level != SP_LOG_OFF) {
        log_flag_opts(fd, flags);
        log_connect(fd, sa, len, family, type, rule, r, err, t0);
    }
    if (rule->action == SP_ACT_SET)
        shim_pin(fd, rule, family, type);
    errno = r == 0 ? saved : err; /* success leaves the caller's errno alone */
    return r;
}

/* A datagram socket's connect() sets the destination its later send()s go to: the send rules
 * meet it here (a `deny send to X` would otherwise stop sendto(X) but not connect(X) + send).
 * p: the policy for sends, or NULL. Returns 0 to go on, -1 with errno to fail the call. */
static int __attribute__((noinline)) connect_send_gate(struct sp_policy *p, int fd,
                                                        const struct sockaddr *q, socklen_t qlen,
                                                        int family, int type)
{
    if (!p)
        return 0;
    struct shim_decision d = shim_decide(p, SP_OP_SEND, fd, &family, &type, q, qlen);
    return shim_gate(&d, SP_OP_SEND, fd, q, qlen);
}

/* Whether the socket on fd is a datagram (or raw) socket, from the kernel: a recorded kind
 * may be another socket's (the number closed and reused behind the shim's back), and here it
 * decides whether send rules apply at all. Only asked when the policy has send rules. */
static int connect_is_datagram(int fd, int *family, int *type)
{
    return shim_sock_kind_sure(fd, family, type) == 0 && (*type == SOCK_DGRAM || *type == SOCK_RAW);
}

/* A connect with no connect rule: only a datagram socket's destination may meet send rules. */
static int __attribute__((noinline)) connect_sends(int fd, const struct sockaddr *sa, socklen_t len)
{
    int family, type;
    struct sp_policy *p = shim_policy_for(SP_OP_SEND);
    if (!p || !sa || !connect_is_datagram(fd, &family, &type))
        return shim_real.connect(fd, sa, len);
    struct shim_addr a;
    const struct sockaddr *q;
    socklen_t qlen;
    int r = shim_addr_take(&a, fd, &family, &type, SP_OP_CONNECT, sa, len, p, &q, &qlen);
    if (r < 0)
        return shim_real.connect(fd, sa, len);
    if (r == 0 && connect_send_gate(p, fd, q, qlen, family, type) != 0)
        return -1;
    return shim_real.connect(fd, (const void *)&a.raw, len);
}

/* p: what shim_connect read, a policy that decides. */
static int __attribute__((noinline)) connect_ruled(int fd, const struct sockaddr *sa, socklen_t len,
                                                   struct sp_policy *p)
{
    uint32_t ops;
    p = shim_policy_decided(p, SP_OP_CONNECT, &ops);
    if (!p) {
        /* Send rules may still decide a datagram socket's destination (one bit test when
         * the policy has none). */
        if (__builtin_expect(!(atomic_load_explicit(&shim_ops, memory_order_relaxed) >> SP_OP_SEND & 1), 1))
            return shim_real.connect(fd, sa, len);
        return connect_sends(fd, sa, len);
    }
    struct shim_addr_call c;
    int go = shim_addr_decide(&c, p, SP_OP_CONNECT, fd, sa, len);
    if (go != 0)
        return go < 0 ? -1 : shim_real.connect(fd, sa, len);
    sa = (const struct sockaddr *)&c.a.raw;
    if (__builtin_expect(ops >> SP_OP_SEND & 1, 0) && c.took == 0 &&
        connect_is_datagram(fd, &c.family, &c.type) &&
        connect_send_gate(shim_policy_for(SP_OP_SEND), fd, c.q, c.qlen, c.family, c.type) != 0)
        return -1;
    if (!c.d.rule || (c.d.action != SP_ACT_SET && !c.d.rule->connect_timeout_ms)) {
        uint64_t t0 = shim_stamp();
        int r = shim_real.connect(fd, sa, len);
        if (__builtin_expect(r == 0 ? !connect_logs_success() : !connect_logs(r), 1))
            return r;
        int err = errno; /* on success still the caller's: libc leaves it alone */
        log_connect(fd, sa, len, c.family, c.type, c.d.rule, r, err, t0);
        errno = err;
        return r;
    }
    return connect_core(fd, sa, len, c.family, c.type, c.d.rule);
}

/* Under SHIM_WATCH: the call, a failure logged. */
static int __attribute__((noinline)) connect_watch(int fd, const struct sockaddr *sa,
                                                   socklen_t len)
{
    struct shim_call c;
    c.a = fd;
    c.sa = sa;
    c.len = len;
    int r = shim_real.connect(fd, sa, len);
    if (__builtin_expect(r < 0, 0))
        return (int)shim_watch_failed(r, SP_OP_CONNECT, &c);
    return r;
}

/* Tail calls only. Nothing decides under SHIM_IDLE and SHIM_WATCH: the call (socket() and
 * accept() look at the reload deadline). */
__attribute__((always_inline)) inline int shim_connect(int fd, const struct sockaddr *sa,
                                                        socklen_t len)
{
    struct sp_policy *p = shim_published();
    if (__builtin_expect(p == SHIM_NO_POLICY, 1))
        return shim_real.connect(fd, sa, len);
    if (!shim_undecided(p))
        return connect_ruled(fd, sa, len, p);
    if (p == SHIM_WATCH)
        return connect_watch(fd, sa, len);
    return shim_real.connect(fd, sa, len);
}

SHIM_EXPORT int connect(int fd, __CONST_SOCKADDR_ARG sa, socklen_t len)
{
    return shim_connect(fd, SHIM_SA(sa), len);
}
