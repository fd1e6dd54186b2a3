/* shim/state.h: the shim's process state: the policy (loaded lazily, published once), the
 * per-thread re-entry depth, and the decision every hook makes before it acts. */
#ifndef SOCKPOLICY_SHIM_STATE_H
#define SOCKPOLICY_SHIM_STATE_H

#include <stdatomic.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "clock.h"
#include "fdtab.h"
#include "policy.h"
#include "real.h"

/* The published policy: NULL before the first load; SHIM_NO_POLICY when there is no policy
 * file at all (nothing is watched: the hooks' one-compare exit); SHIM_IDLE when the file has
 * nothing to decide for this process (no rule for it, or it failed to load): calls go to libc
 * with no fd table kept, socket() and accept() looking at the reload deadline; SHIM_WATCH when
 * it has no rule but asks for a log of failures: the same, each call's result watched and a
 * failure logged (shim_watch_failed); SHIM_DENY_ALL when it failed to load under `strict`
 * (watched); else the policy. The three without a decision are the odd values: one bit test
 * (shim_passthrough) sends close(), dup2() and friends straight to libc. Superseded policies
 * stay mapped (see shim_recheck): a pointer read from here stays valid for the life of the
 * process. */
#define SHIM_NO_POLICY ((struct sp_policy *)1)
#define SHIM_DENY_ALL ((struct sp_policy *)2)
#define SHIM_IDLE ((struct sp_policy *)5)
#define SHIM_WATCH ((struct sp_policy *)7)
/* p decides nothing (SHIM_NO_POLICY, SHIM_IDLE or SHIM_WATCH): the odd values. */
static inline int shim_undecided(const struct sp_policy *p)
{
    return ((uintptr_t)p & 1) != 0;
}

/* Hidden on the declaration too, so that every hook reads it PC-relative (not through the
 * GOT, which the linker turns into an extra lea): one instruction per hook. */
extern _Atomic(struct sp_policy *) shim_policy __attribute__((visibility("hidden")));
/* Bit per op that the published policy has something for (all of them under SHIM_DENY_ALL). */
extern _Atomic uint32_t shim_ops __attribute__((visibility("hidden")));

/* What each op's rules test (sp_policy_tests), 4 bits per op, valid for the policy
 * shim_keys_p (load.c: written by the one thread that loads, shim_keys_p NULL meanwhile). */
extern _Atomic(const struct sp_policy *) shim_keys_p __attribute__((visibility("hidden")));
extern _Atomic uint32_t shim_keys_tests __attribute__((visibility("hidden")));
/* Whether op's rules in p may test any part of what (SP_TESTS_*): 1 when not known for p (a
 * call that began under the policy a reload has just replaced). */
static inline int shim_op_tests(const struct sp_policy *p, enum sp_op op, uint32_t what)
{
    if (atomic_load_explicit(&shim_keys_p, memory_order_acquire) != p)
        return 1;
    uint32_t t = atomic_load_explicit(&shim_keys_tests, memory_order_acquire);
    if (atomic_load_explicit(&shim_keys_p, memory_order_acquire) != p)
        return 1;
    return (t >> (op * 4) & what) != 0;
}

/* Per-thread depth of foreign code the shim runs on a hook's path (the policy loader): a hook
 * entered from inside it passes straight through. The hooks' own work calls only the real
 * functions, so it does not count: a signal handler that interrupts a hook and connects gets
 * the policy like any other call. */
extern __thread int shim_depth __attribute__((tls_model("initial-exec")));

/* Loads the policy once (concurrent callers wait briefly, then pass through), returns what
 * shim_policy now holds. errno is preserved. */
struct sp_policy *shim_policy_load_slow(void) __attribute__((cold, noinline));

/* Live reload. shim_tick() is a free-running counter that costs no syscall (the CPU's time
 * stamp counter where there is one; elsewhere a per-thread call count); shim_recheck_at is the
 * tick at which the policy path next reads the clock, about four times a second, calibrated
 * against CLOCK_MONOTONIC; at most once a second shim_recheck stats the policy's sources and
 * loads and publishes a changed policy. ~0 when nothing is watched. */
extern _Atomic uint64_t shim_recheck_at __attribute__((visibility("hidden")));
#if SHIM_HAVE_CYCLES
static inline uint64_t shim_tick(void)
{
    return shim_cycles();
}
#else
extern __thread uint32_t shim_tick_calls __attribute__((tls_model("initial-exec")));
static inline uint64_t shim_tick(void)
{
    return ++shim_tick_calls % 64 ? 0 : ~(uint64_t)1; /* every 64th call reads the clock */
}
#endif
/* Reads the clock and, when a second has passed since the last look, reloads a changed policy.
 * Returns what shim_policy now holds. No lock (one thread looks, the others go on with the
 * policy they have), no malloc; errno preserved. */
struct sp_policy *shim_recheck(void) __attribute__((cold, noinline));

/* The hot path of every hook: the policy if op may be ours, else NULL (pass through).
 * One acquire load, a tick compare and an op bit test when a policy is loaded. errno
 * untouched. */
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
    if (__builtin_expect(shim_tick() >= atomic_load_explicit(&shim_recheck_at, memory_order_relaxed), 0))
        p = shim_recheck();
    if (!(atomic_load_explicit(&shim_ops, memory_order_relaxed) >> op & 1) || shim_undecided(p))
        return NULL;
    return p;
}

/* shim_policy_for for the policy p a hook has just read and found deciding (not one of the
 * odd values): the same answer, without the tests the hook made. *ops (ops may be NULL): the
 * op bits it went by (shim_ops), for the hook's own tests of other ops. */
static inline struct sp_policy *shim_policy_decided(struct sp_policy *p, enum sp_op op,
                                                    uint32_t *ops)
{
    if (ops)
        *ops = 0;
    if (__builtin_expect(p == NULL, 0)) {
        p = shim_policy_load_slow();
        if (p == NULL || shim_undecided(p))
            return NULL;
    }
    if (shim_depth > 0)
        return NULL;
    if (__builtin_expect(shim_tick() >= atomic_load_explicit(&shim_recheck_at, memory_order_relaxed), 0)) {
        p = shim_recheck();
        if (p == NULL || shim_undecided(p))
            return NULL;
    }
    uint32_t bits = atomic_load_explicit(&shim_ops, memory_order_relaxed);
    if (ops)
        *ops = bits;
    if (!(bits >> op & 1))
        return NULL;
    return p;
}

/* shim_policy_quick_decided: shim_policy_for without its calls, for a hook that then makes
 * only tail calls (and so saves no registers), given the policy p it has just read and found
 * deciding (not one of the odd values): the policy, NULL (pass through), or SHIM_SLOW when the
 * policy is not loaded yet or the reload deadline passed: then the hook calls its cold path,
 * which asks shim_policy_for. shim_policy_quick reads p itself. */
#define SHIM_SLOW ((struct sp_policy *)4)
static inline struct sp_policy *shim_policy_quick_decided(struct sp_policy *p, enum sp_op op)
{
    if (__builtin_expect(p == NULL, 0) ||
        __builtin_expect(shim_tick() >= atomic_load_explicit(&shim_recheck_at, memory_order_relaxed), 0))
        return SHIM_SLOW;
    if (!(atomic_load_explicit(&shim_ops, memory_order_relaxed) >> op & 1) || shim_depth > 0)
        return NULL;
    return p;
}

static inline struct sp_policy *shim_policy_quick(enum sp_op op)
{
    struct sp_policy *p = atomic_load_explicit(&shim_policy, memory_order_acquire);
    if (__builtin_expect(p == SHIM_NO_POLICY, 1))
        return NULL;
    if (shim_undecided(p)) /* SHIM_IDLE, SHIM_WATCH: nothing to decide, but a reload may be due */
        return shim_tick() >= atomic_load_explicit(&shim_recheck_at, memory_order_relaxed) ? SHIM_SLOW
                                                                                        : NULL;
    return shim_policy_quick_decided(p, op);
}

/* The first test of the hooks that decide (socket, connect, accept, bind, listen): true when
 * there is no policy file (published as none), so the call goes straight to libc. One load and
 * a compare; the hook's policy work, SHIM_IDLE and SHIM_WATCH included, then lives in a
 * separate (noinline) function so this path saves no registers. */
static inline int shim_no_policy(void)
{
    return atomic_load_explicit(&shim_policy, memory_order_acquire) == SHIM_NO_POLICY;
}

/* The first test of the hooks that only keep the fd table true (close, dup2, dup3,
 * close_range): true when nothing is decided (no policy, SHIM_IDLE, SHIM_WATCH), so no table
 * is kept. One load and a bit test. */
static inline int shim_passthrough(void)
{
    return ((uintptr_t)atomic_load_explicit(&shim_policy, memory_order_acquire) & 1) != 0;
}

/* The published policy (one acquire load). */
static inline struct sp_policy *shim_published(void)
{
    return atomic_load_explicit(&shim_policy, memory_order_acquire);
}

/* Under SHIM_IDLE and SHIM_WATCH: whether the reload deadline has passed (the tick compare of
 * shim_policy_for, alone); then the hook calls shim_recheck (or shim_watch_recheck). */
static inline int shim_idle_due(void)
{
    return shim_tick() >= atomic_load_explicit(&shim_recheck_at, memory_order_relaxed);
}

/* What a call under SHIM_WATCH was given, for the line its failure makes, kept on the
 * caller's stack across the call (cheaper than the registers the compiler would save). Only
 * the fields op uses are set: socket: a = domain, b = type; connect, bind, send: a = fd, sa
 * and len; accept, listen: a = fd. */
struct shim_call {
    int a, b;
    socklen_t len;
    const struct sockaddr *sa;
};
/* A call under SHIM_WATCH failed (r < 0, errno as the call left it): logs the failure as the
 * level says, then looks at the reload deadline. Returns r with errno unchanged. */
long shim_watch_failed(long r, enum sp_op op, const struct shim_call *c)
    __attribute__((cold, noinline));
/* shim_recheck for a call that succeeded with r, when shim_idle_due: returns r (a tail call,
 * so the watched hook keeps nothing in saved registers). */
long shim_watch_recheck(long r) __attribute__((cold, noinline));

/* Makes sure every real function is resolved and core's sysops are ours (the table itself is
 * always usable: see real.h). */
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

/* Classifies a call on socket fd (-1: none yet, socket()). *family and *type are the kind the
 * hook read (shim_sock_kind): a recorded kind may be stale (the number was closed and reused
 * behind the shim's back: a raw close system call, libc's own close of an fdopen'd socket, a
 * socket received over SCM_RIGHTS), so where it could change the answer (the address's
 * family is not the recorded one, or op's rules tell types or inet from inet6 apart) the
 * kernel is asked, the entry corrected, and *family and *type updated. errno untouched; a
 * system call only on that path.
 * The last inet decision of each thread is remembered (per policy, op, kind and address): a
 * repeated peer costs a few compares, here, inline; anything else goes to shim_decide_slow.
 * An entry is stored only when its answer holds whatever socket of the address's family the
 * number holds (the two conditions above), so a hit needs no look at the kernel.
 * Async-signal-safe: a signal handler's hook may run between any two instructions of this
 * thread's. seq changes with every write and is odd while one is under way; a reader that
 * sees it change returns nothing it read, a writer that interrupted another leaves the memo
 * alone, and a writer clears p first, so a handler never matches a half-written entry. */
struct shim_decision_memo {
    uint32_t seq;
    uint32_t what;      /* op | type << 8 | family << 16 */
    const struct sp_policy *p;
    uint64_t k[3];      /* sockaddr bytes 0..8 (family, port, v4 address) and the v6 address,
                         * with the parts no rule of the op tests zeroed (kmask, k[1..2]) */
    uint64_t kmask;     /* the bits of k[0] the op's rules test (a port only an accept's peer
                         * varies: with none tested, every accept hits) */
    struct shim_decision d;
};
extern __thread struct shim_decision_memo shim_memo
    __attribute__((tls_model("initial-exec"), visibility("hidden")));
struct shim_decision shim_decide_slow(const struct sp_policy *p, enum sp_op op, int fd,
                                      int *family, int *type, const struct sockaddr *sa,
                                      socklen_t len);
static inline struct shim_decision shim_decide(const struct sp_policy *p, enum sp_op op, int fd,
                                               int *family, int *type,
                                               const struct sockaddr *sa, socklen_t len)
{
    if (sa && sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        uint32_t seq = shim_memo.seq;
        atomic_signal_fence(memory_order_seq_cst);
        if (shim_memo.p == p &&
            shim_memo.what ==
                ((uint32_t)op | (uint32_t)(*type & 0xff) << 8 | (uint32_t)*family << 16)) {
            uint64_t k0;
            __builtin_memcpy(&k0, sa, 8);
            /* kmask always keeps bytes 0-1 (the address family): a hit was stored for an
             * AF_INET address, whose k[1] and k[2] are zero. */
            if (shim_memo.k[0] == (k0 & shim_memo.kmask)) {
                struct shim_decision d = shim_memo.d;
                atomic_signal_fence(memory_order_seq_cst);
                if (__builtin_expect(shim_memo.seq == seq, 1))
                    return d;
            }
        }
    }
    return shim_decide_slow(p, op, fd, family, type, sa, len);
}

/* Runs the gate actions of d for a call on fd: deny (log, errno, -1), fail (maybe: log,
 * errno, -1), delay (sleep), audit (log). Returns 0 to go on with the call, -1 with errno set
 * to fail it without a syscall. Pass and set go on at once, inline. */
int shim_gate_slow(const struct shim_decision *d, enum sp_op op, int fd, const struct sockaddr *sa,
                   socklen_t len);
static inline int shim_gate(const struct shim_decision *d, enum sp_op op, int fd,
                            const struct sockaddr *sa, socklen_t len)
{
    if (__builtin_expect(d->action == SP_ACT_PASS || d->action == SP_ACT_SET, 1))
        return 0;
    return shim_gate_slow(d, op, fd, sa, len);
}

/* Per-thread random number in [0, 1000000) for `fail` rates. */
uint32_t shim_random_ppm(void);

/* Sleeps ms milliseconds (restarting after signals). errno preserved. */
void shim_sleep_ms(uint32_t ms);

#endif
