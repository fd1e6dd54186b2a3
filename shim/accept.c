/* shim/accept.c: accept() and accept4(), one code path: accept() is accept4(..., 0).
 * The peer is only known after the kernel accepted, so the rule is matched then: a denied
 * peer is closed and the program sees the rule's errno. */
#include <errno.h>
#include <string.h>

#include "apply.h"
#include "bio.h"
#include "fdtab.h"
#include "hooks.h"
#include "log.h"
#include "state.h"

/* The program's call itself: accept() is accept4(..., 0), each to its own libc function (a
 * seccomp filter or an old kernel may allow one and not the other). */
static inline int accept_real(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    return flags ? shim_real.accept4(fd, sa, len, flags) : shim_real.accept(fd, sa, len);
}

/* The accept's event: the new fd with its local address and the peer, or the listening fd
 * and the error. Nothing waiting on a non-blocking socket is an event loop's normal state:
 * logged only at level debug. */
static void log_accept(int fd, int nfd, const bio_addr *peer, socklen_t plen, int family,
                       int type, const struct sp_rule *rule, int err, uint64_t t0)
{
    if (!shim_log_wants(err))
        return;
    if ((err == EAGAIN || err == EWOULDBLOCK || err == EINTR) && shim_log_level < SP_LOG_DEBUG)
        return;
    int saved = errno; /* accept_decided's success path relies on it */
    struct sp_event ev;
    sp_event_init(&ev, SP_OP_ACCEPT, err ? fd : nfd);
    ev.family = family;
    ev.type = type;
    ev.err = err;
    ev.duration_ns = shim_stamp_elapsed_ns(t0);
    bio_addr local;
    socklen_t llen = sizeof local;
    if (shim_real.getsockname(err ? fd : nfd, &local.sa, &llen) == 0)
        sp_event_set_addr(&ev, 0, &local.sa, llen);
    if (!err)
        sp_event_set_addr(&ev, 1, &peer->sa, plen);
    shim_log_event(&ev, rule);
    errno = saved;
}

/* Whether an accept needs the peer's address before its decision: a rule tests it, or the
 * accept will be logged whatever the decision (log all). */
static inline int peer_wanted(const struct sp_policy *p)
{
    return shim_log_wants(0) ||
           shim_op_tests(p, SP_OP_ACCEPT, SP_TESTS_ADDR | SP_TESTS_PORT | SP_TESTS_PATH);
}

/* The accepted socket's peer, into ours (one getpeername). Returns 0, or -1 (errno
 * preserved) when the kernel cannot name it. */
static int peer_of(int nfd, bio_addr *peer, socklen_t *plen)
{
    int saved = errno;
    *plen = sizeof *peer;
    int r = getpeername(nfd, &peer->sa, plen);
    errno = saved;
    return r;
}

/* The decision for a peer when accept rules test the port: the peer's address with the local
 * port it came in on, read from the accepted socket nfd itself (one getsockname; a port kept
 * per listener could be another socket's once the program closes the listener while an
 * accept on it returns and reuses its number). peer keeps its own port for the log and the
 * program. errno preserved. */
static struct shim_decision __attribute__((noinline))
decide_local_port(const struct sp_policy *p, int nfd, int *family, int *type, bio_addr *peer,
                  socklen_t plen)
{
    if (peer->sa.sa_family != AF_INET && peer->sa.sa_family != AF_INET6)
        return shim_decide(p, SP_OP_ACCEPT, nfd, family, type, &peer->sa, plen);
    int saved = errno;
    bio_addr local;
    socklen_t llen = sizeof local;
    uint16_t lp = 0;
    if (shim_real.getsockname(nfd, &local.sa, &llen) == 0 && local.sa.sa_family == peer->sa.sa_family)
        lp = local.s_in.sin_port; /* sin6_port lies at the same offset */
    errno = saved;
    uint16_t pport = peer->s_in.sin_port;
    peer->s_in.sin_port = lp;
    struct shim_decision d = shim_decide(p, SP_OP_ACCEPT, nfd, family, type, &peer->sa, plen);
    peer->s_in.sin_port = pport;
    return d;
}

/* An accept the policy has rules for. */
static int __attribute__((noinline)) accept_decided(struct sp_policy *p, int fd, struct sockaddr *sa,
                                                   socklen_t *len, int flags)
{
    int family, type;
    /* The listener's entry, looked up once: its kind, and whether its accepted sockets are
     * known to inherit the forced options (read before the call: see apply.h). */
    struct shim_fd *l = shim_fd_peek(fd);
    uint32_t k = l ? __atomic_load_n(&l->kind, __ATOMIC_RELAXED) : 0;
    if (sa && !len)
        return accept_real(fd, sa, len, flags);
    if (__builtin_expect(k & 0xffff, 1)) {
        family = SHIM_FD_FAMILY(k);
        type = SHIM_FD_TYPE(k);
    } else if (shim_sock_kind_slow(fd, &family, &type) != 0) {
        return accept_real(fd, sa, len, flags);
    } else {
        l = shim_fd_peek(fd); /* the slow path may have mapped the table */
    }
    /* Nothing on the success path changes errno (every helper called preserves it): the
     * caller's stays, unread. */
    bio_addr peer;
    socklen_t plen = sizeof peer;
    uint64_t t0 = shim_stamp();
    const struct sp_rule *sure = l ? __atomic_load_n(&l->inh_sure, __ATOMIC_ACQUIRE) : NULL;
    /* Through the core: bio_accept_sa keeps the program's accept4 flags (and so its blocking
     * mode) and makes no FIONBIO that would change nothing. A program that asks for the peer
     * gets it from the kernel itself, into its own buffer (a bad pointer is the kernel's to
     * answer: EFAULT, as without the shim); the rules read it back from the socket, into
     * ours, when they need it. */
    int nfd = bio_accept_sa(fd, sa ? sa : &peer.sa, sa ? len : &plen, 0, flags);
    int have_peer = !sa;
    if (nfd >= 0 && sa && peer_wanted(p)) {
        if (peer_of(nfd, &peer, &plen) != 0) {
            /* Gone already (a reset): what the kernel says when it cannot name the peer. */
            shim_real.close(nfd);
            errno = ECONNABORTED;
            nfd = -1;
        }
        have_peer = 1;
    } else if (nfd >= 0 && sa) {
        peer.sa.sa_family = AF_UNSPEC; /* no rule reads it */
        plen = 0;
    }
    if (nfd < 0) {
        int err = errno;
        bio_err_clear();
        if (shim_log_level != SP_LOG_OFF)
            log_accept(fd, -1, NULL, 0, family, type, NULL, err, t0);
        errno = err;
        return -1; /* errno from accept */
    }
    /* The rules see the peer's address with the local port it came in on: a port in an
     * accept rule names the listening port (the peer's is ephemeral). The peer itself, with
     * its port, is what the log and the program get. */
    struct shim_decision d =
        __builtin_expect(shim_op_tests(p, SP_OP_ACCEPT, SP_TESTS_PORT), 0)
            ? decide_local_port(p, nfd, &family, &type, &peer, plen)
            : shim_decide(p, SP_OP_ACCEPT, nfd, &family, &type, &peer.sa, plen);
    if (__builtin_expect(SHIM_FD_KIND(family, type) != k, 0))
        shim_fd_correct(l, k, family, type); /* the listener's entry was stale (see state.h) */
    if (d.action != SP_ACT_PASS && d.action != SP_ACT_SET && !have_peer &&
        peer_of(nfd, &peer, &plen) != 0)
        plen = 0; /* the gate's log line names the peer it can */
    if (shim_gate(&d, SP_OP_ACCEPT, nfd, &peer.sa, plen) != 0) {
        int err = errno;
        shim_real.close(nfd);
        errno = err;
        return -1;
    }
    shim_fd_set_kind(nfd, family, type);
    const struct sp_rule *set = d.action == SP_ACT_SET ? d.rule : NULL;
    if (set && set->nonblock)
        shim_set_nonblock(nfd);
    /* Options an accepted socket inherits are set once, on the listener (see apply.h). */
    shim_accept_opts(l, fd, nfd, set,
                     SHIM_OPTS_ALL & ~SHIM_OPTS_LISTEN_AFTER & ~BIO_OPT_BIT(BIO_OPT_TFO_CONNECT),
                     family, type, sure);
    if (set)
        shim_pin(nfd, set, family, type);
    if (__builtin_expect(shim_log_wants(0), 0)) /* a success is logged only at `log all` */
        log_accept(fd, nfd, &peer, plen, family, type, d.rule, 0, t0);
    return nfd;
}

/* The first call (the policy loads) or a reload deadline passed. */
static int __attribute__((noinline, cold)) accept_cold(int fd, struct sockaddr *sa, socklen_t *len,
                                                       int flags)
{
    struct sp_policy *p = shim_policy_for(SP_OP_ACCEPT); /* loads, or looks for a reload */
    if (!p)
        return accept_real(fd, sa, len, flags);
    return accept_decided(p, fd, sa, len, flags);
}

/* The ruled path, tail calls only (hooks.h). p: what the caller read, a policy that decides
 * (or NULL: not loaded yet). */
static int __attribute__((noinline)) accept_ruled(int fd, struct sockaddr *sa, socklen_t *len, int flags,
                                                  struct sp_policy *p)
{
    p = shim_policy_quick_decided(p, SP_OP_ACCEPT);
    if (__builtin_expect(p == SHIM_SLOW, 0))
        return accept_cold(fd, sa, len, flags);
    if (!p)
        return accept_real(fd, sa, len, flags);
    return accept_decided(p, fd, sa, len, flags);
}

/* Under SHIM_WATCH: the call, a failure logged, the reload deadline looked at. */
static int __attribute__((noinline)) accept_watch(int fd, struct sockaddr *sa, socklen_t *len,
                                                  int flags)
{
    struct shim_call c;
    c.a = fd;
    int nfd = accept_real(fd, sa, len, flags);
    if (__builtin_expect(nfd < 0, 0))
        return (int)shim_watch_failed(nfd, SP_OP_ACCEPT, &c);
    if (__builtin_expect(shim_idle_due(), 0))
        return (int)shim_watch_recheck(nfd);
    return nfd;
}

/* The reload deadline passed under SHIM_IDLE or SHIM_WATCH: look, then follow what is
 * published now. */
static int __attribute__((noinline, cold)) accept_recheck(int fd, struct sockaddr *sa,
                                                          socklen_t *len, int flags)
{
    struct sp_policy *p = shim_recheck();
    if (p == SHIM_WATCH)
        return accept_watch(fd, sa, len, flags);
    if (!shim_undecided(p))
        return accept_ruled(fd, sa, len, flags, p);
    return accept_real(fd, sa, len, flags);
}

/* Under SHIM_IDLE: the call, after a look at the reload deadline. Apart from the hook's own
 * path, whose no-policy exit must not share its register moves (rdtsc takes rdx). */
static int __attribute__((noinline)) accept_idle(int fd, struct sockaddr *sa, socklen_t *len,
                                                 int flags)
{
    if (__builtin_expect(shim_idle_due(), 0))
        return accept_recheck(fd, sa, len, flags);
    return accept_real(fd, sa, len, flags);
}

/* Tail calls only. Nothing decides under SHIM_IDLE and SHIM_WATCH: the call, after a look at
 * the reload deadline (a server that only accepts still picks up an edited policy). */
__attribute__((always_inline)) inline int shim_accept4(int fd, struct sockaddr *sa,
                                                        socklen_t *len, int flags)
{
    struct sp_policy *p = shim_published();
    if (__builtin_expect(p == SHIM_NO_POLICY, 1))
        return accept_real(fd, sa, len, flags);
    if (!shim_undecided(p))
        return accept_ruled(fd, sa, len, flags, p);
    if (p == SHIM_WATCH)
        return accept_watch(fd, sa, len, flags);
    return accept_idle(fd, sa, len, flags);
}

SHIM_EXPORT int accept4(int fd, __SOCKADDR_ARG sa, socklen_t *len, int flags)
{
    return shim_accept4(fd, SHIM_SA(sa), len, flags);
}

SHIM_EXPORT int accept(int fd, __SOCKADDR_ARG sa, socklen_t *len)
{
    return shim_accept4(fd, SHIM_SA(sa), len, 0);
}
