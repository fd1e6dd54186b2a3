/* shim/reload.c: the watch and live reload. Hooks compare a free-running tick with
 * shim_recheck_at; past it, shim_recheck reads the clock (calibrating the tick's rate), at most
 * once a second stats the policy's sources, and loads and publishes a policy that changed and
 * settled. Also the calls under SHIM_WATCH, whose failures are logged and which look at the
 * deadline themselves. One thread looks at a time (`looking`), with signals held off. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "load_priv.h"
#include "log.h"

_Atomic uint64_t shim_recheck_at = ~(uint64_t)0;
#if !defined(__x86_64__) && !defined(__i386__) && !defined(__aarch64__)
__thread uint32_t shim_tick_calls __attribute__((tls_model("initial-exec")));
#endif

/* What the loader keeps between looks at the policy file (load_priv.h). */
struct shim_watcher shim_watcher;
/* The thread id of the one thread looking at the sources (0: none); as load_owner (load.c), a
 * thread id, so that a stale owner is recognised and replaced. */
static atomic_int looking;


/* The identity of path as a fingerprint (a missing file has one too). errno preserved. */
static uint64_t path_id(const char *path)
{
    int saved = errno;
    struct stat st;
    uint64_t h = 0x70617468ull;
    if (stat(path, &st) == 0)
        h ^= ((uint64_t)st.st_dev * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)st.st_ino << 7) ^
             ((uint64_t)st.st_size << 23) ^ ((uint64_t)st.st_mtim.tv_sec * 1000000007ull) ^
             (uint64_t)st.st_mtim.tv_nsec;
    else
        h ^= (uint64_t)errno << 40;
    errno = saved;
    return h ? h : 1;
}

/* The identity of the files named (the policy file, and the user's own beside the host's). */
uint64_t shim_files_id(void)
{
    struct shim_watcher *w = &shim_watcher;
    uint64_t h = path_id(w->path);
    if (w->user[0])
        h ^= path_id(w->user) * 0xc2b2ae3d27d4eb4full;
    return h ? h : 1;
}

/* Whether path was modified at least SETTLE_NS ago (by the wall clock; a time in the future
 * cannot tell). errno preserved. */
static int path_settled(const char *path)
{
    int saved = errno;
    struct stat st;
    int ok = 1;
    if (stat(path, &st) == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts); /* the file's mtime is wall time */
        uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
        uint64_t m = (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec;
        ok = m <= now && now - m >= SETTLE_NS;
    }
    errno = saved;
    return ok;
}

/* The fingerprint look() compares: the policy's sources (as recorded in it when now == 0, as
 * they are when now != 0) and the watched files' own identity, main (the policy's record does
 * not depend on what the loader chose to record). */
uint64_t shim_sources_id(const struct sp_policy *obj, int now, uint64_t main)
{
    return (obj ? sp_policy_sources_id(obj, now) : 0) ^ (main * 0x9e3779b97f4a7c15ull);
}

/* A failed reload: the policy in force stays; with none ever loaded, what strict says. */
static void reload_failed(const struct shim_load_diag *diag, int strict, uint64_t id)
{
    struct shim_watcher *w = &shim_watcher;
    if (!w->obj) {
        uint32_t ops;
        struct sp_policy *pub = shim_load_failed(diag, strict, id, &ops, "load");
        shim_publish(pub, ops);
        return;
    }
    int again = diag->transient && w->retrying;
    w->retrying = diag->transient;
    if (diag->transient)
        w->next_look_ns = sp_diag_now_ns() + RETRY_NS;
    else
        w->fail_id = id;
    if (!again)
        shim_log(SP_LOG_FAILURES, "policy failed to reload (%s); the policy in force stays%s",
                 diag->text, diag->transient ? " (tried again every 50 ms)" : "");
}

/* Whether a policy has nothing in it: no rule, no default deny. */
static int policy_empty(const struct sp_policy *p)
{
    const struct sp_settings *s = sp_policy_settings(p);
    for (int op = 0; op < SP_OP_COUNT; op++)
        if (s->default_action[op] == SP_ACT_DENY)
            return 0;
    return sp_policy_rule_count(p) == 0 && !s->strict;
}

/* Whether the change to id has been seen, unchanged, for at least span (the first sighting is
 * remembered and the next look moved to when it could be). */
static int seen_for(uint64_t id, uint64_t now, uint64_t span)
{
    struct shim_watcher *w = &shim_watcher;
    if (w->seen_id != id) {
        w->seen_id = id;
        w->seen_ns = now;
    }
    if (now - w->seen_ns >= span)
        return 1;
    uint64_t at = w->seen_ns + span;
    if (at < w->next_look_ns)
        w->next_look_ns = at;
    return 0;
}

/* One look at the sources: reload when they changed since the policy in force was read (or
 * since the last failed attempt), unless this very version already failed. A change is read
 * only once it has settled (a file being rewritten in place may be half written): the file
 * named last modified SETTLE_NS ago or more, or, for an included file (whose time is not
 * known here), the same change seen SETTLE_NS apart; a copy that changed while it was read is
 * dropped and read again, and an empty rewrite of a policy that had rules is believed only
 * once it has stayed so for EMPTY_SETTLE_NS. */
static void look(uint64_t now)
{
    struct shim_watcher *w = &shim_watcher;
    if (!w->path[0])
        return;
    uint64_t main = shim_files_id();
    uint64_t id = w->obj ? shim_sources_id(w->obj, 1, main) : main;
    if ((w->obj && id == w->obj_id) || id == w->fail_id) {
        w->seen_id = 0;
        return;
    }
    if (w->secure && w->host && !shim_host_conf(1)) {
        w->fail_id = id; /* no longer root's alone: host_conf said so, once */
        return;
    }
    if (w->obj) {
        int files_settled = main != w->obj_main && path_settled(w->path) &&
                            (!w->user[0] || path_settled(w->user));
        if (!files_settled && !seen_for(id, now, SETTLE_NS))
            return;
    }
    struct shim_load_diag diag = { 0 };
    int strict;
    shim_depth++;
    struct sp_policy *p = shim_load_file(&diag, &strict);
    shim_depth--;
    if (!p) {
        reload_failed(&diag, strict, id);
        return;
    }
    if (shim_sources_id(p, 1, shim_files_id()) != shim_sources_id(p, 0, main)) {
        sp_policy_free(p); /* changed while it was read: again at the next look */
        w->seen_id = 0;
        if (now + RETRY_NS < w->next_look_ns)
            w->next_look_ns = now + RETRY_NS;
        return;
    }
    if (w->obj && policy_empty(p) && !policy_empty(w->obj) && !seen_for(id, now, EMPTY_SETTLE_NS)) {
        sp_policy_free(p); /* truncated to be written again, most likely: not yet */
        return;
    }
    if (w->obj && sp_policy_same(w->obj, p)) {
        /* Rewritten with what it held (config management, a touch): nothing to publish, and
         * nothing more kept mapped. The sources' new identities are the ones to watch. */
        w->obj_id = shim_sources_id(p, 0, main);
        w->obj_main = main;
        w->fail_id = 0;
        w->seen_id = 0;
        w->retrying = 0;
        sp_policy_free(p);
        shim_log(SP_LOG_DEBUG, "policy %s rewritten unchanged: the policy in force stays", w->path);
        return;
    }
    uint32_t ops;
    struct sp_policy *pub = shim_adopt(p, &ops, main, 0);
    /* The policy superseded stays mapped: a thread may be inside a hook with it, and per-fd
     * state (pin) and the log may point at its rules. */
    shim_publish(pub, ops);
    shim_log(SP_LOG_ALL, "policy %s reloaded: %zu rules", w->path, sp_policy_rule_count(p));
}

struct sp_policy *shim_recheck(void)
{
    struct shim_watcher *w = &shim_watcher;
    int saved = errno;
    struct shim_quiet q;
    int me = shim_thread_id(), cur = atomic_load_explicit(&looking, memory_order_relaxed);
    if (cur != 0 && cur != me && shim_thread_alive(cur)) {
        errno = saved; /* another thread looks (the deadline passes for all at once) */
        return atomic_load_explicit(&shim_policy, memory_order_acquire);
    }
    /* Signals and cancellation held off first: nothing can nest between taking `looking` and
     * giving it back, or end the thread in between (a longjmp or a cancel would leave it
     * taken for good). */
    shim_quiet_enter(&q);
    cur = 0;
    if (!atomic_compare_exchange_strong(&looking, &cur, me)) {
        /* Another thread looks: go on as we are. An owner that is gone (a fork's parent's
         * thread) will never finish: take its place. This very thread cannot be looking
         * already (nothing nests here with its signals held), so that owner is stale too. */
        if (cur != me &&
            (shim_thread_alive(cur) || !atomic_compare_exchange_strong(&looking, &cur, me)))
            goto out;
    }
    uint64_t now = sp_diag_now_ns();
    double ticks_per_ns = shim_cycles_per_ns();
    if (now >= w->next_look_ns) {
        w->next_look_ns = now + LOOK_EVERY_NS;
        look(now);
    }
    /* The clock again in a quarter of a second, or sooner when a look is due sooner (a
     * retry, a change settling). */
    uint64_t wait_ns = CLOCK_EVERY_NS;
    if (w->next_look_ns > now && w->next_look_ns - now < wait_ns)
        wait_ns = w->next_look_ns - now;
    uint64_t ticks = TICKS_UNCALIBRATED;
    if (ticks_per_ns > 0)
        ticks = (uint64_t)(ticks_per_ns * (double)wait_ns) + 1;
#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__)
    atomic_store_explicit(&shim_recheck_at, w->path[0] ? shim_tick() + ticks : ~(uint64_t)0,
                          memory_order_relaxed);
#else
    (void)ticks;
    atomic_store_explicit(&shim_recheck_at, w->path[0] ? 1 : ~(uint64_t)0, memory_order_relaxed);
#endif
    atomic_store_explicit(&looking, 0, memory_order_release);
out:
    shim_quiet_leave(&q);
    errno = saved;
    return atomic_load_explicit(&shim_policy, memory_order_acquire);
}

/* ---- calls under SHIM_WATCH (state.h): a policy of log settings alone ---- */

long shim_watch_recheck(long r)
{
    shim_recheck(); /* errno preserved */
    return r;
}

long shim_watch_failed(long r, enum sp_op op, const struct shim_call *c)
{
    int err = errno;
    if (shim_depth == 0 && shim_log_wants(err)) {
        if (op == SP_OP_SOCKET)
            shim_log_watched(op, -1, c->a, c->b, NULL, 0, err);
        else if (op == SP_OP_CONNECT || op == SP_OP_BIND || op == SP_OP_SEND)
            shim_log_watched(op, c->a, 0, 0, c->sa, c->len, err);
        else
            shim_log_watched(op, c->a, 0, 0, NULL, 0, err);
    }
    if (shim_idle_due())
        shim_recheck();
    errno = err;
    return r;
}
