/* shim/bind.c: bind(), through bio_bind_sa with the program's own address length. */
#include <errno.h>

#include "apply.h"
#include "bio.h"
#include "hooks.h"
#include "state.h"

static int __attribute__((noinline)) bind_ruled(int fd, const struct sockaddr *sa, socklen_t len)
{
    struct sp_policy *p = shim_policy_for(SP_OP_BIND);
    if (!p)
        return shim_real.bind(fd, sa, len);
    int family, type;
    if (!sa || len < sizeof(sa_family_t) || shim_sock_kind(fd, &family, &type) != 0)
        return shim_real.bind(fd, sa, len);
    struct shim_decision d = shim_decide(p, SP_OP_BIND, family, type, sa, len);
    if (shim_gate(&d, SP_OP_BIND, fd, sa, len) != 0)
        return -1;
    if (d.action != SP_ACT_SET || !d.rule)
        return shim_real.bind(fd, sa, len);
    int saved = errno;
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
    if (r == 1)
        shim_pin(fd, d.rule, family, type);
    if (r == 1)
        errno = saved;
    return r == 1 ? 0 : -1;
}

int shim_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
    if (__builtin_expect(shim_passthrough(), 1))
        return shim_real.bind(fd, sa, len);
    return bind_ruled(fd, sa, len);
}

SHIM_EXPORT int bind(int fd, __CONST_SOCKADDR_ARG sa, socklen_t len)
{
    return shim_bind(fd, SHIM_SA(sa), len);
}
