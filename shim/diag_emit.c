/* shim/diag_emit.c: one event through the whole pipeline: summary count, level filter, rate
 * limit, format, sink. This is what the shim's hooks call; see docs/log-format.md. */
#include <errno.h>
#include <syslog.h>
#include <unistd.h>

#include "diag.h"

/* Whether the event ends a connect attempt (so the summary counts it once). */
static int connect_final(const struct sp_event *ev)
{
    if (ev->op != SP_OP_CONNECT)
        return 0;
    if (ev->phase != SP_PHASE_CALL)
        return 1;
    return ev->err != EINPROGRESS && ev->err != EALREADY && ev->err != EINTR;
}

static int is_failure(const struct sp_event *ev)
{
    if (ev->phase == SP_PHASE_CLOSE)
        return 1;
    if (ev->opts.failed)
        return 1;
    if (ev->rule && (ev->rule->action == SP_ACT_DENY || ev->rule->action == SP_ACT_FAIL))
        return 1;
    if (ev->err == 0 || (ev->err == EINPROGRESS && ev->phase == SP_PHASE_CALL))
        return 0;
    /* a non-blocking accept with nothing waiting is the normal state of an event loop */
    if (ev->op == SP_OP_ACCEPT && (ev->err == EAGAIN || ev->err == EINTR))
        return 0;
    return 1;
}

static int wanted(enum sp_log_level level, const struct sp_event *ev)
{
    switch (level) {
    case SP_LOG_OFF: return 0;
    case SP_LOG_FAILURES: return is_failure(ev);
    case SP_LOG_ALL: return 1;
    case SP_LOG_DEBUG: return 1;
    }
    return 0;
}

static void write_event(struct sp_diagnosis *d, const struct sp_event *ev, int priority)
{
    char line[SP_DIAG_LINE_MAX];
    size_t n = d->format == SP_FMT_JSON ? sp_format_json(ev, line, sizeof line)
                                        : sp_format_text(ev, d->text_flags, line, sizeof line);
    if (n)
        sp_sink_write(&d->sink, line, n, ev, priority);
}

static void write_suppressed(struct sp_diagnosis *d, const struct sp_event *like, uint64_t n)
{
    struct sp_event s;
    sp_event_init(&s, like ? like->op : SP_OP_CONNECT, -1);
    s.flags = SP_EVF_SUPPRESSED;
    s.suppressed = n;
    write_event(d, &s, LOG_WARNING);
}

int sp_diag_emit(struct sp_diagnosis *d, const struct sp_event *ev)
{
    int saved = errno;
    if (d->summary && connect_final(ev))
        sp_summary_add(d->summary, (const struct sockaddr *)&ev->remote, ev->remote_len,
                       ev->phase == SP_PHASE_CLOSE && ev->err == 0 ? ETIMEDOUT : ev->err);
    int written = 0;
    if (wanted(d->level, ev)) {
        uint64_t report = 0;
        int allow = sp_rate_take(&d->rate, sp_diag_now_ns(), &report);
        if (report)
            write_suppressed(d, ev, report);
        if (allow) {
            int fail = is_failure(ev);
            write_event(d, ev, fail ? LOG_WARNING : d->level == SP_LOG_DEBUG ? LOG_DEBUG : LOG_INFO);
            written = 1;
        }
    }
    errno = saved;
    return written;
}

struct emit_ctx {
    struct sp_diagnosis *d;
};

static void emit_summary_line(void *ctx, const char *line, size_t len)
{
    struct emit_ctx *c = ctx;
    sp_sink_write(&c->d->sink, line, len, NULL, LOG_INFO);
}

void sp_diag_finish(struct sp_diagnosis *d)
{
    int saved = errno;
    uint64_t n = sp_rate_flush(&d->rate);
    if (n)
        write_suppressed(d, NULL, n);
    if (d->summary) {
        struct sp_event who;
        sp_event_init(&who, SP_OP_CONNECT, -1);
        struct emit_ctx c = {d};
        sp_summary_render(d->summary, who.pid, who.prog, d->format == SP_FMT_JSON, 10,
                          emit_summary_line, &c);
    }
    errno = saved;
}
