/* shim/listen.c: listen(). The program has already bound, so BIO_listen (which binds) cannot
 * be used: options through the core's setters, the real listen with the program's backlog,
 * then the TFO queue length (which the kernel takes only on a listening socket). */
#include <errno.h>

#include "apply.h"
#include "bio.h"
#include "hooks.h"
#include "log.h"
#include "state.h"

/* The ruled path (hooks.h). p: what shim_listen read, a policy that decides. */
static int __attribute__((noinline)) listen_ruled(int fd, int backlog, struct sp_policy *p)
{
    p = shim_policy_decided(p, SP_OP_LISTEN, NULL);
    if (!p)
        return shim_real.listen(fd, backlog);
    int family, type;
    if (shim_sock_kind(fd, &family, &type) != 0)
        return shim_real.listen(fd, backlog);
    /* The local address, for rules that name a port. */
    bio_addr local;
    socklen_t llen = sizeof local;
    int saved = errno;
    if (shim_real.getsockname(fd, &local.sa, &llen) != 0)
        llen = 0;
    errno = saved;
    struct shim_decision d = shim_decide(p, SP_OP_LISTEN, fd, &family, &type,
                                         llen ? &local.sa : NULL, llen);
    if (shim_gate(&d, SP_OP_LISTEN, fd, llen ? &local.sa : NULL, llen) != 0)
        return -1;
    if (d.action != SP_ACT_SET || !d.rule) {
        if (shim_log_level == SP_LOG_OFF)
            return shim_real.listen(fd, backlog);
        uint64_t t0 = sp_diag_now_ns();
        int r = shim_real.listen(fd, backlog);
        int err = errno;
        shim_log_call(SP_OP_LISTEN, fd, family, type, llen ? &local.sa : NULL, llen, 0, d.rule,
                      r ? err : 0, t0, 0);
        errno = r == 0 ? saved : err;
        return r;
    }
    uint64_t t0 = shim_log_level != SP_LOG_OFF ? sp_diag_now_ns() : 0;
    if (d.rule->nonblock)
        shim_set_nonblock(fd);
    shim_apply_opts(fd, d.rule,
                    SHIM_OPTS_ALL & ~SHIM_OPTS_LISTEN_AFTER & ~BIO_OPT_BIT(BIO_OPT_TFO_CONNECT),
                    SP_OP_LISTEN);
    int r = shim_real.listen(fd, backlog);
    int err = errno;
    if (r == 0) {
        shim_apply_opts(fd, d.rule, SHIM_OPTS_LISTEN_AFTER, SP_OP_LISTEN);
        shim_pin(fd, d.rule, family, type);
    }
    if (shim_log_level != SP_LOG_OFF)
        shim_log_call(SP_OP_LISTEN, fd, family, type, llen ? &local.sa : NULL, llen, 0, d.rule,
                      r ? err : 0, t0, 0);
    errno = r == 0 ? saved : err;
    return r;
}

/* Under SHIM_WATCH: the call, a failure logged. */
static int __attribute__((noinline)) listen_watch(int fd, int backlog)
{
    struct shim_call c;
    c.a = fd;
    int r = shim_real.listen(fd, backlog);
    if (__builtin_expect(r < 0, 0))
        return (int)shim_watch_failed(r, SP_OP_LISTEN, &c);
    return r;
}

int shim_listen(int fd, int backlog)
{
    struct sp_policy *p = shim_published();
    if (__builtin_expect(p == SHIM_NO_POLICY, 1))
        return shim_real.listen(fd, backlog);
    if (!shim_undecided(p))
        return listen_ruled(fd, backlog, p);
    if (p == SHIM_WATCH)
        return listen_watch(fd, backlog);
    return shim_real.listen(fd, backlog); /* SHIM_IDLE */
}

SHIM_EXPORT int listen(int fd, int backlog)
{
    return shim_listen(fd, backlog);
}
