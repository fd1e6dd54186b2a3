/* shim/bind.c: bind(), through bio_bind_sa with the program's own address length. */
#include <errno.h>

#include "addr.h"
#include "apply.h"
#include "bio.h"
#include "hooks.h"
#include "log.h"
#include "state.h"

/* The bind's event: the address asked for, and what the program was told. */
static void log_bind(int fd, const struct sockaddr *sa, socklen_t len, int family, int type,
                     const struct sp_rule *rule, int r, int err, uint64_t t0)
{
    if (!shim_log_wants(r ? err : 0))
        return;
    struct sp_event ev;
    sp_event_init(&ev, SP_OP_BIND, fd);
    ev.family = family;
    ev.type = type;
    ev.err = r ? err : 0;
    ev.duration_ns = sp_diag_now_ns() - t0;
    sp_event_set_addr(&ev, 0, sa, len);
    shim_log_event(&ev, rule);
}

static int __attribute__((noinline)) bind_ruled(int fd, const struct sockaddr *sa, socklen_t len)
{
    struct sp_policy *p = shim_policy_for(SP_OP_BIND);
    if (!p)
        return shim_real.bind(fd, sa, len);
    int family, type;
    if (!sa || shim_sock_kind(fd, &family, &type) != 0)
        return shim_real.bind(fd, sa, len);
    /* The rules decide on our own copy, normalised, and the kernel gets the same copy. */
    struct shim_addr a;
    const struct sockaddr *q;
    socklen_t qlen;
    int took = shim_addr_take(&a, fd, &family, &type, SP_OP_BIND, sa, len, p, &q, &qlen);
    if (took < 0)
        return shim_real.bind(fd, sa, len); /* the kernel's EFAULT or EINVAL */
    sa = (const struct sockaddr *)&a.raw;
    /* An address the kernel refuses (or a unix autobind) meets only the rules that name none. */
    struct shim_decision d = shim_decide(p, SP_OP_BIND, fd, &family, &type, q, qlen);
    if (shim_gate(&d, SP_OP_BIND, fd, q ? q : sa, q ? qlen : len) != 0)
        return -1;
    int saved = errno;
    if (d.action != SP_ACT_SET || !d.rule) {
        if (shim_log_level == SP_LOG_OFF)
            return shim_real.bind(fd, sa, len);
        uint64_t t0 = sp_diag_now_ns();
        int r = shim_real.bind(fd, sa, len);
        int err = errno;
        log_bind(fd, sa, len, family, type, d.rule, r, err, t0);
        errno = r == 0 ? saved : err;
        return r;
    }
    uint64_t t0 = shim_log_level != SP_LOG_OFF ? sp_diag_now_ns() : 0;
    uint32_t which = SHIM_OPTS_ALL & ~SHIM_OPTS_LISTEN_AFTER;
    int flags = shim_bio_flags(d.rule, family, type, &which, BIO_SOCK_REUSEADDR);
    shim_apply_opts(fd, d.rule, which, SP_OP_BIND);
    int r = 0;
    for (int tries = 0; tries < 4; tries++) {
        r = bio_bind_sa(fd, sa, len, flags);
        if (r == 1 || !shim_bio_option_failed(fd, &flags, SP_OP_BIND))
            break;
    }
    bio_err_clear();
    int err = errno;
    if (r == 1)
        shim_pin(fd, d.rule, family, type);
    if (shim_log_level != SP_LOG_OFF) {
        if (flags & BIO_SOCK_REUSEADDR)
            shim_log_opt_result(fd, SP_OP_BIND, BIO_OPT_REUSEADDR, 0);
        log_bind(fd, sa, len, family, type, d.rule, r == 1 ? 0 : -1, err, t0);
    }
    errno = r == 1 ? saved : err;
    return r == 1 ? 0 : -1;
}

/* Under SHIM_WATCH: the call, a failure logged. */
static int __attribute__((noinline)) bind_watch(int fd, const struct sockaddr *sa, socklen_t len)
{
    struct shim_call c;
    c.a = fd;
    c.sa = sa;
    c.len = len;
    int r = shim_real.bind(fd, sa, len);
    if (__builtin_expect(r < 0, 0))
        return (int)shim_watch_failed(r, SP_OP_BIND, &c);
    return r;
}

int shim_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
    struct sp_policy *p = shim_published();
    if (__builtin_expect(p == SHIM_NO_POLICY, 1))
        return shim_real.bind(fd, sa, len);
    if (p == SHIM_WATCH)
        return bind_watch(fd, sa, len);
    if (shim_undecided(p)) /* SHIM_IDLE */
        return shim_real.bind(fd, sa, len);
    return bind_ruled(fd, sa, len);
}

SHIM_EXPORT int bind(int fd, __CONST_SOCKADDR_ARG sa, socklen_t len)
{
    return shim_bind(fd, SHIM_SA(sa), len);
}
