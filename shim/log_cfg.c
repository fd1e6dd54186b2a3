/* shim/log_cfg.c: the shim's logger over the diagnosis library: one struct sp_diagnosis for
 * the process in one of a few slots, what the settings and $SOCKPOLICY_LOG ask of it (set up at
 * the first load, changed by a live reload), its sink (opened at the first line: a process
 * that logs nothing holds no extra descriptor), and the line every event and message becomes
 * (shim_log_emit). Events are built in log_event.c and pending.c. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"
#include "log_priv.h"
#include "real.h"

/* Rate limit: a reconnect loop logs a burst, then this many lines a second, then one
 * "suppressed N events" line a second. */
#define RATE_PER_S 100
#define RATE_BURST 200

enum sp_log_level shim_log_level_v = SP_LOG_OFF;
int shim_log_every_v;

/* The logger's configuration: where lines go and how. A few slots: a live reload that changes
 * the destination fills a slot no thread is using and publishes it (cfg), so a thread still
 * writing a line through the old sink is never cut off; an old sink is closed when its slot is
 * reused, which only happens once no thread is inside it (users: every line enters the slot it
 * writes through, see enter()). A reload that keeps the destination changes level and format
 * in place. */
#define NCFG 3
struct logcfg {
    struct sp_diagnosis diag;
    struct sp_sink fallback; /* the default sink, for lines diag.sink cannot deliver */
    _Atomic int sink_state; /* 0 closed, 1 being opened, 2 open (or nowhere) */
    _Atomic unsigned users; /* threads (and signal handlers) writing through this slot now */
    struct {
        enum sp_log_target target;
        char path[256];
        int trace;
    } want;
};
static struct logcfg cfgs[NCFG];
static _Atomic(struct logcfg *) cfg = &cfgs[0];

static struct sp_summary summary;
static _Atomic pid_t summary_pid; /* the process the summary counts (a fork starts afresh) */
static int ready;              /* set up at least once */

static inline struct logcfg *cur(void)
{
    return atomic_load_explicit(&cfg, memory_order_acquire);
}

/* The current slot, entered: a reload will not reuse it until leave(). Counted first, then
 * checked to be still current (seq_cst on both sides: a reload reads the count before it
 * touches a slot that is no longer current). */
static struct logcfg *enter(void)
{
    for (;;) {
        struct logcfg *c = cur();
        atomic_fetch_add(&c->users, 1);
        if (atomic_load(&cfg) == c)
            return c;
        atomic_fetch_sub(&c->users, 1); /* replaced meanwhile: use the new one */
    }
}

static void leave(struct logcfg *c)
{
    atomic_fetch_sub_explicit(&c->users, 1, memory_order_release);
}

const struct sp_diag_ops *shim_log_ops(void)
{
    static struct sp_diag_ops ops;
    ops.socket = shim_real.socket;
    ops.connect = shim_real.connect;
    ops.sendto = shim_real.sendto;
    ops.close = shim_real.close;
    ops.getsockopt = shim_real.getsockopt;
    return &ops;
}

/* A sink that holds no descriptor: what sp_sink_close may safely be called on. */
static void sink_blank(struct sp_sink *s)
{
    memset(s, 0, sizeof *s);
    s->ops = shim_log_ops();
    atomic_store(&s->fd, -1);
    atomic_store(&s->retired, -1);
}

/* Whether this process writes its log with privilege (setuid/setgid, or root): then a log
 * file must be one it can trust (SP_SINK_F_OWNER). */
static int privileged(void)
{
    return getauxval(AT_SECURE) != 0 || geteuid() == 0;
}

/* fd 2, but only while it is the file it was at start-up: never a file the program put there,
 * nor after the program closed it. */
static void stderr_sink(struct sp_sink *s)
{
    if (shim_log_stderr_same())
        sp_sink_stderr(s, shim_log_ops());
}

/* The default sink: stderr under `sockpolicy run` and --trace (a user at a terminal), syslog
 * everywhere else (a host-wide install never writes into a program's stderr unasked). */
static void default_sink(struct sp_sink *s, int trace)
{
    if (shim_log_user_stderr() || trace)
        stderr_sink(s);
    else
        sp_sink_syslog(s, shim_log_ops(), NULL, LOG_USER, "sockpolicy");
}

/* Opens c's sink; called by its first line, by one thread. Where the chosen sink cannot be
 * used (now or later), its lines go to the fallback: the default sink for a file, journald
 * for syslog and syslog for journald (so the program's stderr only under `sockpolicy run`);
 * an explicit stderr has none. Returns the errno of a file that could not be opened (0:
 * none), for one line saying so. */
static int open_sink(struct logcfg *c)
{
    const struct sp_diag_ops *ops = shim_log_ops();
    int err = 0;
    sink_blank(&c->diag.sink); /* where nothing opens (stderr gone): a sink that holds nothing */
    sink_blank(&c->fallback);
    switch (c->want.target) {
    case SP_LOGTO_FILE:
        default_sink(&c->fallback, c->want.trace);
        if (sp_sink_file_ex(&c->diag.sink, ops, c->want.path,
                            privileged() ? SP_SINK_F_OWNER : 0) != 0)
            err = errno ? errno : EIO;
        if (c->diag.sink.kind == SP_SINK_NONE) { /* a path it cannot even hold */
            c->diag.sink = c->fallback;
            sink_blank(&c->fallback);
        }
        break;
    case SP_LOGTO_DEFAULT:
        default_sink(&c->diag.sink, c->want.trace);
        if (c->diag.sink.kind == SP_SINK_SYSLOG)
            sp_sink_journald(&c->fallback, ops, NULL, "sockpolicy");
        break;
    case SP_LOGTO_STDERR:
        stderr_sink(&c->diag.sink);
        break;
    case SP_LOGTO_SYSLOG:
        sp_sink_syslog(&c->diag.sink, ops, NULL, LOG_USER, "sockpolicy");
        sp_sink_journald(&c->fallback, ops, NULL, "sockpolicy");
        break;
    case SP_LOGTO_JOURNALD:
        sp_sink_journald(&c->diag.sink, ops, NULL, "sockpolicy");
        sp_sink_syslog(&c->fallback, ops, NULL, LOG_USER, "sockpolicy");
        break;
    }
    c->diag.sink.fallback = c->fallback.kind != SP_SINK_NONE ? &c->fallback : NULL;
    return err;
}

/* One line, once per opening, when the log file could not be opened: where its lines go now. */
static void tell_open_failure(struct logcfg *c, int err)
{
    char eb[24];
    const char *why = sp_diag_errno_label(err, eb, sizeof eb);
    if (err == ELOOP)
        why = "it is a symlink, which a privileged process does not follow";
    else if (err == EPERM)
        why = "a privileged process writes only to a file owned by root or itself, writable by "
              "nobody else, with one link";
    const char *where = c->fallback.kind == SP_SINK_STDERR     ? "stderr"
                        : c->fallback.kind == SP_SINK_SYSLOG   ? "syslog"
                        : c->fallback.kind == SP_SINK_JOURNALD ? "journald"
                                                               : "nowhere";
    shim_log(SP_LOG_FAILURES, "log-to file %s: not opened (%s); lines go to %s until it can be "
             "(tried again at most once a second)", c->want.path, why, where);
}

/* 1 when the sink can take a line. Racing first lines wait briefly for the opener (bounded:
 * a signal handler may have interrupted it on this very thread), then drop theirs. */
static int sink_ready(struct logcfg *c)
{
    if (__builtin_expect(atomic_load_explicit(&c->sink_state, memory_order_acquire) == 2, 1))
        return 1;
    for (int spins = 0; spins < 2000; spins++) {
        int closed = 0;
        if (atomic_compare_exchange_strong(&c->sink_state, &closed, 1)) {
            int err = open_sink(c);
            atomic_store_explicit(&c->sink_state, 2, memory_order_release);
            if (err)
                tell_open_failure(c, err);
            return 1;
        }
        if (closed == 2)
            return 1;
        sched_yield();
    }
    return 0;
}



/* What s (NULL: the defaults), $SOCKPOLICY_LOG (unless secure) and tracing ask for, in c
 * (its sink untouched). Returns the level. */
static enum sp_log_level settle(struct logcfg *c, const struct sp_settings *s, int secure,
                                int trace)
{
    const char *env = secure ? NULL : shim_log_env_dest();
    memset(&c->want, 0, sizeof c->want);
    enum sp_log_level level = SP_LOG_FAILURES;
    enum sp_log_format format = SP_FMT_TEXT;
    int summarise = trace;
    if (s) {
        level = s->log_level;
        format = s->log_format;
        c->want.target = s->log_target;
        memcpy(c->want.path, s->log_file, sizeof c->want.path);
        c->want.path[sizeof c->want.path - 1] = 0;
        summarise |= s->log_summary;
    }
    if (trace)
        level = SP_LOG_ALL;
    if (env && *env) {
        if (!strcmp(env, "stderr")) {
            c->want.target = SP_LOGTO_STDERR;
        } else if (!strcmp(env, "syslog")) {
            c->want.target = SP_LOGTO_SYSLOG;
        } else if (!strcmp(env, "journald")) {
            c->want.target = SP_LOGTO_JOURNALD;
        } else if (!strcmp(env, "off") || !strcmp(env, "none")) {
            level = SP_LOG_OFF;
        } else if (strlen(env) < sizeof c->want.path) {
            c->want.target = SP_LOGTO_FILE;
            strcpy(c->want.path, env);
        }
        /* Asking for a log and getting nothing would puzzle: --log implies at least failures. */
        if (level == SP_LOG_OFF && strcmp(env, "off") && strcmp(env, "none"))
            level = SP_LOG_FAILURES;
    }
    c->want.trace = trace;
    /* A file gets the time on each line; stderr, syslog and journald have their own. Plain
     * stores even on a live slot: each is one aligned word, read once per line. */
    __atomic_store_n(&c->diag.text_flags, c->want.target == SP_LOGTO_FILE ? SP_FMT_F_TIME : 0u,
                     __ATOMIC_RELAXED);
    __atomic_store_n(&c->diag.format, format, __ATOMIC_RELAXED);
    __atomic_store_n(&c->diag.summary, summarise ? &summary : NULL, __ATOMIC_RELAXED);
    __atomic_store_n(&c->diag.level, level, __ATOMIC_RELAXED);
    return level;
}

static void publish_level(enum sp_log_level level, const struct logcfg *c)
{
    __atomic_store_n(&shim_log_every_v, level >= SP_LOG_ALL || c->diag.summary, __ATOMIC_RELAXED);
    __atomic_store_n(&shim_log_level_v, level, __ATOMIC_RELAXED);
}

/* The first set-ups (the defaults, then the first policy's settings), before any other thread
 * can log: the current slot, reopened. */
static void configure(const struct sp_settings *s, int secure, int trace)
{
    struct logcfg *c = cur();
    shim_log_env_use(secure);
    if (atomic_load(&c->sink_state) == 2) {
        sp_sink_close(&c->diag.sink); /* a second setup (the policy's settings): reopen */
        sp_sink_close(&c->fallback);
    }
    atomic_store(&c->sink_state, 0);
    enum sp_log_level level = settle(c, s, secure, trace);
    atomic_store(&summary_pid, getpid());
    if (!ready)
        sp_rate_init(&c->diag.rate, RATE_PER_S, RATE_BURST);
    ready = 1;
    shim_clock_start(); /* the reference for the durations of log lines */
    publish_level(level, c);
    size_t refused;
    if (level != SP_LOG_OFF && !secure && (refused = shim_log_env_refused_once()) != 0)
        shim_log(SP_LOG_FAILURES, "SOCKPOLICY_LOG refused: a file path of %zu bytes (at most %zu, "
                 "made absolute); the policy's log-to applies", refused,
                 (size_t)SHIM_LOG_ENV_MAX);
}

void shim_log_setup(const struct sp_settings *s, int secure)
{
    configure(s, secure, cur()->want.trace);
}

void shim_log_setup_trace(int secure)
{
    configure(NULL, secure, 1);
}

/* One warning when p asks for TCP Fast Open that net.ipv4.tcp_fastopen does not allow. */
static void tfo_advice(const struct sp_policy *p)
{
    int client = 0, server = 0;
    for (size_t i = 0, n = sp_policy_rule_count(p); i < n; i++) {
        const struct sp_rule *r = sp_policy_rule(p, i);
        if (r->action != SP_ACT_SET)
            continue;
        if ((r->opts.mask & BIO_OPT_BIT(BIO_OPT_TFO_CONNECT)) && r->opts.val[BIO_OPT_TFO_CONNECT])
            client = 1;
        if ((r->opts.mask & BIO_OPT_BIT(BIO_OPT_TFO_QLEN)) && r->opts.val[BIO_OPT_TFO_QLEN])
            server = 1;
    }
    struct sp_tfo t;
    char advice[256];
    if ((client || server) && sp_tfo_read(NULL, &t) == 0 &&
        sp_tfo_advice(&t, client, server, advice, sizeof advice))
        shim_log(SP_LOG_FAILURES, "policy asks for TCP Fast Open: %s", advice);
}

void shim_log_setup_policy(const struct sp_policy *p, int secure)
{
    configure(sp_policy_settings(p), secure, 0);
    tfo_advice(p);
}

void shim_log_reload_policy(const struct sp_policy *p, int secure)
{
    struct logcfg *c = cur();
    if (c->want.trace)
        return; /* --trace: its own settings, whatever a file says */
    static struct logcfg aside; /* worked out here first: only the thread that looks gets here */
    enum sp_log_level level = settle(&aside, sp_policy_settings(p), secure, 0);
    struct logcfg *next = NULL;
    if (aside.want.target != c->want.target || strcmp(aside.want.path, c->want.path) != 0) {
        for (int i = 0; i < NCFG && !next; i++)
            if (&cfgs[i] != c && atomic_load(&cfgs[i].users) == 0)
                next = &cfgs[i];
        if (!next)
            shim_log(SP_LOG_FAILURES, "log-to %s: not now, the earlier destinations are still "
                     "being written to; the next reload tries again",
                     aside.want.path[0] ? aside.want.path : "(changed)");
    }
    if (!next) {
        /* Same destination (or no free slot): level, format and summary change in place. */
        __atomic_store_n(&c->diag.format, aside.diag.format, __ATOMIC_RELAXED);
        __atomic_store_n(&c->diag.summary, aside.diag.summary, __ATOMIC_RELAXED);
        __atomic_store_n(&c->diag.level, level, __ATOMIC_RELAXED);
        publish_level(level, c);
    } else {
        /* A slot nobody is in (no thread can enter it: it is not current): its old sink
         * closed, the new settings in, then published; the sink opens at its first line. */
        if (atomic_load(&next->sink_state) == 2) {
            sp_sink_close(&next->diag.sink);
            sp_sink_close(&next->fallback);
        }
        atomic_store(&next->sink_state, 0);
        next->want = aside.want;
        next->diag.level = aside.diag.level;
        next->diag.format = aside.diag.format;
        next->diag.text_flags = aside.diag.text_flags;
        next->diag.summary = aside.diag.summary;
        sink_blank(&next->diag.sink);
        sink_blank(&next->fallback);
        sp_rate_init(&next->diag.rate, RATE_PER_S, RATE_BURST);
        atomic_store(&cfg, next);
        publish_level(level, next);
    }
    tfo_advice(p);
}

void shim_log_emit(struct sp_event *ev)
{
    struct logcfg *c = enter();
    if (sink_ready(c)) {
        pid_t owner = atomic_load_explicit(&summary_pid, memory_order_relaxed);
        if (c->diag.summary && ev->pid != owner &&
            atomic_compare_exchange_strong(&summary_pid, &owner, ev->pid))
            memset(&summary, 0, sizeof summary); /* a forked child counts its own */
        sp_diag_emit(&c->diag, ev);
    }
    leave(c);
}

/* ---- messages ---- */

void shim_log(enum sp_log_level level, const char *fmt, ...)
{
    if (!shim_log_on(level))
        return;
    int saved = errno;
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    sp_diag_vfmt(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct sp_event ev;
    sp_event_init(&ev, SP_OP_SOCKET, -1);
    ev.flags = SP_EVF_MESSAGE;
    ev.msg_level = level;
    ev.note = msg;
    shim_log_emit(&ev);
    errno = saved;
}

int shim_log_tracing(void)
{
    return cur()->want.trace;
}

int shim_log_active(void)
{
    return ready && cur()->diag.level != SP_LOG_OFF;
}

void shim_log_finish(void)
{
    if (!shim_log_active())
        return;
    int saved = errno;
    if (atomic_load(&summary_pid) != getpid())
        memset(&summary, 0, sizeof summary);
    struct logcfg *c = enter();
    if (c->diag.summary || atomic_load(&c->diag.rate.suppressed)) {
        if (sink_ready(c))
            sp_diag_finish(&c->diag);
    }
    leave(c);
    errno = saved;
}
