/* supervise/log.c: the supervisor's log, the shim's pipeline (diag/): the same level filter,
 * rate limit, formats and sinks, so that a line for a call the supervisor saw reads as the
 * shim's line for the same call, with "seen by seccomp" added. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "sup.h"

#define RATE_PER_S 100 /* as the shim: a burst, then this many lines a second */
#define RATE_BURST 200

static struct sp_diagnosis diag;
static struct sp_summary summary;
static int every; /* every event is wanted, not only failures */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

/* The destination open now (opened 0: none yet). */
static int opened;
static enum sp_log_target open_target;
static char open_path[4096];

void sup_log_setup(const struct sp_settings *s, const char *dest, int trace)
{
    enum sp_log_level level = SP_LOG_FAILURES;
    enum sp_log_target target = SP_LOGTO_DEFAULT;
    enum sp_log_format format = SP_FMT_TEXT;
    const char *path = NULL;
    int summarise = trace;
    if (s) {
        level = s->log_level;
        format = s->log_format;
        target = s->log_target;
        path = s->log_file;
        summarise |= s->log_summary;
    }
    if (trace)
        level = SP_LOG_ALL;
    if (dest && *dest) {
        if (!strcmp(dest, "stderr")) {
            target = SP_LOGTO_STDERR;
        } else if (!strcmp(dest, "syslog")) {
            target = SP_LOGTO_SYSLOG;
        } else if (!strcmp(dest, "journald")) {
            target = SP_LOGTO_JOURNALD;
        } else if (!strcmp(dest, "off") || !strcmp(dest, "none")) {
            level = SP_LOG_OFF;
        } else {
            target = SP_LOGTO_FILE;
            path = dest;
        }
        if (level == SP_LOG_OFF && strcmp(dest, "off") && strcmp(dest, "none"))
            level = SP_LOG_FAILURES; /* --log implies at least failures */
    }
    if (!path)
        path = "";
    pthread_mutex_lock(&log_lock); /* a live reload: lines may be under way */
    /* The sink is opened again only when the destination changed (a reload that changes the
     * level or the format keeps it, and the rate limit and summary go on counting). */
    if (!opened || target != open_target || strcmp(path, open_path) != 0) {
        const struct sp_diag_ops *ops = sp_diag_libc_ops();
        if (opened)
            sp_sink_close(&diag.sink);
        int ok = -1;
        diag.text_flags = 0;
        switch (target) {
        case SP_LOGTO_FILE:
            ok = sp_sink_file(&diag.sink, ops, path);
            diag.text_flags = SP_FMT_F_TIME;
            break;
        case SP_LOGTO_SYSLOG:
            ok = sp_sink_syslog(&diag.sink, ops, NULL, LOG_USER, "sockpolicy");
            break;
        case SP_LOGTO_JOURNALD:
            ok = sp_sink_journald(&diag.sink, ops, NULL, "sockpolicy");
            break;
        default:
            break;
        }
        if (ok != 0) {
            diag.text_flags = 0;
            sp_sink_stderr(&diag.sink, ops); /* as the shim: rather stderr than nothing */
        }
        if (!opened)
            sp_rate_init(&diag.rate, RATE_PER_S, RATE_BURST);
        opened = 1;
        open_target = target;
        snprintf(open_path, sizeof open_path, "%s", path);
    }
    diag.format = format;
    diag.summary = summarise ? &summary : NULL;
    __atomic_store_n(&diag.level, level, __ATOMIC_RELAXED);
    __atomic_store_n(&every, level >= SP_LOG_ALL || summarise, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&log_lock);
}

void sup_log_program(pid_t pid, const char *prog)
{
    pthread_mutex_lock(&log_lock);
    diag.summary_pid = pid;
    snprintf(diag.summary_prog, sizeof diag.summary_prog, "%s", prog);
    diag.summary_note = "seen by seccomp";
    pthread_mutex_unlock(&log_lock);
}

int sup_log_wants(int err)
{
    return __atomic_load_n(&diag.level, __ATOMIC_RELAXED) != SP_LOG_OFF &&
           (__atomic_load_n(&every, __ATOMIC_RELAXED) || (err != 0 && err != EINPROGRESS));
}

int sup_log_debug(void)
{
    return __atomic_load_n(&diag.level, __ATOMIC_RELAXED) >= SP_LOG_DEBUG;
}

/* The first line of a small /proc file, without its newline, or "" */
static void proc_read(pid_t tid, const char *what, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)tid, what);
    buf[0] = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    buf[strcspn(buf, "\n")] = 0;
}

void sup_who(struct sup_call *c)
{
    if (c->tgid)
        return;
    int saved = errno;
    proc_read((pid_t)c->n.pid, "comm", c->comm, sizeof c->comm);
    c->tgid = (pid_t)c->n.pid;
    /* the process, as the shim's getpid(): the thread group of the calling thread */
    char path[64], big[1024];
    snprintf(path, sizeof path, "/proc/%d/status", (int)c->n.pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, big, sizeof big - 1);
        close(fd);
        big[n > 0 ? n : 0] = 0;
        const char *t = strstr(big, "\nTgid:");
        if (t)
            c->tgid = (pid_t)strtol(t + 6, NULL, 10);
    }
    errno = saved;
}

void sup_event_init(struct sp_event *ev, enum sp_op op, const struct sup_call *c)
{
    int saved = errno;
    sp_event_init(ev, op, op == SP_OP_SOCKET ? -1 : (int)c->n.data.args[0]);
    struct sup_call *w = (struct sup_call *)c; /* the cache of who called */
    sup_who(w);
    memcpy(ev->prog, w->comm, sizeof ev->prog);
    ev->pid = w->tgid;
    ev->family = c->family;
    ev->type = c->type;
    errno = saved;
}

void sup_log_event(struct sp_event *ev)
{
    char note[160];
    if (ev->note)
        snprintf(note, sizeof note, "%s; seen by seccomp", ev->note);
    else
        snprintf(note, sizeof note, "seen by seccomp");
    ev->note = note;
    pthread_mutex_lock(&log_lock); /* one line at a time: the rate limit and sinks are shared */
    sp_diag_emit(&diag, ev);
    pthread_mutex_unlock(&log_lock);
    ev->note = NULL;
}

void sup_log_outcome(struct sp_event *ev, const struct sp_rule *rule, uint32_t asked,
                     const struct bio_opt_report *rep)
{
    ev->rule = sup.opts->trace ? NULL : rule; /* as the shim: --trace's pass rule is no rule */
    if (asked && rep) {
        ev->opts_asked = asked;
        ev->opts = *rep;
    }
    sup_log_event(ev);
}

void sup_log_decision(const struct sup_call *c, enum sp_op op)
{
    const struct sp_decision *d = &c->d;
    int fails = d->action == SP_ACT_DENY || d->action == SP_ACT_FAIL;
    enum sp_log_level lvl = fails || d->action == SP_ACT_AUDIT ? SP_LOG_FAILURES : SP_LOG_ALL;
    enum sp_log_level cur = __atomic_load_n(&diag.level, __ATOMIC_RELAXED);
    if (cur == SP_LOG_OFF || lvl > cur)
        return;
    struct sp_event ev;
    char note[48];
    sup_event_init(&ev, op, c);
    /* the address decided on (normalised), as the shim's gate logs it */
    sp_event_set_addr(&ev, op == SP_OP_BIND || op == SP_OP_LISTEN ? 0 : 1,
                      (const struct sockaddr *)(c->normlen ? &c->norm : &c->addr),
                      c->normlen ? c->normlen : c->addrlen);
    if (fails) {
        ev.err = d->err;
        ev.flags |= SP_EVF_NO_CALL;
        if (!d->rule)
            ev.flags |= SP_EVF_DEFAULT_DENY;
    } else {
        ev.flags |= SP_EVF_DECISION;
        if (d->action == SP_ACT_DELAY && d->rule) {
            snprintf(note, sizeof note, "delayed %u ms", d->rule->delay_ms);
            ev.note = note;
        } else if (d->action == SP_ACT_AUDIT) {
            ev.note = "audit: the call goes ahead";
        }
    }
    ev.rule = d->rule;
    sup_log_event(&ev);
}

void sup_log_msg(enum sp_log_level level, const char *fmt, ...)
{
    enum sp_log_level cur = __atomic_load_n(&diag.level, __ATOMIC_RELAXED);
    if (cur == SP_LOG_OFF || level > cur)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct sp_event ev;
    sp_event_message(&ev, level, msg);
    pthread_mutex_lock(&log_lock);
    sp_diag_emit(&diag, &ev);
    pthread_mutex_unlock(&log_lock);
}

void sup_log_finish(void)
{
    pthread_mutex_lock(&log_lock);
    sp_diag_finish(&diag);
    pthread_mutex_unlock(&log_lock);
}
