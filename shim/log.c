/* shim/log.c: the shim's logger over the diagnosis library. One struct sp_diagnosis for the
 * process; its sink is opened at the first line (a process that logs nothing holds no extra
 * descriptor); pending non-blocking connects are followed in the fd table. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "real.h"
#include "state.h"

/* Rate limit: a reconnect loop logs a burst, then this many lines a second, then one
 * "suppressed N events" line a second. */
#define RATE_PER_S 100
#define RATE_BURST 200

enum sp_log_level shim_log_level_v = SP_LOG_OFF;
int shim_log_every_v;
_Atomic unsigned shim_log_npending;

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
/* $SOCKPOLICY_LOG as read at start (the constructor), a relative file path made absolute
 * against the directory the program started in: a reload, inside a hook, does not call getenv
 * (the program may be changing its environment at that moment), and a program that changes
 * directory keeps one log file. env_refused: the value could not be used (too long), said
 * once in a line. */
static char env_log[256];
static int env_refused;
static size_t env_refused_len;
/* `sockpolicy run` (its $SOCKPOLICY_RUN) or --trace: a user at a terminal, whose default
 * sink is stderr. Everywhere else (/etc/ld.so.preload, a plain LD_PRELOAD, a systemd
 * drop-in) the program's stderr is written only when the policy says `log-to stderr`. */
static int run_mode;
static int env_read;
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

static dev_t err_dev;
static ino_t err_ino;
static int err_known;

/* The environment the process started with, as the loader hands it to constructors: at
 * start-up, in every process, getenv() or environ would cost a symbol lookup each (issue 7's
 * start-up budget). */
static char **start_env;

/* The value of $name in the start-up environment (getenv() when it was not handed over). */
static const char *env_value(const char *name)
{
    if (!start_env)
        return getenv(name);
    for (char **e = start_env; *e; e++) {
        const char *v = *e, *n = name;
        while (*n && *v == *n) {
            v++;
            n++;
        }
        if (!*n && *v == '=')
            return v + 1;
    }
    return NULL;
}

/* Reads $SOCKPOLICY_LOG and $SOCKPOLICY_RUN once, at start (the constructor); whether a
 * secure process ignores them is decided where they are used (log_secure). */
static int log_secure;
static void read_env(void)
{
    if (env_read)
        return;
    env_read = 1;
    const char *run = env_value("SOCKPOLICY_RUN");
    run_mode = run && *run && !(run[0] == '0' && !run[1]);
    const char *env = env_value("SOCKPOLICY_LOG");
    if (!env || !*env)
        return;
    size_t n = strlen(env), at = 0;
    int file = strcmp(env, "stderr") && strcmp(env, "syslog") && strcmp(env, "journald") &&
               strcmp(env, "off") && strcmp(env, "none");
    if (file && env[0] != '/') {
        /* relative: against the directory the program starts in, once */
        if (!getcwd(env_log, sizeof env_log)) {
            env_log[0] = 0;
            env_refused = 1;
            env_refused_len = n;
            return;
        }
        at = strlen(env_log);
        if (at > 1)
            env_log[at++] = '/';
        else
            at = 1; /* "/" */
    }
    if (at + n >= sizeof env_log) {
        env_log[0] = 0;
        env_refused = 1;
        env_refused_len = at + n;
        return;
    }
    memcpy(env_log + at, env, n + 1);
}

void shim_log_early(void)
{
    struct stat st;
    if (!err_known && fstat(2, &st) == 0) {
        err_dev = st.st_dev;
        err_ino = st.st_ino;
        err_known = 1;
    }
}

/* glibc calls constructors with (argc, argv, envp). */
__attribute__((constructor)) static void shim_log_start(int argc, char **argv, char **envp)
{
    (void)argc;
    (void)argv;
    start_env = envp;
    read_env();
    start_env = NULL; /* the program may change it from now on */
}

static const struct sp_diag_ops *real_ops(void)
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
    s->ops = real_ops();
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
    struct stat st;
    if (err_known && fstat(2, &st) == 0 && st.st_dev == err_dev && st.st_ino == err_ino)
        sp_sink_stderr(s, real_ops());
}

/* The default sink: stderr under `sockpolicy run` and --trace (a user at a terminal), syslog
 * everywhere else (a host-wide install never writes into a program's stderr unasked). */
static void default_sink(struct sp_sink *s, int trace)
{
    if ((run_mode && !log_secure) || trace)
        stderr_sink(s);
    else
        sp_sink_syslog(s, real_ops(), NULL, LOG_USER, "sockpolicy");
}

/* Opens c's sink; called by its first line, by one thread. Where the chosen sink cannot be
 * used (now or later), its lines go to the fallback: the default sink for a file, journald
 * for syslog and syslog for journald (so the program's stderr only under `sockpolicy run`);
 * an explicit stderr has none. Returns the errno of a file that could not be opened (0:
 * none), for one line saying so. */
static int open_sink(struct logcfg *c)
{
    const struct sp_diag_ops *ops = real_ops();
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
    const char *why = shim_errname(err, eb, sizeof eb);
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

static void stamp_ref_set(void);

/* What s (NULL: the defaults), $SOCKPOLICY_LOG (unless secure) and tracing ask for, in c
 * (its sink untouched). Returns the level. */
static enum sp_log_level settle(struct logcfg *c, const struct sp_settings *s, int secure,
                                int trace)
{
    const char *env = secure ? NULL : env_log;
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
    shim_log_early();
    read_env();
    log_secure = secure;
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
    stamp_ref_set();
    publish_level(level, c);
    if (env_refused == 1 && level != SP_LOG_OFF && !secure) {
        env_refused = 2; /* said once */
        shim_log(SP_LOG_FAILURES, "SOCKPOLICY_LOG refused: a file path of %zu bytes (at most %zu, "
                 "made absolute); the policy's log-to applies", env_refused_len,
                 sizeof env_log - 1);
    }
}

void shim_log_setup(const struct sp_settings *s, int secure)
{
    configure(s, secure, cur()->want.trace);
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

struct sp_policy *shim_log_trace_policy(int secure)
{
    static const char trace_policy[] = "pass any\n";
    const char *env = secure ? NULL : getenv("SOCKPOLICY_TRACE");
    if (!env || !*env || !strcmp(env, "0"))
        return NULL;
    configure(NULL, secure, 1);
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

/* ---- events ---- */

/* This thread's hook: the options it forced on one fd, for the event it logs next (log.h). */
__thread struct shim_log_stash shim_log_stash __attribute__((tls_model("initial-exec")));
#define stash shim_log_stash

static int stash_for(int fd, enum sp_op op)
{
    if (stash.asked && stash.fd == fd && stash.op == op)
        return 1;
    memset(&stash, 0, sizeof stash);
    stash.fd = fd;
    stash.op = op;
    return 0;
}

/* The value read back differs from the one forced. */
static int differs(int fd, enum bio_opt o, const struct bio_optset *set)
{
    int v;
    if (bio_opt_read(fd, o, set, &v) != 0)
        return 0;
    switch (o) {
    case BIO_OPT_CONGESTION:
    case BIO_OPT_BINDTODEVICE:
        return v != 0;
    case BIO_OPT_KEEPALIVE:
    case BIO_OPT_NODELAY:
    case BIO_OPT_REUSEADDR:
    case BIO_OPT_REUSEPORT:
    case BIO_OPT_V6ONLY:
    case BIO_OPT_TFO_CONNECT:
        return (v != 0) != (set->val[o] != 0);
    default:
        return v != set->val[o];
    }
}

static void emit(struct sp_event *ev)
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

void shim_log_event(struct sp_event *ev, const struct sp_rule *rule)
{
    int saved = errno;
    ev->rule = cur()->want.trace ? NULL : rule;
    if (rule && stash_for(ev->fd, ev->op)) {
        ev->opts_asked = stash.asked;
        ev->opts = stash.rep;
        if (shim_log_level == SP_LOG_DEBUG)
            for (int o = 0; o < BIO_OPT_COUNT; o++)
                if ((ev->opts.applied & BIO_OPT_BIT(o)) && differs(ev->fd, (enum bio_opt)o, &rule->opts))
                    ev->opts_differ |= BIO_OPT_BIT(o);
        memset(&stash, 0, sizeof stash);
    }
    if (ev->family && !ev->type && ev->fd >= 0) {
        int fam, type;
        if (shim_sock_kind(ev->fd, &fam, &type) == 0)
            ev->type = type;
    }
    emit(ev);
    errno = saved;
}

void shim_log_decision(const struct sp_rule *rule, enum sp_action action, int err,
                       enum sp_op op, int fd, const struct sockaddr *sa, socklen_t len)
{
    int fails = action == SP_ACT_DENY || action == SP_ACT_FAIL;
    if (!shim_log_on(fails || action == SP_ACT_AUDIT ? SP_LOG_FAILURES : SP_LOG_ALL))
        return;
    int saved = errno;
    struct sp_event ev;
    char note[48];
    sp_event_init(&ev, op, fd);
    sp_event_set_addr(&ev, op == SP_OP_BIND || op == SP_OP_LISTEN ? 0 : 1, sa, len);
    if (fd >= 0)
        shim_sock_kind(fd, &ev.family, &ev.type);
    if (fails) {
        ev.err = err;
        ev.flags |= SP_EVF_NO_CALL;
        if (!rule)
            ev.flags |= SP_EVF_DEFAULT_DENY;
    } else {
        ev.flags |= SP_EVF_DECISION;
        if (action == SP_ACT_DELAY && rule) {
            shim_fmt(note, sizeof note, "delayed %u ms", rule->delay_ms);
            ev.note = note;
        } else if (action == SP_ACT_AUDIT) {
            ev.note = "audit: the call goes ahead";
        }
    }
    ev.rule = rule;
    emit(&ev);
    errno = saved;
}

void shim_log_opts(int fd, const struct sp_rule *rule, uint32_t which, enum sp_op op,
                   const struct bio_opt_report *rep)
{
    if (shim_log_level == SP_LOG_OFF)
        return;
    /* A new forcing starts the record (no memset: err[] is read only for failed bits). */
    stash.fd = fd;
    stash.op = op;
    stash.asked = rule->opts.mask & which;
    stash.rep.applied = rep->applied;
    stash.rep.skipped = rep->skipped;
    stash.rep.failed = rep->failed;
    for (uint32_t f = rep->failed; f; f &= f - 1)
        stash.rep.err[__builtin_ctz(f)] = rep->err[__builtin_ctz(f)];
    if (op == SP_OP_SOCKET && shim_log_wants(rep->failed ? EINVAL : 0)) {
        struct sp_event ev;
        sp_event_init(&ev, op, fd);
        shim_sock_kind(fd, &ev.family, &ev.type);
        shim_log_event(&ev, rule);
    }
}

void shim_log_opt_result(int fd, enum sp_op op, enum bio_opt opt, int err)
{
    if (shim_log_level == SP_LOG_OFF)
        return;
    stash_for(fd, op);
    stash.asked |= BIO_OPT_BIT(opt);
    if (err) {
        stash.rep.failed |= BIO_OPT_BIT(opt);
        stash.rep.applied &= ~BIO_OPT_BIT(opt);
        stash.rep.err[opt] = err;
    } else if (!(stash.rep.failed & BIO_OPT_BIT(opt))) {
        stash.rep.applied |= BIO_OPT_BIT(opt);
    }
}

/* ---- calls under SHIM_WATCH (state.h): a policy of log settings alone ---- */

/* A failure worth a line at this level: an operation still going on (a non-blocking
 * connect's EINPROGRESS, EALREADY, EINTR) is no failure, and nothing to accept or send yet is
 * an event loop's normal state (debug only), as on the routed paths. */
static int idle_worth(enum sp_op op, int err)
{
    if (op == SP_OP_CONNECT && (err == EINPROGRESS || err == EALREADY || err == EINTR))
        return 0;
    if ((op == SP_OP_ACCEPT || op == SP_OP_SEND) &&
        (err == EAGAIN || err == EWOULDBLOCK || err == EINTR))
        return shim_log_level >= SP_LOG_DEBUG;
    return 1;
}

long shim_watch_recheck(long r)
{
    shim_recheck(); /* errno preserved */
    return r;
}

long shim_watch_failed(long r, enum sp_op op, const struct shim_call *c)
{
    int err = errno;
    int fd = op == SP_OP_SOCKET ? -1 : c->a, family = 0, type = 0;
    const struct sockaddr *sa = NULL;
    socklen_t len = 0;
    if (op == SP_OP_SOCKET) {
        family = c->a;
        type = c->b;
    } else if (op == SP_OP_CONNECT || op == SP_OP_BIND || op == SP_OP_SEND) {
        sa = c->sa;
        len = c->len;
    }
    if (shim_depth == 0 && shim_log_wants(err) && idle_worth(op, err)) {
        struct sp_event ev;
        sp_event_init(&ev, op, fd);
        ev.err = err;
        ev.family = family;
        ev.type = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0 && err != EBADF && err != ENOTSOCK) { /* no fd table under SHIM_WATCH */
            int v;
            socklen_t l = sizeof v;
            if (shim_real.getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &l) == 0)
                ev.family = v;
            l = sizeof v;
            if (shim_real.getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &l) == 0)
                ev.type = v;
        }
        /* The program's address, unless the kernel said it could not be read (EFAULT), its
         * length is wrong (EINVAL), or the kernel failed before it read it (EBADF, ENOTSOCK:
         * the descriptor is looked up first): never read what the kernel did not. */
        if (sa && len >= sizeof(sa_family_t) && err != EFAULT && err != EINVAL && err != EBADF &&
            err != ENOTSOCK)
            sp_event_set_addr(&ev, op == SP_OP_BIND ? 0 : 1, sa, len);
        else if (op == SP_OP_LISTEN && fd >= 0) {
            bio_addr local;
            socklen_t llen = sizeof local;
            if (shim_real.getsockname(fd, &local.sa, &llen) == 0 && llen > sizeof(sa_family_t))
                sp_event_set_addr(&ev, 0, &local.sa, llen);
        }
        shim_log_event(&ev, NULL);
    }
    if (shim_tick() >= atomic_load_explicit(&shim_recheck_at, memory_order_relaxed))
        shim_recheck();
    errno = err;
    return r;
}

/* ---- durations ---- */

/* The reference for shim_stamp's rate: a stamp and CLOCK_MONOTONIC taken together. */
static struct {
    uint64_t stamp, ns;
} stamp_ref;

static void stamp_ref_set(void)
{
    if (!__atomic_load_n(&stamp_ref.ns, __ATOMIC_RELAXED)) {
        __atomic_store_n(&stamp_ref.stamp, shim_stamp(), __ATOMIC_RELAXED);
        __atomic_store_n(&stamp_ref.ns, sp_diag_now_ns(), __ATOMIC_RELAXED);
    }
}

uint64_t shim_stamp_elapsed_ns(uint64_t stamp)
{
#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__)
    uint64_t t = shim_stamp(), now = sp_diag_now_ns();
    uint64_t rs = __atomic_load_n(&stamp_ref.stamp, __ATOMIC_RELAXED);
    uint64_t rn = __atomic_load_n(&stamp_ref.ns, __ATOMIC_RELAXED);
    if (!rn || now <= rn || t <= rs || stamp > t)
        return 0;
    uint64_t span = now - rn;
    double ticks_per_ns = (double)(t - rs) / (double)span;
    uint64_t d = (uint64_t)((double)(t - stamp) / ticks_per_ns);
    return d < span ? d : span;
#else
    return sp_diag_now_ns() - stamp;
#endif
}

/* ---- pending connects ---- */

static uint32_t now_us(void)
{
    return (uint32_t)(sp_diag_now_ns() / 1000);
}

static socklen_t addr_len(const bio_addr *a)
{
    switch (a->sa.sa_family) {
    case AF_INET: return sizeof a->s_in;
    case AF_INET6: return sizeof a->s_in6;
    case AF_UNIX: return sizeof a->s_un;
    }
    return 0;
}

void shim_log_connect_pending(int fd, const struct sockaddr *sa, socklen_t len, int family,
                              int type, const struct sp_rule *rule, uint64_t start)
{
    struct shim_fd *e = shim_fd_valid(fd);
    if (!e)
        e = shim_fd_claim(fd, family, type);
    if (!e)
        return;
    if (!e->connect_ms || e->logged)
        atomic_fetch_add_explicit(&shim_log_npending, 1, memory_order_relaxed);
    e->connect_ms = (uint32_t)(start / 1000000) | 1;
    e->connect_us = (uint32_t)(start / 1000);
    e->connect_rule = rule;
    e->opts_asked = 0;
    if (rule && stash.asked && stash.fd == fd && stash.op == SP_OP_CONNECT) {
        e->opts_asked = stash.asked; /* for the line that tells how it ended */
        e->opts_applied = stash.rep.applied;
        e->opts_skipped = stash.rep.skipped;
        e->opts_failed = stash.rep.failed;
        for (uint32_t f = stash.rep.failed; f; f &= f - 1)
            e->opts_err[__builtin_ctz(f)] = (uint8_t)stash.rep.err[__builtin_ctz(f)];
    }
    e->logged = 0;
    memset(&e->peer, 0, sizeof e->peer);
    memcpy(&e->peer, sa, len < sizeof e->peer ? len : sizeof e->peer);
}

void shim_log_connect_end(int fd, int err, enum sp_phase phase, const char *note)
{
    if (!shim_log_pending(fd))
        return;
    int saved = errno;
    struct shim_fd *e = shim_fd_valid(fd);
    if (!e || !e->connect_ms || e->logged) {
        errno = saved;
        return;
    }
    int state = -1;
    if (phase == SP_PHASE_CLOSE) {
        state = sp_diag_tcp_state(real_ops(), fd);
        err = 0;
        if (state == TCP_CLOSE) { /* it failed, and the program never asked why */
            socklen_t l = sizeof err;
            if (shim_real.getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0)
                err = 0;
        }
    } else if (err == 0 && sp_diag_tcp_state(real_ops(), fd) == TCP_SYN_SENT) {
        errno = saved; /* SO_ERROR 0 while still in SYN_SENT: not the end yet */
        return;
    }
    e->logged = 1;
    atomic_fetch_sub_explicit(&shim_log_npending, 1, memory_order_relaxed);
    const struct sp_rule *rule = e->connect_rule;
    struct sp_event ev;
    sp_event_init(&ev, SP_OP_CONNECT, fd);
    ev.err = err;
    ev.phase = phase;
    ev.tcp_state = state;
    uint32_t kind = __atomic_load_n(&e->kind, __ATOMIC_RELAXED);
    ev.family = SHIM_FD_FAMILY(kind);
    ev.type = SHIM_FD_TYPE(kind);
    ev.duration_ns = (uint64_t)(uint32_t)(now_us() - e->connect_us) * 1000;
    ev.note = note;
    sp_event_set_addr(&ev, 1, &e->peer.sa, addr_len(&e->peer));
    int fl = shim_real.fcntl(fd, F_GETFL);
    if (fl >= 0 && (fl & O_NONBLOCK))
        ev.flags |= SP_EVF_NONBLOCK;
    bio_addr local;
    socklen_t llen = sizeof local;
    if (shim_real.getsockname(fd, &local.sa, &llen) == 0)
        sp_event_set_addr(&ev, 0, &local.sa, llen);
    ev.rule = cur()->want.trace ? NULL : rule;
    if (rule && e->opts_asked) { /* the options forced before the connect began */
        ev.opts_asked = e->opts_asked;
        ev.opts.applied = e->opts_applied;
        ev.opts.skipped = e->opts_skipped;
        ev.opts.failed = e->opts_failed;
        for (uint32_t f = e->opts_failed; f; f &= f - 1)
            ev.opts.err[__builtin_ctz(f)] = e->opts_err[__builtin_ctz(f)];
    }
    /* the summary counts every end; the line only when the level wants it */
    emit(&ev);
    errno = saved;
}

void shim_log_pending_range(int lo, int hi)
{
    if (__builtin_expect(atomic_load_explicit(&shim_log_npending, memory_order_relaxed) == 0, 1))
        return;
    struct shim_fdtab_hdr *t = atomic_load_explicit(&shim_fdtab, memory_order_acquire);
    if (!t || lo < 0 || hi < lo)
        return;
    if ((size_t)hi >= t->cap)
        hi = (int)t->cap - 1;
    for (int fd = lo; fd <= hi; fd++)
        if (shim_log_pending(fd))
            shim_log_connect_end(fd, 0, SP_PHASE_CLOSE, NULL);
}

__attribute__((destructor)) static void shim_log_finish(void)
{
    if (!ready || cur()->diag.level == SP_LOG_OFF)
        return;
    int saved = errno;
    shim_log_pending_range(0, INT_MAX); /* connects still pending at exit() end here */
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

/* ---- messages ---- */

void shim_log(enum sp_log_level level, const char *fmt, ...)
{
    if (!shim_log_on(level))
        return;
    int saved = errno;
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    shim_vfmt(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct sp_event ev;
    sp_event_init(&ev, SP_OP_SOCKET, -1);
    ev.flags = SP_EVF_MESSAGE;
    ev.msg_level = level;
    ev.note = msg;
    emit(&ev);
    errno = saved;
}

/* ---- the printf of messages ---- */

struct out {
    char *buf;
    size_t size, n;
};

static void put(struct out *o, char c)
{
    if (o->n + 1 < o->size)
        o->buf[o->n] = c;
    o->n++;
}

static void put_num(struct out *o, unsigned long long v, int neg, unsigned base, int width,
                    char pad, int left)
{
    char tmp[24];
    int len = 0;
    size_t start = o->n;
    do {
        tmp[len++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    if (neg)
        tmp[len++] = '-';
    if (neg && pad == '0') {
        put(o, '-');
        len--;
        width--;
    }
    if (!left)
        for (int i = len; i < width; i++)
            put(o, pad);
    while (len)
        put(o, tmp[--len]);
    while (left && o->n - start < (size_t)(width > 0 ? width : 0))
        put(o, ' ');
}

size_t shim_vfmt(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct out o = { buf, size, 0 };
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            put(&o, *p);
            continue;
        }
        p++;
        int left = 0, width = 0, lng = 0, sz = 0;
        char pad = ' ';
        if (*p == '-') {
            left = 1;
            p++;
        }
        if (*p == '0') {
            pad = '0';
            p++;
        }
        while (*p >= '0' && *p <= '9')
            width = width * 10 + (*p++ - '0');
        while (*p == 'l') {
            lng++;
            p++;
        }
        if (*p == 'z') {
            sz = 1;
            p++;
        }
        switch (*p) {
        case 'd':
        case 'i': {
            long long v = sz ? (long long)va_arg(ap, ssize_t)
                          : lng >= 2 ? va_arg(ap, long long)
                          : lng ? va_arg(ap, long) : va_arg(ap, int);
            put_num(&o, v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v, v < 0, 10,
                    width, pad, left);
            break;
        }
        case 'u':
        case 'x': {
            unsigned long long v = sz ? va_arg(ap, size_t)
                                   : lng >= 2 ? va_arg(ap, unsigned long long)
                                   : lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
            put_num(&o, v, 0, *p == 'x' ? 16 : 10, width, pad, left);
            break;
        }
        case 'p':
            put(&o, '0');
            put(&o, 'x');
            put_num(&o, (uintptr_t)va_arg(ap, void *), 0, 16, 0, ' ', 0);
            break;
        case 'c':
            put(&o, (char)va_arg(ap, int));
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            int len = (int)strlen(s);
            if (!left)
                for (int i = len; i < width; i++)
                    put(&o, ' ');
            while (*s)
                put(&o, *s++);
            if (left)
                for (int i = len; i < width; i++)
                    put(&o, ' ');
            break;
        }
        case '%':
            put(&o, '%');
            break;
        default:
            if (!*p)
                p--;
            break;
        }
    }
    if (size)
        buf[o.n < size ? o.n : size - 1] = 0;
    return o.n < size ? o.n : (size ? size - 1 : 0);
}

size_t shim_fmt(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = shim_vfmt(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

const char *shim_errname(int err, char *buf, size_t size)
{
    const char *name = sp_diag_errno_name(err);
    if (name)
        return name;
    shim_fmt(buf, size, "errno %d", err);
    return buf;
}

int shim_log_env_asks(void)
{
    return !log_secure && env_log[0] && strcmp(env_log, "off") != 0 && strcmp(env_log, "none") != 0;
}
