/* shim/state.c: start-up, the lazy policy load, and the decision shared by every hook. */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

static atomic_int load_state; /* 0 idle, else the pid of the loader */
static __thread int loading_here __attribute__((tls_model("initial-exec")));

/* The policy waits for the first socket call, and each real function for its first call (see
 * real.h): a process that never touches a socket pays only this. fd 2 is noted now, while it
 * is still stderr. */
__attribute__((constructor)) static void shim_start(void)
{
    shim_log_early();
}

struct first_diag {
    int have;
    char text[400];
};

static void keep_first_error(void *ctx, const struct sp_diag *d)
{
    struct first_diag *fd = ctx;
    if (d->severity != 0 || fd->have)
        return;
    fd->have = 1;
    shim_fmt(fd->text, sizeof fd->text, "%s:%u:%u: %s", d->file ? d->file : "?", d->line, d->col,
             d->msg ? d->msg : "error");
}

/* The file's own `strict` line, read raw: a policy that failed to parse cannot tell us. */
static int file_says_strict(const char *path)
{
    char buf[8192];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    shim_real.close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        while (*line == ' ' || *line == '\t')
            line++;
        if (!strncmp(line, "strict", 6) && strchr(" \t\r\n;#", line[6] ? line[6] : '\n'))
            return 1;
    }
    return 0;
}

/* Whether the file says how to log (a `log`, `log-to`, `log-format` or `log-summary` line),
 * read raw like `strict`: a policy with no rule then logs every call's result as its level
 * says, while an empty one (the file installed in /etc, all comments) stays silent. A
 * compiled file (binary) counts as saying so: its settings are all it can hold. */
static int file_says_log(const char *path)
{
    char buf[8192];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    shim_real.close(fd);
    if (n <= 0)
        return 0;
    if (memchr(buf, 0, (size_t)n))
        return 1;
    buf[n] = 0;
    for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        while (*line == ' ' || *line == '\t')
            line++;
        if (!strncmp(line, "log", 3) && strchr(" \t-", line[3] ? line[3] : '\n'))
            return 1;
    }
    return 0;
}

/* Which file to load, or NULL for none. Under AT_SECURE only a root-owned system file that
 * nobody else may write. */
static const char *policy_path(int secure)
{
    if (!secure) {
        const char *env = getenv("SOCKPOLICY_CONF");
        if (env && *env)
            return env;
    }
    struct stat st;
    if (stat(SYSTEM_CONF, &st) != 0)
        return NULL;
    if (secure && (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))) {
        shim_log(SP_LOG_FAILURES, "ignoring %s in a setuid/setgid process: not owned by root "
                                  "or writable by others", SYSTEM_CONF);
        return NULL;
    }
    return SYSTEM_CONF;
}

/* What the loader keeps between looks at the policy file. Written only by the first loader
 * and then by the one thread that holds `looking`. */
static struct {
    char path[4096];       /* the file watched; empty when none */
    int secure;
    struct sp_policy *obj; /* the policy in force, also while published as SHIM_IDLE */
    uint64_t obj_id;       /* its sources' fingerprint when it was read, and the file's */
    uint64_t fail_id;      /* the sources' fingerprint when a load last failed (0: none) */
    uint64_t cal_tick, cal_ns; /* a reference point for the tick rate */
    double ticks_per_ns;   /* 0 until calibrated */
    uint64_t last_look_ns;
} w;
static atomic_int looking; /* 0, or the pid of the thread that looks (fork: a stale owner) */

#define LOOK_EVERY_NS 1000000000ull  /* stat the sources at most once a second */
#define CLOCK_EVERY_NS 250000000ull  /* and read the clock about four times a second */
#define TICKS_UNCALIBRATED 20000000ull /* 20 ms at 1 GHz, before the rate is known */

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
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

/* The bits of an inet key's first word (family, port, IPv4 address) that op's rules in p may
 * test; all of them when not known for p. */
static uint64_t key_mask(const struct sp_policy *p, enum sp_op op)
{
    if (atomic_load_explicit(&keys_p, memory_order_acquire) != p)
        return ~(uint64_t)0;
    uint32_t t = atomic_load_explicit(&keys_tests, memory_order_acquire) >> (op * 4) & 15;
    if (atomic_load_explicit(&keys_p, memory_order_acquire) != p)
        return ~(uint64_t)0;
    uint64_t m = ~(uint64_t)0;
    if (!(t & SP_TESTS_PORT))
        m &= ~(uint64_t)0xffff0000u; /* bytes 2-3: the port */
    if (!(t & SP_TESTS_ADDR))
        m &= 0xffffffffu;            /* bytes 4-7: the IPv4 address */
    return m;
}

/* Loads and specialises w.path, compiled form first. NULL with the first error in *diag. */
static struct sp_policy *load_file(struct first_diag *diag)
{
    struct sp_policy *p = sp_policy_load_ex(w.path, SP_LOAD_NO_WARNINGS | SP_LOAD_CACHE,
                                            keep_first_error, diag);
    if (p && sp_policy_specialise(p, program_invocation_short_name, getuid()) != 0) {
        shim_fmt(diag->text, sizeof diag->text, "%s: cannot specialise for this process", w.path);
        diag->have = 1;
        sp_policy_free(p);
        p = NULL;
    }
    if (!p && !diag->have) {
        char eb[24];
        shim_fmt(diag->text, sizeof diag->text, "%s: %s", w.path, shim_errname(errno, eb, sizeof eb));
        diag->have = 1;
    }
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
 * they are when now != 0) and the watched file's own identity, main (the policy's record does
 * not depend on what the loader chose to record). */
static uint64_t watch_id(const struct sp_policy *obj, int now, uint64_t main)
{
    return (obj ? sp_policy_sources_id(obj, now) : 0) ^ (main * 0x9e3779b97f4a7c15ull);
}

/* first: the load at start-up, before any other thread can log (the logger is set up
 * afresh); else a reload while other threads may be logging. */
static struct sp_policy *adopt(struct sp_policy *p, uint32_t *ops, uint64_t main, int first)
{
    if (first)
        shim_log_setup_policy(p, w.secure);
    else
        shim_log_reload_policy(p, w.secure);
    w.obj = p;
    w.obj_id = watch_id(p, 0, main); /* main: the file's identity before it was read */
    w.fail_id = 0;
    *ops = ops_of(p);
    int logs = 0;
    if (!*ops && sp_policy_rule_count(p) == 0 && shim_log_level != SP_LOG_OFF &&
        (file_says_log(w.path) || shim_log_env_asks())) {
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

static struct sp_policy *load_now(uint32_t *ops)
{
    *ops = 0;
    w.secure = getauxval(AT_SECURE) != 0;
    shim_log_setup(NULL, w.secure);
    struct sp_policy *trace = shim_log_trace_policy(w.secure); /* sockpolicy run --trace */
    if (trace) {
        *ops = ops_of(trace);
        return trace; /* not a file: nothing to watch */
    }
    const char *path = policy_path(w.secure);
    if (!path || strlen(path) >= sizeof w.path)
        return SHIM_NO_POLICY; /* nothing to watch: every hook's one-compare exit */
    memcpy(w.path, path, strlen(path) + 1);
    uint64_t id = path_id(w.path);
    struct first_diag diag = { 0 };
    struct sp_policy *p = load_file(&diag);
    w.cal_ns = w.last_look_ns = mono_ns();
    w.cal_tick = shim_tick();
    atomic_store_explicit(&shim_recheck_at, w.cal_tick + TICKS_UNCALIBRATED, memory_order_relaxed);
    if (!p) {
        int strict = file_says_strict(w.path);
        w.fail_id = id;
        shim_log(SP_LOG_FAILURES, "policy failed to load (%s); %s", diag.text,
                 strict ? "strict: every socket call is denied" : "running without a policy");
        *ops = strict ? (1u << SP_OP_COUNT) - 1 : 0;
        return strict ? SHIM_DENY_ALL : SHIM_IDLE;
    }
    shim_log(SP_LOG_DEBUG, "policy %s loaded: %zu rules", w.path, sp_policy_rule_count(p));
    return adopt(p, ops, id, 1);
}

struct sp_policy *shim_policy_load_slow(void)
{
    int saved = errno;
    struct sp_policy *p = atomic_load_explicit(&shim_policy, memory_order_acquire);
    if (p || loading_here || shim_depth > 0)
        goto out; /* published, or we are the loader (re-entered, or a signal handler) */
    int me = (int)syscall(SYS_getpid), won = 0;
    for (int tries = 0; tries < 2000 && !won; tries++) {
        int cur = 0;
        if (atomic_compare_exchange_strong(&load_state, &cur, me)) {
            won = 1;
        } else if (cur != me) {
            /* The loader ran in our parent before a fork: it will never publish here. */
            atomic_compare_exchange_strong(&load_state, &cur, 0);
        } else if ((p = atomic_load(&shim_policy)) != NULL) {
            goto out;
        } else {
            shim_sleep_ms(1); /* another thread is loading: wait briefly (2 s at most) */
        }
    }
    if (!won) {
        p = atomic_load(&shim_policy); /* still loading: pass this call through */
        goto out;
    }
    loading_here = 1;
    shim_depth++;
    shim_real_need(); /* core's sysops, before anything routes a call through core */
    uint32_t ops;
    p = load_now(&ops);
    shim_depth--;
    loading_here = 0;
    publish(p, ops);
out:
    errno = saved;
    return p;
}

/* One look at the sources: reload when they changed since the policy in force was read (or
 * since the last failed attempt), unless this very version already failed. */
static void look(void)
{
    if (!w.path[0])
        return;
    uint64_t main = path_id(w.path);
    uint64_t id = w.obj ? watch_id(w.obj, 1, main) : main;
    if ((w.obj && id == w.obj_id) || id == w.fail_id)
        return;
    if (w.secure && !policy_path(1)) {
        w.fail_id = id; /* no longer root's alone: policy_path said so, once */
        return;
    }
    struct first_diag diag = { 0 };
    shim_depth++;
    struct sp_policy *p = load_file(&diag);
    shim_depth--;
    if (!p) {
        w.fail_id = id;
        shim_log(SP_LOG_FAILURES, "policy failed to reload (%s); the policy in force stays",
                 diag.text);
        return;
    }
    if (w.obj && sp_policy_same(w.obj, p)) {
        /* Rewritten with what it held (config management, a touch): nothing to publish, and
         * nothing more kept mapped. The sources' new identities are the ones to watch. */
        w.obj_id = watch_id(p, 0, main);
        w.fail_id = 0;
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
    int me = (int)syscall(SYS_getpid), cur = 0;
    if (!atomic_compare_exchange_strong(&looking, &cur, me)) {
        /* Another thread looks (or this one, interrupted by a signal): go on as we are. An
         * owner from before a fork will never finish here: take its place. */
        if (cur == me || !atomic_compare_exchange_strong(&looking, &cur, me))
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
    if (now - w.last_look_ns >= LOOK_EVERY_NS) {
        w.last_look_ns = now;
        look();
    }
    uint64_t ticks = TICKS_UNCALIBRATED;
    if (w.ticks_per_ns > 0)
        ticks = (uint64_t)(w.ticks_per_ns * (double)CLOCK_EVERY_NS) + 1;
#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__)
    atomic_store_explicit(&shim_recheck_at, w.path[0] ? shim_tick() + ticks : ~(uint64_t)0,
                          memory_order_relaxed);
#else
    (void)ticks;
    atomic_store_explicit(&shim_recheck_at, w.path[0] ? 1 : ~(uint64_t)0, memory_order_relaxed);
#endif
    atomic_store_explicit(&looking, 0, memory_order_release);
out:
    errno = saved;
    return atomic_load_explicit(&shim_policy, memory_order_acquire);
}

/* Per thread, the last decision taken for an inet address: programs connect to (or hear
 * from) the same few peers over and over, and the answer depends only on the policy, the op,
 * the socket's kind and the address. Keyed by the policy pointer, which is never reused (old
 * policies stay mapped), so a reload makes every entry miss. */
__thread struct shim_decision_memo shim_memo __attribute__((tls_model("initial-exec")));
#define memo shim_memo

static struct shim_decision decide(const struct sp_policy *p, enum sp_op op, int family, int type,
                                   const struct sockaddr *sa, socklen_t len)
{
    struct shim_decision d = { NULL, SP_ACT_PASS, 0 };
    struct sp_query q = { op, family, type, sa, len };
    d.rule = sp_policy_match(p, &q);
    if (d.rule) {
        d.action = d.rule->action;
        d.err = d.rule->err;
    } else {
        const struct sp_settings *s = sp_policy_settings(p);
        if (s->default_action[op] == SP_ACT_DENY) {
            d.action = SP_ACT_DENY;
            d.err = s->default_errno[op] ? s->default_errno[op] : EACCES;
        }
    }
    return d;
}

static struct shim_decision __attribute__((noinline))
decide_remember(const struct sp_policy *p, enum sp_op op, int family, int type,
                const struct sockaddr *sa, socklen_t len, uint32_t what, uint64_t k0, uint64_t k1,
                uint64_t k2)
{
    struct shim_decision d = decide(p, op, family, type, sa, len);
    uint64_t m = key_mask(p, op);
    if (!(m >> 32)) /* no rule tests the address: nor its IPv6 part */
        k1 = k2 = 0;
    memo.p = NULL; /* a signal handler's decide in between must not see a half-written entry */
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    memo.what = what;
    memo.kmask = m;
    memo.k[0] = k0 & m;
    memo.k[1] = k1;
    memo.k[2] = k2;
    memo.d = d;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    memo.p = p;
    return d;
}

struct shim_decision shim_decide_slow(const struct sp_policy *p, enum sp_op op, int family,
                                      int type, const struct sockaddr *sa, socklen_t len)
{
    if (p == SHIM_DENY_ALL)
        return (struct shim_decision){ NULL, SP_ACT_DENY, EACCES };
    uint64_t k0 = 0, k1 = 0, k2 = 0;
    if (!sa)
        return decide(p, op, family, type, sa, len);
    if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        memcpy(&k0, sa, 8); /* family, port, address */
    } else if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        uint32_t fp;
        memcpy(&fp, sa, 4); /* family and port; flowinfo is not matched */
        k0 = fp;
        memcpy(&k1, (const char *)sa + offsetof(struct sockaddr_in6, sin6_addr), 8);
        memcpy(&k2, (const char *)sa + offsetof(struct sockaddr_in6, sin6_addr) + 8, 8);
    } else {
        return decide(p, op, family, type, sa, len);
    }
    uint32_t what = (uint32_t)op | (uint32_t)(type & 0xff) << 8 | (uint32_t)family << 16;
    if (memo.p == p && memo.what == what && memo.k[0] == (k0 & memo.kmask) &&
        (!(memo.kmask >> 32) || (memo.k[1] == k1 && memo.k[2] == k2)))
        return memo.d;
    return decide_remember(p, op, family, type, sa, len, what, k0, k1, k2);
}

static void log_rule(enum sp_log_level lvl, const char *what, const struct shim_decision *d,
                     enum sp_op op, int fd, const struct sockaddr *sa, socklen_t len)
{
    (void)what;
    if (shim_log_on(lvl))
        shim_log_decision(d->rule, d->action, d->err, op, fd, sa, len);
}

int shim_gate_slow(const struct shim_decision *d, enum sp_op op, int fd, const struct sockaddr *sa,
                   socklen_t len)
{
    switch (d->action) {
    case SP_ACT_DENY:
        log_rule(SP_LOG_FAILURES, "denied", d, op, fd, sa, len);
        errno = d->err ? d->err : EACCES;
        return -1;
    case SP_ACT_FAIL:
        if (d->rule && shim_random_ppm() < d->rule->fail_rate_ppm) {
            log_rule(SP_LOG_FAILURES, "failure injected", d, op, fd, sa, len);
            errno = d->err ? d->err : EIO;
            return -1;
        }
        return 0;
    case SP_ACT_DELAY:
        if (d->rule && d->rule->delay_ms) {
            log_rule(SP_LOG_ALL, "delayed", d, op, fd, sa, len);
            shim_sleep_ms(d->rule->delay_ms);
        }
        return 0;
    case SP_ACT_AUDIT:
        log_rule(SP_LOG_FAILURES, "audit", d, op, fd, sa, len);
        return 0;
    default:
        return 0;
    }
}

int shim_sock_kind_slow(int fd, int *family, int *type)
{
    int saved = errno, fam = 0, ty = 0;
    socklen_t l1 = sizeof fam, l2 = sizeof ty;
    if (shim_real.getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &fam, &l1) != 0 ||
        shim_real.getsockopt(fd, SOL_SOCKET, SO_TYPE, &ty, &l2) != 0) {
        errno = saved;
        return -1;
    }
    errno = saved;
    *family = fam;
    *type = ty;
    struct shim_fd *e = shim_fd_get(fd);
    uint32_t none = 0; /* keep any per-fd state: it has its own inode check */
    if (e)
        __atomic_compare_exchange_n(&e->kind, &none, SHIM_FD_KIND(fam, ty), 0, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED);
    return 0;
}

uint32_t shim_random_ppm(void)
{
    static __thread uint64_t s __attribute__((tls_model("initial-exec")));
    if (!s) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        s = (((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)(uintptr_t)&s << 7) ^
             (uint64_t)syscall(SYS_gettid)) | 1;
    }
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return (uint32_t)((s >> 11) % 1000000u);
}

void shim_sleep_ms(uint32_t ms)
{
    int saved = errno;
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    errno = saved;
}
