/* shim/state.c: start-up, the lazy policy load, and the decision shared by every hook. */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
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

#define SYSTEM_CONF "/etc/sockpolicy.conf"

_Atomic(struct sp_policy *) shim_policy;
__thread int shim_depth __attribute__((tls_model("initial-exec")));

static atomic_int load_state; /* 0 idle, else the pid of the loader */
static __thread int loading_here __attribute__((tls_model("initial-exec")));

/* The real table must exist before main or any other library's constructor needs a hook; the
 * policy waits for the first socket call. fd 2 is noted now, while it is still stderr. */
__attribute__((constructor)) static void shim_start(void)
{
    shim_real_init();
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

static struct sp_policy *load_now(void)
{
    int secure = getauxval(AT_SECURE) != 0;
    shim_log_setup(NULL, secure);
    struct sp_policy *trace = shim_log_trace_policy(secure);
    if (trace)
        return trace;
    const char *path = policy_path(secure);
    if (!path)
        return SHIM_NO_POLICY;
    struct first_diag diag = { 0 };
    struct sp_policy *p = sp_policy_load(path, keep_first_error, &diag);
    if (p && sp_policy_specialise(p, program_invocation_short_name, getuid()) != 0) {
        shim_fmt(diag.text, sizeof diag.text, "%s: cannot specialise for this process", path);
        diag.have = 1;
        sp_policy_free(p);
        p = NULL;
    }
    if (!p) {
        char eb[24];
        int strict = file_says_strict(path);
        if (!diag.have)
            shim_fmt(diag.text, sizeof diag.text, "%s: %s", path, shim_errname(errno, eb, sizeof eb));
        shim_log(SP_LOG_FAILURES, "policy failed to load (%s); %s", diag.text,
                 strict ? "strict: every socket call is denied" : "running without a policy");
        return strict ? SHIM_DENY_ALL : SHIM_NO_POLICY;
    }
    shim_log_setup_policy(p, secure);
    shim_log(SP_LOG_DEBUG, "policy %s loaded: %zu rules", path, sp_policy_rule_count(p));
    /* A policy with nothing for any call (empty, comments, settings only, or rules only for
     * other programs) costs what no policy costs: every hook takes the one-compare exit. */
    int any = 0;
    for (int op = 0; op < SP_OP_COUNT; op++)
        any |= sp_policy_has_op(p, (enum sp_op)op);
    if (!any) {
        sp_policy_free(p);
        return SHIM_NO_POLICY;
    }
    return p;
}

struct sp_policy *shim_policy_load_slow(void)
{
    int saved = errno;
    shim_real_need();
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
    p = load_now();
    shim_depth--;
    loading_here = 0;
    atomic_store_explicit(&shim_policy, p, memory_order_release);
out:
    errno = saved;
    return p;
}

struct shim_decision shim_decide(const struct sp_policy *p, enum sp_op op, int family, int type,
                                 const struct sockaddr *sa, socklen_t len)
{
    struct shim_decision d = { NULL, SP_ACT_PASS, 0 };
    if (p == SHIM_DENY_ALL) {
        d.action = SP_ACT_DENY;
        d.err = EACCES;
        return d;
    }
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

static void log_rule(enum sp_log_level lvl, const char *what, const struct shim_decision *d,
                     enum sp_op op, int fd, const struct sockaddr *sa, socklen_t len)
{
    (void)what;
    if (shim_log_on(lvl))
        shim_log_decision(d->rule, d->action, d->err, op, fd, sa, len);
}

int shim_gate(const struct shim_decision *d, enum sp_op op, int fd, const struct sockaddr *sa,
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

int shim_sock_kind(int fd, int *family, int *type)
{
    struct shim_fd *e = shim_fd_valid(fd);
    if (e && e->family) {
        *family = e->family;
        *type = e->type;
        return 0;
    }
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
    e = shim_fd_claim(fd, fam, ty);
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
