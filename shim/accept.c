/* shim/accept.c: accept() and accept4(), one code path: accept() is accept4(..., 0).
 * The peer is only known after the kernel accepted, so the rule is matched then: a denied
 * peer is closed and the program sees the rule's errno. */
#include <errno.h>
#include <string.h>

#include "apply.h"
#include "bio.h"
#include "hooks.h"
#include "state.h"

/* Copies the peer out as the kernel does: truncated to the caller's room, true length back. */
static void copy_peer(struct sockaddr *sa, socklen_t *len, const bio_addr *peer, socklen_t plen)
{
    if (!sa || !len)
        return;
    memcpy(sa, peer, *len < plen ? *len : plen);
    *len = plen;
}

static int __attribute__((noinline)) accept_ruled(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    struct sp_policy *p = shim_policy_for(SP_OP_ACCEPT);
    if (!p)
        return flags ? shim_real.accept4(fd, sa, len, flags) : shim_real.accept(fd, sa, len);
    int family, type;
    if ((sa && !len) || shim_sock_kind(fd, &family, &type) != 0)
        return flags ? shim_real.accept4(fd, sa, len, flags) : shim_real.accept(fd, sa, len);
    int saved = errno;
    bio_addr peer;
    socklen_t plen = sizeof peer;
    int opts = (flags & SOCK_NONBLOCK) ? BIO_SOCK_NONBLOCK : 0;
    int nfd = bio_accept_sa(fd, &peer.sa, &plen, opts, flags);
    bio_err_clear();
    if (nfd < 0) {
        return -1; /* errno from accept */
    }
    struct shim_decision d = shim_decide(p, SP_OP_ACCEPT, family, type, &peer.sa, plen);
    if (shim_gate(&d, SP_OP_ACCEPT, nfd, &peer.sa, plen) != 0) {
        int err = errno;
        shim_real.close(nfd);
        errno = err;
        return -1;
    }
    if (d.action == SP_ACT_SET && d.rule) {
        if (d.rule->nonblock)
            shim_set_nonblock(nfd);
        shim_apply_opts(nfd, d.rule,
                        SHIM_OPTS_ALL & ~SHIM_OPTS_LISTEN_AFTER & ~BIO_OPT_BIT(BIO_OPT_TFO_CONNECT),
                        SP_OP_ACCEPT);
        shim_pin(nfd, d.rule, family, type);
    }
    copy_peer(sa, len, &peer, plen);
    errno = saved;
    return nfd;
}

int shim_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    if (__builtin_expect(shim_passthrough(), 1))
        return flags ? shim_real.accept4(fd, sa, len, flags) : shim_real.accept(fd, sa, len);
    return accept_ruled(fd, sa, len, flags);
}

SHIM_EXPORT int accept4(int fd, __SOCKADDR_ARG sa, socklen_t *len, int flags)
{
    return shim_accept4(fd, SHIM_SA(sa), len, flags);
}

SHIM_EXPORT int accept(int fd, __SOCKADDR_ARG sa, socklen_t *len)
{
    return shim_accept4(fd, SHIM_SA(sa), len, 0);
}
