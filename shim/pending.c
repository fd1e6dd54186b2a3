/* shim/pending.c: non-blocking connects followed to their outcome. A connect that returns
 * EINPROGRESS is recorded in its fd table entry (pending.h); the hook that learns how it
 * ended (SO_ERROR, a later connect(), the close) logs one event for it, with the options
 * forced before it began and how long it took. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "log.h"
#include "log_priv.h"
#include "pending.h"
#include "real.h"

_Atomic unsigned shim_log_npending;

static uint32_t now_us(void)
{
    return (uint32_t)(sp_diag_now_ns() / 1000);
}

void shim_log_connect_pending(int fd, const struct sockaddr *sa, socklen_t len, int family,
                              int type, const struct sp_rule *rule, uint64_t start)
{
    struct shim_fd *e = shim_fd_valid(fd);
    if (!e)
        e = shim_fd_claim(fd, family, type);
    if (!e)
        return;
    if (!e->connect_ms || e->logged)
        atomic_fetch_add_explicit(&shim_log_npending, 1, memory_order_relaxed);
    e->connect_ms = (uint32_t)(start / 1000000) | 1;
    e->connect_us = (uint32_t)(start / 1000);
    e->connect_rule = rule;
    e->opts_asked = 0;
    if (rule && shim_log_stash.asked && shim_log_stash.fd == fd &&
        shim_log_stash.op == SP_OP_CONNECT) {
        e->opts_asked = shim_log_stash.asked; /* for the line that tells how it ended */
        e->opts_applied = shim_log_stash.rep.applied;
        e->opts_skipped = shim_log_stash.rep.skipped;
        e->opts_failed = shim_log_stash.rep.failed;
        for (uint32_t f = shim_log_stash.rep.failed; f; f &= f - 1)
            e->opts_err[__builtin_ctz(f)] = (uint8_t)shim_log_stash.rep.err[__builtin_ctz(f)];
    }
    e->logged = 0;
    memset(&e->peer, 0, sizeof e->peer);
    memcpy(&e->peer, sa, len < sizeof e->peer ? len : sizeof e->peer);
}

void shim_log_connect_end(int fd, int err, enum sp_phase phase, const char *note)
{
    if (!shim_log_pending(fd))
        return;
    int saved = errno;
    struct shim_fd *e = shim_fd_valid(fd);
    if (!e || !e->connect_ms || e->logged) {
        errno = saved;
        return;
    }
    int state = -1;
    if (phase == SP_PHASE_CLOSE) {
        state = sp_diag_tcp_state(shim_log_ops(), fd);
        err = 0;
        if (state == TCP_CLOSE) { /* it failed, and the program never asked why */
            socklen_t l = sizeof err;
            if (shim_real.getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0)
                err = 0;
        }
    } else if (err == 0 && sp_diag_tcp_state(shim_log_ops(), fd) == TCP_SYN_SENT) {
        errno = saved; /* SO_ERROR 0 while still in SYN_SENT: not the end yet */
        return;
    }
    e->logged = 1;
    atomic_fetch_sub_explicit(&shim_log_npending, 1, memory_order_relaxed);
    const struct sp_rule *rule = e->connect_rule;
    struct sp_event ev;
    sp_event_init(&ev, SP_OP_CONNECT, fd);
    ev.err = err;
    ev.phase = phase;
    ev.tcp_state = state;
    uint32_t kind = __atomic_load_n(&e->kind, __ATOMIC_RELAXED);
    ev.family = SHIM_FD_FAMILY(kind);
    ev.type = SHIM_FD_TYPE(kind);
    ev.duration_ns = (uint64_t)(uint32_t)(now_us() - e->connect_us) * 1000;
    ev.note = note;
    sp_event_set_addr(&ev, 1, &e->peer.sa,
                      e->peer.sa.sa_family == AF_UNSPEC ? 0 : bio_addr_sockaddr_size(&e->peer));
    int fl = shim_real.fcntl(fd, F_GETFL);
    if (fl >= 0 && (fl & O_NONBLOCK))
        ev.flags |= SP_EVF_NONBLOCK;
    bio_addr local;
    socklen_t llen = sizeof local;
    if (shim_real.getsockname(fd, &local.sa, &llen) == 0)
        sp_event_set_addr(&ev, 0, &local.sa, llen);
    ev.rule = shim_log_tracing() ? NULL : rule;
    if (rule && e->opts_asked) { /* the options forced before the connect began */
        ev.opts_asked = e->opts_asked;
        ev.opts.applied = e->opts_applied;
        ev.opts.skipped = e->opts_skipped;
        ev.opts.failed = e->opts_failed;
        for (uint32_t f = e->opts_failed; f; f &= f - 1)
            ev.opts.err[__builtin_ctz(f)] = e->opts_err[__builtin_ctz(f)];
    }
    /* the summary counts every end; the line only when the level wants it */
    shim_log_emit(&ev);
    errno = saved;
}

void shim_log_pending_range(int lo, int hi)
{
    if (__builtin_expect(atomic_load_explicit(&shim_log_npending, memory_order_relaxed) == 0, 1))
        return;
    struct shim_fdtab_hdr *t = atomic_load_explicit(&shim_fdtab, memory_order_acquire);
    if (!t || lo < 0 || hi < lo)
        return;
    if ((size_t)hi >= t->cap)
        hi = (int)t->cap - 1;
    for (int fd = lo; fd <= hi; fd++)
        if (shim_log_pending(fd))
            shim_log_connect_end(fd, 0, SP_PHASE_CLOSE, NULL);
}

/* At exit: the connects still pending end here (their lines first), then the summary. */
__attribute__((destructor)) static void shim_log_at_exit(void)
{
    if (!shim_log_active())
        return;
    int saved = errno;
    shim_log_pending_range(0, INT_MAX);
    shim_log_finish();
    errno = saved;
}
