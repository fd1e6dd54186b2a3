/* shim/load.c: the first load and what is published. The policy waits for the first socket
 * call; one thread loads it (the others wait), with signals and cancellation held off, and
 * publishes it with the op bits the hooks test (state.h). What is read is load_file.c's; the
 * watch and live reload that follow are reload.c's. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fdtab.h"
#include "load_priv.h"
#include "log.h"

_Atomic(struct sp_policy *) shim_policy;
_Atomic uint32_t shim_ops;
__thread int shim_depth __attribute__((tls_model("initial-exec")));

/* The thread id of the thread loading the first policy (0: none). A thread id, not a flag: a
 * stale owner (its thread gone, or a fork's parent's) is recognised and replaced. */
static atomic_int load_owner;

/* The policy waits for the first socket call, and each real function for its first call (see
 * real.h): a process that never touches a socket pays only this. fd 2 is noted now, while it
 * is still stderr. */
__attribute__((constructor)) static void shim_start(void)
{
    shim_log_early();
}

int shim_thread_id(void)
{
    return (int)syscall(SYS_gettid);
}

/* Whether thread tid of this process still exists. errno preserved. */
int shim_thread_alive(int tid)
{
    int saved = errno;
    int alive = syscall(SYS_tgkill, (int)syscall(SYS_getpid), tid, 0) == 0 || errno != ESRCH;
    errno = saved;
    return alive;
}

void shim_quiet_enter(struct shim_quiet *q)
{
    int saved = errno;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &q->mask);
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &q->cancel);
    errno = saved;
}

void shim_quiet_leave(const struct shim_quiet *q)
{
    int saved = errno;
    pthread_setcancelstate(q->cancel, NULL);
    pthread_sigmask(SIG_SETMASK, &q->mask, NULL);
    errno = saved;
}

static uint32_t ops_of(const struct sp_policy *p)
{
    uint32_t ops = 0;
    for (int op = 0; op < SP_OP_COUNT; op++)
        if (sp_policy_has_op(p, (enum sp_op)op))
            ops |= 1u << op;
    return ops;
}

/* What each op's rules test (sp_policy_tests), for the decision memo's key: 4 bits per op in
 * one word, valid for shim_keys_p. Written by the one thread that loads (shim_keys_p NULL while the
 * word changes); read by decide_remember, which believes the word only when shim_keys_p is p both
 * before and after reading it. */
_Atomic(const struct sp_policy *) shim_keys_p;
_Atomic uint32_t shim_keys_tests;

static void keys_of(const struct sp_policy *p)
{
    uint32_t t = 0;
    for (int op = 0; op < SP_OP_COUNT; op++)
        t |= sp_policy_tests(p, (enum sp_op)op) << (op * 4);
    atomic_store_explicit(&shim_keys_p, NULL, memory_order_release);
    atomic_store_explicit(&shim_keys_tests, t, memory_order_release);
    atomic_store_explicit(&shim_keys_p, p, memory_order_release);
}

/* Publishes pub with its op bits: the bits first, so a reader that sees pub sees them. Under
 * SHIM_IDLE and SHIM_WATCH no hook keeps the fd table (close does not forget, socket does not
 * record): when a policy that decides follows one, what the table holds is forgotten first
 * (kinds are then read from the kernel again, as for a descriptor never seen). */
void shim_publish(struct sp_policy *pub, uint32_t ops)
{
    static struct sp_policy *last;
    if ((last == SHIM_IDLE || last == SHIM_WATCH) && pub != SHIM_IDLE && pub != SHIM_WATCH)
        shim_fd_forget(0, INT_MAX);
    last = pub;
    atomic_store_explicit(&shim_ops, ops, memory_order_release);
    atomic_store_explicit(&shim_policy, pub, memory_order_release);
}

/* What a loaded policy is published as: itself, or SHIM_IDLE when it has nothing for this
 * process (then the hooks pass through after the reload check), SHIM_WATCH when it has no
 * rule at all and asks for a log of failures. first: the load at start-up,
 * before any other thread can log (the logger is set up afresh); else a reload while other
 * threads may be logging. */
struct sp_policy *shim_adopt(struct sp_policy *p, uint32_t *ops, uint64_t main, int first)
{
    struct shim_watcher *w = &shim_watcher;
    if (first)
        shim_log_setup_policy(p, w->secure);
    else
        shim_log_reload_policy(p, w->secure);
    w->obj = p;
    w->obj_id = shim_sources_id(p, 0, main); /* main: the files' identity before they were read */
    w->obj_main = main;
    w->fail_id = 0;
    w->seen_id = 0;
    w->retrying = 0;
    *ops = ops_of(p);
    int logs = 0;
    if (!*ops && sp_policy_rule_count(p) == 0 && shim_log_level != SP_LOG_OFF &&
        (sp_policy_settings(p)->log_said || shim_log_env_asks())) {
        /* A policy of log settings alone logs what they say about every call: failures
         * from the calls' results (SHIM_WATCH, no fd table: a compare a call);
         * every event, or a summary, through the ruled path of every op, which follows
         * non-blocking connects to their end. */
        if (shim_log_every)
            *ops = (1u << SP_OP_COUNT) - 1;
        else
            logs = 1;
    }
    keys_of(p);
    return *ops ? p : logs ? SHIM_WATCH : SHIM_IDLE;
}

/* What a failed load publishes while no policy was ever loaded, and the line it logs. */
struct sp_policy *shim_load_failed(const struct shim_load_diag *diag, int strict, uint64_t id,
                                uint32_t *ops, const char *what)
{
    struct shim_watcher *w = &shim_watcher;
    int again = diag->transient && w->retrying; /* logged when the streak began */
    w->retrying = diag->transient;
    if (diag->transient)
        w->next_look_ns = sp_diag_now_ns() + RETRY_NS; /* tried again soon, whatever the file does */
    else
        w->fail_id = id;
    if (!again)
        shim_log(SP_LOG_FAILURES, "policy failed to %s (%s); %s%s", what, diag->text,
                 strict ? "strict: every socket call is denied" : "running without a policy",
                 diag->transient ? " until it can be read (tried again every 50 ms)" : "");
    *ops = strict ? (1u << SP_OP_COUNT) - 1 : 0;
    return strict ? SHIM_DENY_ALL : SHIM_IDLE;
}

static struct sp_policy *load_now(uint32_t *ops)
{
    struct shim_watcher *w = &shim_watcher;
    *ops = 0;
    w->secure = getauxval(AT_SECURE) != 0;
    shim_log_setup(NULL, w->secure);
    int trace = !w->secure && shim_trace_wanted();
    char user[4096];
    int have_user = w->secure ? 0 : shim_user_conf(user, sizeof user) > 0;
    w->host = shim_host_conf(w->secure);
    if (!w->host) {
        if (trace) { /* sockpolicy run --trace: no file, nothing to watch */
            struct sp_policy *t = shim_trace_policy(w->secure);
            if (t) {
                *ops = ops_of(t);
                return t;
            }
        }
        if (!have_user)
            return SHIM_NO_POLICY; /* nothing to watch: every hook's one-compare exit */
        memcpy(w->path, user, strlen(user) + 1);
    } else {
        /* The host's policy always applies; the user's environment may only add to it. */
        memcpy(w->path, SYSTEM_CONF, sizeof SYSTEM_CONF);
        if (have_user && !shim_same_file(user, SYSTEM_CONF))
            memcpy(w->user, user, strlen(user) + 1);
        w->trace = trace;
    }
    struct shim_load_diag diag;
    struct sp_policy *p = NULL;
    uint64_t id = 0;
    int strict = 0;
    for (int tries = 0; tries < 3; tries++) {
        /* A file that changes while it is read is read again (a torn copy may parse). */
        memset(&diag, 0, sizeof diag);
        id = shim_files_id();
        p = shim_load_file(&diag, &strict);
        if (!p || shim_sources_id(p, 1, shim_files_id()) == shim_sources_id(p, 0, id))
            break;
        if (tries < 2)
            sp_policy_free(p);
    }
    shim_clock_start();
    w->next_look_ns = sp_diag_now_ns() + LOOK_EVERY_NS;
    atomic_store_explicit(&shim_recheck_at, shim_tick() + TICKS_UNCALIBRATED, memory_order_relaxed);
    if (!p)
        return shim_load_failed(&diag, strict, id, ops, "load");
    shim_log(SP_LOG_DEBUG, "policy %s loaded: %zu rules", w->path, sp_policy_rule_count(p));
    return shim_adopt(p, ops, id, 1);
}

struct sp_policy *shim_policy_load_slow(void)
{
    int saved = errno;
    struct sp_policy *p = atomic_load_explicit(&shim_policy, memory_order_acquire);
    if (p || shim_depth > 0)
        goto out; /* published, or a call the loader itself makes (its logger's socket) */
    /* Every real function first, outside the load: a thread that waits below while it holds
     * the dynamic loader's lock (a constructor in dlopen) must not hold up the loader. */
    shim_real_need();
    if (shim_real_other_copy()) {
        /* Another copy of the library is next in line (a program preloading its own under a
         * host-wide one): it applies the policy; this one passes every call on to it. */
        shim_publish(SHIM_NO_POLICY, 0);
        p = SHIM_NO_POLICY;
        goto out;
    }
    struct shim_quiet q;
    shim_quiet_enter(&q);
    int me = shim_thread_id();
    for (unsigned waits = 0; !(p = atomic_load_explicit(&shim_policy, memory_order_acquire));) {
        int cur = 0;
        if (atomic_compare_exchange_strong(&load_owner, &cur, me) ||
            ((cur == me || !shim_thread_alive(cur)) &&
             atomic_compare_exchange_strong(&load_owner, &cur, me))) {
            /* Ours (an owner that is this very thread, or gone, left it: it could not have
             * finished, with signals and cancellation held off, so it is taken over). */
            if ((p = atomic_load_explicit(&shim_policy, memory_order_acquire)) == NULL) {
                uint32_t ops;
                shim_depth++;
                p = load_now(&ops);
                shim_depth--;
                shim_publish(p, ops);
            }
            atomic_store_explicit(&load_owner, 0, memory_order_release);
            break;
        }
        /* Another thread loads: wait for it, however long it takes (no call may pass
         * unchecked meanwhile). Its signals are held too, so nothing here can nest in it. */
        if (waits++ < 50)
            sched_yield();
        else
            shim_sleep_ms(1);
    }
    shim_quiet_leave(&q);
out:
    errno = saved;
    return p;
}
