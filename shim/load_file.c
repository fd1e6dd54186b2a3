/* shim/load_file.c: what the loader reads: the policy file the environment and the host name
 * (SOCKPOLICY_CONF, SOCKPOLICY_TRACE, /etc/sockpolicy.conf), the host's policy with the user's
 * own stacked on it, specialised for this program and user, the first error kept for one log
 * line; and the policy `sockpolicy run --trace` publishes when there is no file. Called by
 * the loader (load.c) and the reload (reload.c) with every other thread kept out. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "load_priv.h"
#include "log.h"

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
    struct shim_load_diag *fd = ctx;
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
    sp_diag_fmt(fd->text, sizeof fd->text, "%s:%u:%u: %s", d->file ? d->file : "?", d->line,
                d->col, d->msg ? d->msg : "error");
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
int shim_trace_wanted(void)
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
int shim_user_conf(char *buf, size_t size)
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
                     env_shown(env, shown, sizeof shown),
                     sp_diag_errno_label(errno, eb, sizeof eb));
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
int shim_host_conf(int secure)
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

int shim_same_file(const char *a, const char *b)
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
static struct sp_policy *stack(struct sp_policy *host, struct shim_load_diag *diag)
{
    struct shim_watcher *w = &shim_watcher;
    static char buf[3 * 4096 + 2048]; /* only the thread that loads gets here */
    struct text t = { buf, 0, sizeof buf, 0 };
    struct sp_settings hs = *sp_policy_settings(host), us;
    int have_user = 0;
    sp_policy_free(host);
    memset(&us, 0, sizeof us);
    if (w->user[0]) {
        struct shim_load_diag ud = { .top = w->user };
        struct sp_policy *u = plain_path(w->user)
            ? sp_policy_load_st(w->user, SP_LOAD_NO_WARNINGS | SP_LOAD_CACHE, keep_first_error,
                                &ud, &us)
            : NULL;
        if (u) {
            have_user = 1;
            sp_policy_free(u);
        } else {
            shim_log(SP_LOG_FAILURES, "SOCKPOLICY_CONF %s not added to the host policy %s (%s)",
                     w->user, w->path, ud.have ? ud.text : "a path with blanks, '#' or wildcards");
        }
    }
    put(&t, "include ");
    put(&t, w->path);
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
        put(&t, w->user);
        put(&t, "\n");
    }
    if (w->trace) {
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
    if (w->trace && lv < SP_LOG_ALL)
        lv = SP_LOG_ALL;
    put(&t, "log ");
    put(&t, level[lv]);
    put(&t, "\n");
    if (hs.strict)
        put(&t, "strict\n");
    if (hs.log_summary || (have_user && us.log_summary) || w->trace)
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
    if (!plain_path(w->path) || t.failed) {
        sp_diag_fmt(diag->text, sizeof diag->text, "%s: cannot stack the user's policy on it",
                    w->path);
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
struct sp_policy *shim_load_file(struct shim_load_diag *diag, int *strict)
{
    struct shim_watcher *w = &shim_watcher;
    struct sp_settings st;
    diag->top = w->path;
    *strict = 0;
    struct sp_policy *p = sp_policy_load_st(w->path, SP_LOAD_NO_WARNINGS | SP_LOAD_CACHE,
                                            keep_first_error, diag, &st);
    if (!p)
        *strict = st.strict || (w->host && diag->top_unreadable);
    else if (w->user[0] || w->trace) {
        p = stack(p, diag);
        *strict = !p && st.strict;
    }
    if (p && sp_policy_specialise(p, prog_name(), getuid()) != 0) {
        sp_diag_fmt(diag->text, sizeof diag->text, "%s: cannot specialise for this process",
                    w->path);
        diag->have = 1;
        diag->transient = errno == ENOMEM;
        sp_policy_free(p);
        p = NULL;
    }
    if (!p && !diag->have) {
        char eb[24];
        sp_diag_fmt(diag->text, sizeof diag->text, "%s: %s", w->path,
                    sp_diag_errno_label(errno, eb, sizeof eb));
        diag->have = 1;
    }
    if (!p && errno == ENOMEM)
        diag->transient = 1;
    return p;
}

struct sp_policy *shim_trace_policy(int secure)
{
    static const char trace_policy[] = "pass any\n";
    const char *env = secure ? NULL : getenv("SOCKPOLICY_TRACE");
    if (!env || !*env || !strcmp(env, "0"))
        return NULL;
    shim_log_setup_trace(secure);
    struct sp_policy *p = sp_policy_load_mem("sockpolicy --trace", trace_policy,
                                             sizeof trace_policy - 1, NULL, NULL);
    if (p && sp_policy_specialise(p, program_invocation_short_name, getuid()) != 0) {
        sp_policy_free(p);
        p = NULL;
    }
    if (!p)
        shim_log(SP_LOG_FAILURES, "--trace: cannot build the tracing policy");
    return p;
}
