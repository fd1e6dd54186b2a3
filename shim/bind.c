/* shim/bind.c: bind(), through bio_bind_sa with the program's own address length. */
#include <errno.h>

#include "addr.h"
#include "apply.h"
#include "bio.h"
#include "hooks.h"
#include "log.h"
#include "state.h"

/* The ruled path (hooks.h). p: what shim_bind read, a policy that decides. */
static int __attribute__((noinline)) bind_ruled(int fd, const struct sockaddr *sa, socklen_t len,
                                                struct sp_policy *p)
{
    p = shim_policy_decided(p, SP_OP_BIND, NULL);
    if (!p)
        return shim_real.bind(fd, sa, len);
    struct shim_addr_call c;
    int go = shim_addr_decide(&c, p, SP_OP_BIND, fd, sa, len);
    if (go != 0)
        return go < 0 ? -1 : shim_real.bind(fd, sa, len);
    sa = (const struct sockaddr *)&c.a.raw;
    int saved = errno;
    if (c.d.action != SP_ACT_SET || !c.d.rule) {
        if (shim_log_level == SP_LOG_OFF)
            return shim_real.bind(fd, sa, len);
        uint64_t t0 = sp_diag_now_ns();
        int r = shim_real.bind(fd, sa, len);
        int err = errno;
        shim_log_call(SP_OP_BIND, fd, c.family, c.type, sa, len, 0, c.d.rule, r ? err : 0,
                      t0, 0);
        errno = r == 0 ? saved : err;
        return r;
    }
    uint64_t t0 = shim_log_level != SP_LOG_OFF ? sp_diag_now_ns() : 0;
    uint32_t which = SHIM_OPTS_ALL & ~SHIM_OPTS_LISTEN_AFTER;
    int flags = shim_bio_flags(c.d.rule, c.family, c.type, &which, BIO_SOCK_REUSEADDR);
    shim_apply_opts(fd, c.d.rule, which, SP_OP_BIND);
    int r = 0;
    for (int tries = 0; tries < 4; tries++) {
        r = bio_bind_sa(fd, sa, len, flags);
        if (r == 1 || !shim_bio_option_failed(fd, &flags, SP_OP_BIND))
            break;
    }
    bio_err_clear();
    int err = errno;
    if (r == 1)
        shim_pin(fd, c.d.rule, c.family, c.type);
    if (shim_log_level != SP_LOG_OFF) {
        if (flags & BIO_SOCK_REUSEADDR)
            shim_log_opt_result(fd, SP_OP_BIND, BIO_OPT_REUSEADDR, 0);
        shim_log_call(SP_OP_BIND, fd, c.family, c.type, sa, len, 0, c.d.rule, r == 1 ? 0 : err,
                      t0, 0);
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
    if (!shim_undecided(p))
        return bind_ruled(fd, sa, len, p);
    if (p == SHIM_WATCH)
        return bind_watch(fd, sa, len);
    return shim_real.bind(fd, sa, len); /* SHIM_IDLE */
}

SHIM_EXPORT int bind(int fd, __CONST_SOCKADDR_ARG sa, socklen_t len)
{
    return shim_bind(fd, SHIM_SA(sa), len);
}
