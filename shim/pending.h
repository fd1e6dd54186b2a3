/* shim/pending.h: non-blocking connects, followed to their outcome (pending.c). The tests a
 * hook makes are inline: one load when no connect is pending. Included by log.h. */
#ifndef SOCKPOLICY_SHIM_PENDING_H
#define SOCKPOLICY_SHIM_PENDING_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "diag.h"
#include "fdtab.h"
#include "policy.h"

/* Remembers a connect to sa that returned EINPROGRESS on fd (start: sp_diag_now_ns()). */
void shim_log_connect_pending(int fd, const struct sockaddr *sa, socklen_t len, int family,
                              int type, const struct sp_rule *rule, uint64_t start);
/* Logs how a pending connect ended: err (0 connected) learnt in phase (SO_ERROR, a later
 * connect(), or SP_PHASE_CLOSE: then err is ignored and the socket's TCP state and pending
 * error are read). note may be NULL. Nothing when fd has no pending connect. */
void shim_log_connect_end(int fd, int err, enum sp_phase phase, const char *note);
/* Whether fd has a connect pending whose end is not logged: one load when it has not. */
static inline int shim_log_pending(int fd)
{
    struct shim_fd *e = shim_fd_peek(fd);
    return e && __atomic_load_n(&e->ino, __ATOMIC_RELAXED) && e->connect_ms && !e->logged;
}
/* Logs the pending connects among fds lo..hi that are about to be closed (dup2, dup3,
 * close_range); a walk over the table's entries only when some connect is pending. */
void shim_log_pending_range(int lo, int hi);
/* connects pending in the table (a hint). Hidden: every hook reads it PC-relative. */
extern _Atomic unsigned shim_log_npending __attribute__((visibility("hidden")));
/* fds lo..hi are about to be closed (close, a dup2/dup3 target, close_range): logs the
 * connects still pending on them. One load when no connect is pending anywhere. */
static inline void shim_log_fd_gone(int lo, int hi)
{
    if (__builtin_expect(atomic_load_explicit(&shim_log_npending, memory_order_relaxed) != 0, 0))
        shim_log_pending_range(lo, hi);
}

#endif
