/* shim/state.c: start-up, the lazy policy load, the watch and live reload. The decision is
 * shim/decide.c's; reading a socket's kind from the kernel is shim/fdtab.c's. */
#include "decide.h"
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fdtab.h"
#include "log.h"

#ifndef SP_SYSCONFDIR
#define SP_SYSCONFDIR "/etc"
#endif
#define SYSTEM_CONF SP_SYSCONFDIR "/sockpolicy.conf"

_Atomic(struct sp_policy *) shim_policy;
_Atomic uint32_t shim_ops;
_Atomic uint64_t shim_recheck_at = ~(uint64_t)0;
__thread int shim_depth __attribute__((tls_model("initial-exec")));
#if !defined(__x86_64__) && !defined(__i386__) && !defined(__aarch64__)
__thread uint32_t shim_tick_calls __attribute__((tls_model("initial-exec")));
#endif

/* The thread id of the thread loading the first policy, or of the one looking at the sources
 * (0: none). A thread id, not a flag: a stale owner (its thread gone, or a fork's parent's)
 * is recognised and replaced. */
static atomic_int load_owner;
static atomic_int looking;

/* The policy waits for the first socket call, and each real function for its first call (see
 * real.h): a process that never touches a socket pays only this. fd 2 is noted now, while it
 * is still stderr. */
__attribute__((constructor)) static void shim_start(void)
{
    shim_log_early();
}

static int thread_id(void)
{
    return (int)syscall(SYS_gettid);
}

/* Whether thread tid of this process still exists. errno preserved. */
static int thread_alive(int tid)
{
    int saved = errno;
    int alive = syscall(SYS_tgkill, (int)syscall(SYS_getpid), tid, 0) == 0 || errno != ESRCH;
    errno = saved;
    return alive;
}

/* The loader runs with every signal blocked and cancellation disabled: no signal handler can
 * run nested in it (and find the policy half loaded, or longjmp out of it), and no
 * pthread_cancel can end the thread inside it. errno preserved. */
struct quiet {
    sigset_t mask;
    int cancel;
};
static void quiet_enter(struct quiet *q)
{
    int saved = errno;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &q->mask);
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &q->cancel);
    errno = saved;
}
static void quiet_leave(const struct quiet *q)
{
    int saved = errno;
    pthread_setcancelstate(q->cancel, NULL);
    pthread_sigmask(SIG_SETMASK, &q->mask, NULL);
    errno = saved;
}

struct first_diag {
    int have;
    int transient;       /* a file could not be read for a reason that passes (EMFILE, ENOMEM) */
    int top_unreadable;  /* the top file itself could not be opened */
    const char *top;
    char text[400];
};

/* Whether msg names a failure that may pass by itself: the loader reports an open or read
 * failure with strerrordesc_np's text. */
static int transient_text(const char *msg)
{
    static const int errs[] = { EMFILE, ENFILE, ENOMEM, EINTR, EAGAIN };
    if (!msg)
        return 0;
    if (strstr(msg, "out of memory"))
        return 1;
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        const char *t = strerrordesc_np(errs[i]);
        if (t && strstr(msg, t))
            return 1;
    }
    return 0;
}

static void keep_first_error(void *ctx, const struct sp_diag *d)
{
    struct first_diag *fd = ctx;
    if (d->severity == 1 && d->line == 0 && d->msg &&
        !strncmp(d->msg, "compiled policy refused", 23)) {
        /* The loader read the text instead of a compiled file that was not made from it
         * (policy/cache.c): said, once per load, since an operator's .spc is being ignored. */
        shim_log(SP_LOG_FAILURES, "%s: %s", d->file ? d->file : "?", d->msg);
        return;
    }
    if (d->severity != 0)
        return;
    if (transient_text(d->msg))
        fd->transient = 1;
    if (d->line == 0 && d->file && fd->top && !strcmp(d->file, fd->top) && d->msg &&
        !strncmp(d->msg, "cannot open", 11))
        fd->top_unreadable = 1;
    if (fd->have)
        return;
    fd->have = 1;
    shim_fmt(fd->text, sizeof fd->text, "%s:%u:%u: %s", d->file ? d->file : "?", d->line, d->col,
             d->msg ? d->msg : "error");
}

/* Up to 40 bytes of an environment value, fit for a log line (control bytes as '?'). */
static const char *env_shown(const char *v, char *buf, size_t size)
{
    size_t i = 0;
    for (; v[i] && i + 4 < size && i < 40; i++)
        buf[i] = (unsigned char)v[i] < 0x20 || v[i] == 0x7f ? '?' : v[i];
    if (v[i])
        buf[i++] = '.', buf[i++] = '.', buf[i++] = '.';
    buf[i] = 0;
    return buf;
}

/* SOCKPOLICY_TRACE: exactly "1" traces; unset, empty or "0" does not; any other value is
 * refused with one line and ignored. */
static int trace_wanted(void)
{
    const char *v = getenv("SOCKPOLICY_TRACE");
    char shown[48];
    if (!v || !*v || !strcmp(v, "0"))
        return 0;
    if (!strcmp(v, "1"))
        return 1;
    shim_log(SP_LOG_FAILURES, "SOCKPOLICY_TRACE='%s' refused (1 traces; 0, empty or unset does "
             "not): not tracing", env_shown(v, shown, sizeof shown));
    return 0;
}

/* SOCKPOLICY_CONF, made absolute once (a later chdir does not move it), into buf (PATH_MAX).
 * 1 with the path, 0 when unset or empty, -1 when refused (logged once): longer than 4095
 * bytes, or relative with no working directory to resolve it against. */
static int user_conf(char *buf, size_t size)
{
    const char *env = getenv("SOCKPOLICY_CONF");
    char shown[48];
    if (!env || !*env)
        return 0;
    size_t n = strlen(env), d = 0;
    if (n >= size) {
        shim_log(SP_LOG_FAILURES, "SOCKPOLICY_CONF='%s' refused: %zu bytes, the limit is %zu; "
                 "no policy of its own", env_shown(env, shown, sizeof shown), n, size - 1);
        return -1;
    }
    if (env[0] != '/') {
        if (!getcwd(buf, size)) {
            char eb[24];
            shim_log(SP_LOG_FAILURES, "SOCKPOLICY_CONF='%s' refused: relative, and the working "
                     "directory is unknown (%s); no policy of its own",
                     env_shown(env, shown, sizeof shown), shim_errname(errno, eb, sizeof eb));
            return -1;
        }
        d = strlen(buf);
        if (d + 1 + n >= size) {
            shim_log(SP_LOG_FAILURES, "SOCKPOLICY_CONF='%s' refused: longer than %zu bytes made "
                     "absolute; no policy of its own", env_shown(env, shown, sizeof shown),
                     size - 1);
            return -1;
        }
        if (d == 0 || buf[d - 1] != '/')
            buf[d++] = '/';
    }
    memcpy(buf + d, env, n + 1);
    return 1;
}

/* Whether the host-wide policy file is there (a path that exists but cannot be looked at counts
 * as there: it then fails to load, which denies). Under AT_SECURE only a root-owned file that
 * nobody else may write counts (logged once when it is not). */
static int host_conf(int secure)
{
    struct stat st;
    if (stat(SYSTEM_CONF, &st) != 0)
        return errno != ENOENT && errno != ENOTDIR;
    if (secure && (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))) {
        shim_log(SP_LOG_FAILURES, "ignoring %s in a setuid/setgid process: not owned by root "
                                  "or writable by others", SYSTEM_CONF);
        return 0;
    }
    return 1;
}

static int same_file(const char *a, const char *b)
{
    int saved = errno;
    struct stat sa, sb;
    int same = stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
               sa.st_ino == sb.st_ino;
    errno = saved;
    return same;
}

/* The name `prog` rules match: the basename of the executable the kernel ran, not argv[0]
 * (which the caller chooses: exec -a); program_invocation_short_name only without /proc. */
static const char *prog_name(void)
{
    static char exe[4096];
    int saved = errno;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    errno = saved;
    const char *name = sp_prog_from_exe(exe, n); /* as the supervisor reads it */
    return name ? name : program_invocation_short_name;
}

/* What the loader keeps between looks at the policy file. Written only by the first loader
 * and then by the one thread that holds `looking`. */
static struct {
    char path[4096];       /* the file watched: the host's, or the user's; empty when none */
    char user[4096];       /* with the host's: the user's own policy (SOCKPOLICY_CONF), or "" */
    int secure;
    int host;              /* path is the host-wide policy */
    int trace;             /* SOCKPOLICY_TRACE=1 under the host's policy: log every event */
    struct sp_policy *obj; /* the policy in force, also while published as SHIM_IDLE */
    uint64_t obj_id;       /* its sources' fingerprint when it was read, and the files' */
    uint64_t obj_main;     /* the files' own identity (main_id) when it was read */
    uint64_t fail_id;      /* the sources' fingerprint when a load last failed (0: none) */
    uint64_t seen_id, seen_ns; /* a change first seen (settle), and when */
    uint64_t cal_tick, cal_ns; /* a reference point for the tick rate */
    double ticks_per_ns;   /* 0 until calibrated */
    uint64_t next_look_ns;
    int retrying;          /* the last load failed for a passing reason (logged once) */
} w;

#define LOOK_EVERY_NS 1000000000ull  /* stat the sources at most once a second */
#define CLOCK_EVERY_NS 250000000ull  /* and read the clock about four times a second */
#define RETRY_NS 50000000ull         /* a load that failed for a passing reason: again soon */
#define SETTLE_NS 300000000ull       /* a file changed less than this ago may be half written */
#define EMPTY_SETTLE_NS 1000000000ull /* an empty rewrite of rules: until it has stayed so */
#define TICKS_UNCALIBRATED 20000000ull /* 20 ms at 1 GHz, before the rate is known */

static uint64_t clock_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
static uint64_t mono_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

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
static uint64_t main_id(void)
{
    uint64_t h = path_id(w.path);
    if (w.user[0])
        h ^= path_id(w.user) * 0xc2b2ae3d27d4eb4full;
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
        uint64_t now = clock_ns(CLOCK_REALTIME);
        uint64_t m = (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec;
        ok = m <= now && now - m >= SETTLE_NS;
    }
    errno = saved;
    return ok;
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
 * one word, valid for keys_p. Written by the one thread that loads (keys_p NULL while the
 * word changes); read by decide_remember, which believes the word only when keys_p is p both
 * before and after reading it. */
_Atomic(const struct sp_policy *) shim_keys_p;
_Atomic uint32_t shim_keys_tests;
#define keys_p shim_keys_p
#define keys_tests shim_keys_tests

static void keys_of(const struct sp_policy *p)
{
    uint32_t t = 0;
    for (int op = 0; op < SP_OP_COUNT; op++)
        t |= sp_policy_tests(p, (enum sp_op)op) << (op * 4);
    atomic_store_explicit(&keys_p, NULL, memory_order_release);
    atomic_store_explicit(&keys_tests, t, memory_order_release);
    atomic_store_explicit(&keys_p, p, memory_order_release);
}


/* Appends s to the text being built (failed is set, for good, when it does not fit). */
struct text {
    char *buf;
    size_t len, size;
    int failed;
};
static void put(struct text *t, const char *s)
{
    size_t n = strlen(s);
    if (t->failed || t->len + n >= t->size) {
        t->failed = 1;
        return;
    }
    memcpy(t->buf + t->len, s, n + 1);
    t->len += n;
}

/* A path the policy language can carry as one word. */
static int plain_path(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == '#' || *s == '*' || *s == '?' || *s == '[')
            return 0;
    return 1;
}

/* The host's policy with the user's own and/or tracing stacked after it (see libsockpolicy(7),
 * ENVIRONMENT): the host's rules first (the first match decides), a catch-all deny for each
 * operation the host denies by default (so that no later rule lets it through), the user's
 * rules, and the host's strict and log destination again at the end (the last setting counts),
 * with the higher of the two log levels. host is freed. NULL with the error in *diag. */
static struct sp_policy *stack(struct sp_policy *host, struct first_diag *diag)
{
    static char buf[3 * 4096 + 2048]; /* only the thread that loads gets here */
    struct text t = { buf, 0, sizeof buf, 0 };
    struct sp_settings hs = *sp_policy_settings(host), us;
    int have_user = 0;
    sp_policy_free(host);
    memset(&us, 0, sizeof us);
    if (w.user[0]) {
        struct first_diag ud = { .top = w.user };
        struct sp_policy *u = plain_path(w.user)
            ? sp_policy_load_st(w.user, SP_LOAD_NO_WARNINGS | SP_LOAD_CACHE, keep_first_error,
                                &ud, &us)
            : NULL;
        if (u) {
            have_user = 1;
            sp_policy_free(u);
        } else {
            shim_log(SP_LOG_FAILURES, "SOCKPOLICY_CONF %s not added to the host policy %s (%s)",
                     w.user, w.path, ud.have ? ud.text : "a path with blanks, '#' or wildcards");
        }
    }
    put(&t, "include ");
    put(&t, w.path);
    put(&t, "\n");
    for (int op = 0; op < SP_OP_COUNT; op++) {
        if (hs.default_action[op] != SP_ACT_DENY)
            continue;
        const char *e = sp_errno_name(hs.default_errno[op] ? hs.default_errno[op] : EACCES);
        put(&t, "deny ");
        put(&t, sp_op_name((enum sp_op)op));
        if (e) {
            put(&t, " errno=");
            put(&t, e);
        }
        put(&t, "\n");
    }
    if (have_user) {
        put(&t, "include ");
        put(&t, w.user);
        put(&t, "\n");
    }
    if (w.trace) {
        for (int op = 0; op < SP_OP_COUNT; op++) {
            if (hs.default_action[op] == SP_ACT_DENY || (have_user && us.default_action[op] == SP_ACT_DENY))
                continue;
            put(&t, "pass ");
            put(&t, sp_op_name((enum sp_op)op));
            put(&t, "\n");
        }
    }
    static const char *const level[] = { "off", "failures", "all", "debug" };
    enum sp_log_level lv = hs.log_level;
    if (have_user && us.log_level > lv)
        lv = us.log_level;
    if (w.trace && lv < SP_LOG_ALL)
        lv = SP_LOG_ALL;
    put(&t, "log ");
    put(&t, level[lv]);
    put(&t, "\n");
    if (hs.strict)
        put(&t, "strict\n");
    if (hs.log_summary || (have_user && us.log_summary) || w.trace)
        put(&t, "log-summary\n");
    static const char *const to[] = { "", "stderr", "syslog", "journald", "file " };
    if (hs.log_target != SP_LOGTO_DEFAULT &&
        (hs.log_target != SP_LOGTO_FILE || plain_path(hs.log_file))) {
        put(&t, "log-to ");
        put(&t, to[hs.log_target]);
        if (hs.log_target == SP_LOGTO_FILE)
            put(&t, hs.log_file);
        put(&t, "\n");
    }
    if (hs.log_format == SP_FMT_JSON)
        put(&t, "log-format json\n");
    if (!plain_path(w.path) || t.failed) {
        shim_fmt(diag->text, sizeof diag->text, "%s: cannot stack the user's policy on it", w.path);
        diag->have = 1;
        errno = ENAMETOOLONG;
        return NULL;
    }
    return sp_policy_load_mem(SP_SYSCONFDIR "/sockpolicy.conf (with SOCKPOLICY_CONF)", t.buf,
                              t.len, keep_first_error, diag);
}

/* Loads and specialises what w names (the file; or the host's with the user's stacked), the
 * compiled form first. NULL with the first error in *diag and, in *strict, whether the policy
 * asked for strict (decided from the lines the parser read: a `strict` or `strict on` in any
 * file it got to; and a host policy whose file cannot be opened counts as strict). */
static struct sp_policy *load_file(struct first_diag *diag, int *strict)
{
    struct sp_settings st;
    diag->top = w.path;
    *strict = 0;
    struct sp_policy *p = sp_policy_load_st(w.path, SP_LOAD_NO_WARNINGS | SP_LOAD_CACHE,
                                            keep_first_error, diag, &st);
    if (!p)
        *strict = st.strict || (w.host && diag->top_unreadable);
    else if (w.user[0] || w.trace) {
        p = stack(p, diag);
        *strict = !p && st.strict;
    }
    if (p && sp_policy_specialise(p, prog_name(), getuid()) != 0) {
        shim_fmt(diag->text, sizeof diag->text, "%s: cannot specialise for this process", w.path);
        diag->have = 1;
        diag->transient = errno == ENOMEM;
        sp_policy_free(p);
        p = NULL;
    }
    if (!p && !diag->have) {
        char eb[24];
        shim_fmt(diag->text, sizeof diag->text, "%s: %s", w.path, shim_errname(errno, eb, sizeof eb));
        diag->have = 1;
    }
    if (!p && errno == ENOMEM)
        diag->transient = 1;
    return p;
}

/* Publishes pub with its op bits: the bits first, so a reader that sees pub sees them. Under
 * SHIM_IDLE and SHIM_WATCH no hook keeps the fd table (close does not forget, socket does not
 * record): when a policy that decides follows one, what the table holds is forgotten first
 * (kinds are then read from the kernel again, as for a descriptor never seen). */
static void publish(struct sp_policy *pub, uint32_t ops)
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
 * rule at all and asks for a log of failures. */
/* The fingerprint look() compares: the policy's sources (as recorded in it when now == 0, as
 * they are when now != 0) and the watched files' own identity, main (the policy's record does
 * not depend on what the loader chose to record). */
static uint64_t watch_id(const struct sp_policy *obj, int now, uint64_t main)
{
    return (obj ? sp_policy_sources_id(obj, now) : 0) ^ (main * 0x9e3779b97f4a7c15ull);
}

/* What a loaded policy is published as: itself, or SHIM_IDLE when it has nothing for this
 * process (then the hooks pass through after the reload check). first: the load at start-up,
 * before any other thread can log (the logger is set up afresh); else a reload while other
 * threads may be logging. */
static struct sp_policy *adopt(struct sp_policy *p, uint32_t *ops, uint64_t main, int first)
{
    if (first)
        shim_log_setup_policy(p, w.secure);
    else
        shim_log_reload_policy(p, w.secure);
    w.obj = p;
    w.obj_id = watch_id(p, 0, main); /* main: the files' identity before they were read */
    w.obj_main = main;
    w.fail_id = 0;
    w.seen_id = 0;
    w.retrying = 0;
    *ops = ops_of(p);
    int logs = 0;
    if (!*ops && sp_policy_rule_count(p) == 0 && shim_log_level != SP_LOG_OFF &&
        (sp_policy_settings(p)->log_said || shim_log_env_asks())) {
        /* A policy of log settings alone logs what they say about every call: failures
         * from the calls' results (SHIM_WATCH, no fd table: a compare a call);
         * every event, or a summary, through the routed path of every op, which follows
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
static struct sp_policy *failed(const struct first_diag *diag, int strict, uint64_t id,
                                uint32_t *ops, const char *what)
{
    int again = diag->transient && w.retrying; /* logged when the streak began */
    w.retrying = diag->transient;
    if (diag->transient)
        w.next_look_ns = mono_ns() + RETRY_NS; /* tried again soon, whatever the file does */
    else
        w.fail_id = id;
    if (!again)
        shim_log(SP_LOG_FAILURES, "policy failed to %s (%s); %s%s", what, diag->text,
                 strict ? "strict: every socket call is denied" : "running without a policy",
                 diag->transient ? " until it can be read (tried again every 50 ms)" : "");
    *ops = strict ? (1u << SP_OP_COUNT) - 1 : 0;
    return strict ? SHIM_DENY_ALL : SHIM_IDLE;
}

static struct sp_policy *load_now(uint32_t *ops)
{
    *ops = 0;
    w.secure = getauxval(AT_SECURE) != 0;
    shim_log_setup(NULL, w.secure);
    int trace = !w.secure && trace_wanted();
    char user[4096];
    int have_user = w.secure ? 0 : user_conf(user, sizeof user) > 0;
    w.host = host_conf(w.secure);
    if (!w.host) {
        if (trace) { /* sockpolicy run --trace: no file, nothing to watch */
            struct sp_policy *t = shim_log_trace_policy(w.secure);
            if (t) {
                *ops = ops_of(t);
                return t;
            }
        }
        if (!have_user)
            return SHIM_NO_POLICY; /* nothing to watch: every hook's one-compare exit */
        memcpy(w.path, user, strlen(user) + 1);
    } else {
        /* The host's policy always applies; the user's environment may only add to it. */
        memcpy(w.path, SYSTEM_CONF, sizeof SYSTEM_CONF);
        if (have_user && !same_file(user, SYSTEM_CONF))
            memcpy(w.user, user, strlen(user) + 1);
        w.trace = trace;
    }
    struct first_diag diag;
    struct sp_policy *p = NULL;
    uint64_t id = 0;
    int strict = 0;
    for (int tries = 0; tries < 3; tries++) {
        /* A file that changes while it is read is read again (a torn copy may parse). */
        memset(&diag, 0, sizeof diag);
        id = main_id();
        p = load_file(&diag, &strict);
        if (!p || watch_id(p, 1, main_id()) == watch_id(p, 0, id))
            break;
        if (tries < 2)
            sp_policy_free(p);
    }
    w.cal_ns = mono_ns();
    w.next_look_ns = w.cal_ns + LOOK_EVERY_NS;
    w.cal_tick = shim_tick();
    atomic_store_explicit(&shim_recheck_at, w.cal_tick + TICKS_UNCALIBRATED, memory_order_relaxed);
    if (!p)
        return failed(&diag, strict, id, ops, "load");
    shim_log(SP_LOG_DEBUG, "policy %s loaded: %zu rules", w.path, sp_policy_rule_count(p));
    return adopt(p, ops, id, 1);
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
        publish(SHIM_NO_POLICY, 0);
        p = SHIM_NO_POLICY;
        goto out;
    }
    struct quiet q;
    quiet_enter(&q);
    int me = thread_id();
    for (unsigned waits = 0; !(p = atomic_load_explicit(&shim_policy, memory_order_acquire));) {
        int cur = 0;
        if (atomic_compare_exchange_strong(&load_owner, &cur, me) ||
            ((cur == me || !thread_alive(cur)) &&
             atomic_compare_exchange_strong(&load_owner, &cur, me))) {
            /* Ours (an owner that is this very thread, or gone, left it: it could not have
             * finished, with signals and cancellation held off, so it is taken over). */
            if ((p = atomic_load_explicit(&shim_policy, memory_order_acquire)) == NULL) {
                uint32_t ops;
                shim_depth++;
                p = load_now(&ops);
                shim_depth--;
                publish(p, ops);
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
    quiet_leave(&q);
out:
    errno = saved;
    return p;
}

/* A failed reload: the policy in force stays; with none ever loaded, what strict says. */
static void reload_failed(const struct first_diag *diag, int strict, uint64_t id)
{
    if (!w.obj) {
        uint32_t ops;
        struct sp_policy *pub = failed(diag, strict, id, &ops, "load");
        publish(pub, ops);
        return;
    }
    int again = diag->transient && w.retrying;
    w.retrying = diag->transient;
    if (diag->transient)
        w.next_look_ns = mono_ns() + RETRY_NS;
    else
        w.fail_id = id;
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
    if (w.seen_id != id) {
        w.seen_id = id;
        w.seen_ns = now;
    }
    if (now - w.seen_ns >= span)
        return 1;
    uint64_t at = w.seen_ns + span;
    if (at < w.next_look_ns)
        w.next_look_ns = at;
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
    if (!w.path[0])
        return;
    uint64_t main = main_id();
    uint64_t id = w.obj ? watch_id(w.obj, 1, main) : main;
    if ((w.obj && id == w.obj_id) || id == w.fail_id) {
        w.seen_id = 0;
        return;
    }
    if (w.secure && w.host && !host_conf(1)) {
        w.fail_id = id; /* no longer root's alone: host_conf said so, once */
        return;
    }
    if (w.obj) {
        int files_settled = main != w.obj_main && path_settled(w.path) &&
                            (!w.user[0] || path_settled(w.user));
        if (!files_settled && !seen_for(id, now, SETTLE_NS))
            return;
    }
    struct first_diag diag = { 0 };
    int strict;
    shim_depth++;
    struct sp_policy *p = load_file(&diag, &strict);
    shim_depth--;
    if (!p) {
        reload_failed(&diag, strict, id);
        return;
    }
    if (watch_id(p, 1, main_id()) != watch_id(p, 0, main)) {
        sp_policy_free(p); /* changed while it was read: again at the next look */
        w.seen_id = 0;
        if (now + RETRY_NS < w.next_look_ns)
            w.next_look_ns = now + RETRY_NS;
        return;
    }
    if (w.obj && policy_empty(p) && !policy_empty(w.obj) && !seen_for(id, now, EMPTY_SETTLE_NS)) {
        sp_policy_free(p); /* truncated to be written again, most likely: not yet */
        return;
    }
    if (w.obj && sp_policy_same(w.obj, p)) {
        /* Rewritten with what it held (config management, a touch): nothing to publish, and
         * nothing more kept mapped. The sources' new identities are the ones to watch. */
        w.obj_id = watch_id(p, 0, main);
        w.obj_main = main;
        w.fail_id = 0;
        w.seen_id = 0;
        w.retrying = 0;
        sp_policy_free(p);
        shim_log(SP_LOG_DEBUG, "policy %s rewritten unchanged: the policy in force stays", w.path);
        return;
    }
    uint32_t ops;
    struct sp_policy *pub = adopt(p, &ops, main, 0);
    /* The policy superseded stays mapped: a thread may be inside a hook with it, and per-fd
     * state (pin) and the log may point at its rules. */
    publish(pub, ops);
    shim_log(SP_LOG_ALL, "policy %s reloaded: %zu rules", w.path, sp_policy_rule_count(p));
}

struct sp_policy *shim_recheck(void)
{
    int saved = errno;
    struct quiet q;
    int me = thread_id(), cur = atomic_load_explicit(&looking, memory_order_relaxed);
    if (cur != 0 && cur != me && thread_alive(cur)) {
        errno = saved; /* another thread looks (the deadline passes for all at once) */
        return atomic_load_explicit(&shim_policy, memory_order_acquire);
    }
    /* Signals and cancellation held off first: nothing can nest between taking `looking` and
     * giving it back, or end the thread in between (a longjmp or a cancel would leave it
     * taken for good). */
    quiet_enter(&q);
    cur = 0;
    if (!atomic_compare_exchange_strong(&looking, &cur, me)) {
        /* Another thread looks: go on as we are. An owner that is gone (a fork's parent's
         * thread) will never finish: take its place. This very thread cannot be looking
         * already (nothing nests here with its signals held), so that owner is stale too. */
        if (cur != me && (thread_alive(cur) || !atomic_compare_exchange_strong(&looking, &cur, me)))
            goto out;
    }
    uint64_t t = shim_tick(), now = mono_ns();
    if (t < w.cal_tick || now < w.cal_ns) {
        w.cal_tick = t; /* the counter went back (another CPU's, a migrated VM): start again */
        w.cal_ns = now;
        w.ticks_per_ns = 0;
    } else if (now - w.cal_ns >= 50000000ull) {
        w.ticks_per_ns = (double)(t - w.cal_tick) / (double)(now - w.cal_ns);
    }
    if (now >= w.next_look_ns) {
        w.next_look_ns = now + LOOK_EVERY_NS;
        look(now);
    }
    /* The clock again in a quarter of a second, or sooner when a look is due sooner (a
     * retry, a change settling). */
    uint64_t wait_ns = CLOCK_EVERY_NS;
    if (w.next_look_ns > now && w.next_look_ns - now < wait_ns)
        wait_ns = w.next_look_ns - now;
    uint64_t ticks = TICKS_UNCALIBRATED;
    if (w.ticks_per_ns > 0)
        ticks = (uint64_t)(w.ticks_per_ns * (double)wait_ns) + 1;
#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__)
    atomic_store_explicit(&shim_recheck_at, w.path[0] ? shim_tick() + ticks : ~(uint64_t)0,
                          memory_order_relaxed);
#else
    (void)ticks;
    atomic_store_explicit(&shim_recheck_at, w.path[0] ? 1 : ~(uint64_t)0, memory_order_relaxed);
#endif
    atomic_store_explicit(&looking, 0, memory_order_release);
out:
    quiet_leave(&q);
    errno = saved;
    return atomic_load_explicit(&shim_policy, memory_order_acquire);
}
