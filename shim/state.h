/* shim/state.h: the shim's process state: the policy (loaded lazily, published once), the
 * per-thread re-entry depth, and the decision every hook makes before it acts. */
#ifndef SOCKPOLICY_SHIM_STATE_H
#define SOCKPOLICY_SHIM_STATE_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "policy.h"
#include "real.h"

/* The published policy: NULL before the first load, SHIM_NO_POLICY when there is none (or it
 * failed to load), SHIM_DENY_ALL when it failed to load under `strict`, else the policy. */
#define SHIM_NO_POLICY ((struct sp_policy *)1)
#define SHIM_DENY_ALL ((struct sp_policy *)2)
extern _Atomic(struct sp_policy *) shim_policy;

/* Per-thread depth of foreign code the shim runs on a hook's path (the policy loader): a hook
 * entered from inside it passes straight through. The hooks' own work calls only the real
 * functions, so it does not count: a signal handler that interrupts a hook and connects gets
 * the policy like any other call. */
extern __thread int shim_depth __attribute__((tls_model("initial-exec")));

/* Loads the policy once (concurrent callers wait briefly, then pass through), returns what
 * shim_policy now holds. errno is preserved. */
struct sp_policy *shim_policy_load_slow(void) __attribute__((cold, noinline));

/* The hot path of every hook: the policy if op may be ours, else NULL (pass through).
 * One acquire load and a has_op test when a policy is loaded. errno untouched. Whatever it
 * returns, the real-function table is filled by then. */
static inline struct sp_policy *shim_policy_for(enum sp_op op)
{
    struct sp_policy *p = atomic_load_explicit(&shim_policy, memory_order_acquire);
    if (__builtin_expect(p == SHIM_NO_POLICY, 1))
        return NULL;
    if (__builtin_expect(p == NULL, 0)) {
        p = shim_policy_load_slow();
        if (p == SHIM_NO_POLICY || p == NULL)
            return NULL;
    }
    if (shim_depth > 0)
        return NULL;
    if (p == SHIM_DENY_ALL)
        return p;
    return sp_policy_has_op(p, op) ? p : NULL;
}

/* The hooks' first test: true when no policy is loaded (published as none), so the call goes
 * straight to libc. The real table is filled by then. One load and a compare; the hook's
 * policy work then lives in a separate (noinline) function so this path saves no registers. */
static inline int shim_passthrough(void)
{
    return atomic_load_explicit(&shim_policy, memory_order_acquire) == SHIM_NO_POLICY;
}

/* Makes sure the real-function table is filled: for hooks that have no policy question. */
static inline void shim_real_need(void)
{
    if (__builtin_expect(!shim_real_ready(), 0))
        shim_real_init();
}

/* What to do with one call. */
struct shim_decision {
    const struct sp_rule *rule; /* the matching rule, or NULL (default) */
    enum sp_action action;      /* SP_ACT_PASS when nothing applies */
    int err;                    /* deny / fail: the errno */
};

/* Classifies a call. No syscall, errno untouched. */
struct shim_decision shim_decide(const struct sp_policy *p, enum sp_op op, int family, int type,
                                 const struct sockaddr *sa, socklen_t len);

/* Runs the gate actions of d for a call on fd: deny (log, errno, -1), fail (maybe: log,
 * errno, -1), delay (sleep), audit (log). Returns 0 to go on with the call, -1 with errno set
 * to fail it without a syscall. */
int shim_gate(const struct shim_decision *d, enum sp_op op, int fd, const struct sockaddr *sa,
              socklen_t len);

/* The family and type (flags masked) of socket fd, from the fd table or the kernel.
 * Returns 0, or -1 (errno preserved) when fd is not an open socket: then pass through. */
int shim_sock_kind(int fd, int *family, int *type);

/* Per-thread random number in [0, 1000000) for `fail` rates. */
uint32_t shim_random_ppm(void);

/* Sleeps ms milliseconds (restarting after signals). errno preserved. */
void shim_sleep_ms(uint32_t ms);

#endif
