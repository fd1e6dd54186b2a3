/* diag/diag_emit.c: one event through the whole pipeline: summary count, level filter, rate
 * limit, format, sink. This is what the shim's hooks call; see docs/log-format.md. */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "diag.h"

/* helgrind cannot see the happens-before edge of the pool's atomic bit (C11 atomics are
 * invisible to it): the slot's owner tells it, with client requests that are a few no-op
 * instructions outside valgrind. They sit on the logging path only (a hook's pass-through
 * and policy paths never take a slot). Without valgrind's header the build goes on without
 * them. */
#if defined(__has_include)
#if __has_include(<valgrind/helgrind.h>)
#include <valgrind/helgrind.h>
#endif
#endif
#ifndef ANNOTATE_HAPPENS_BEFORE
#define ANNOTATE_HAPPENS_BEFORE(obj) ((void)(obj))
#define ANNOTATE_HAPPENS_AFTER(obj) ((void)(obj))
#endif

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
    if (ev->flags & SP_EVF_MESSAGE)
        return ev->msg_level <= SP_LOG_FAILURES;
    if (ev->phase == SP_PHASE_CLOSE)
        return !sp_event_connected_at_close(ev);
    if (ev->opts.failed)
        return 1;
    if (ev->rule && (ev->rule->action == SP_ACT_DENY || ev->rule->action == SP_ACT_FAIL ||
                     ev->rule->action == SP_ACT_AUDIT))
        return 1; /* an audit rule asks for its calls to be logged */
    if (ev->flags & SP_EVF_DEFAULT_DENY)
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
    if (ev->flags & SP_EVF_MESSAGE)
        return level != SP_LOG_OFF && ev->msg_level != SP_LOG_OFF && ev->msg_level <= level;
    switch (level) {
    case SP_LOG_OFF: return 0;
    case SP_LOG_FAILURES: return is_failure(ev);
    case SP_LOG_ALL: return 1;
    case SP_LOG_DEBUG: return 1;
    }
    return 0;
}

/* The line and datagram buffers, pooled: a hook's stack may be small (a signal handler's,
 * a green thread's), and two buffers of 4 and 8 KiB would not fit. A slot is claimed with
 * one atomic exchange on a bit; nothing waits. */
struct scratch {
    char line[SP_DIAG_LINE_MAX];
    char dg[2 * SP_DIAG_LINE_MAX];
};
static struct scratch pool[SP_DIAG_SCRATCH];
static _Atomic unsigned pool_busy;

static int scratch_take(void)
{
    unsigned busy = atomic_load_explicit(&pool_busy, memory_order_relaxed);
    for (int tries = 0; tries < 2 * SP_DIAG_SCRATCH; tries++) {
        if (busy == (1u << SP_DIAG_SCRATCH) - 1)
            return -1;
        int i = __builtin_ctz(~busy);
        if (atomic_compare_exchange_weak_explicit(&pool_busy, &busy, busy | (1u << i),
                                                  memory_order_acquire, memory_order_relaxed)) {
            ANNOTATE_HAPPENS_AFTER(&pool[i]); /* the last owner's writes are behind us */
            return i;
        }
    }
    return -1;
}

static void scratch_give(int i)
{
    ANNOTATE_HAPPENS_BEFORE(&pool[i]); /* our writes come before the next owner's */
    atomic_fetch_and_explicit(&pool_busy, ~(1u << i), memory_order_release);
}

/* The level, format, flags and summary of a struct sp_diagnosis may be changed by a live reload
 * while lines are written (shim/log_cfg.c): each is read once, whole. */
#define RD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* Without a free slot: a line cut to this (a JSON line stays valid, marked truncated). */
#define SHORT_LINE 640

static void __attribute__((noinline)) write_short(struct sp_diagnosis *d,
                                                  const struct sp_event *ev, int priority)
{
    char line[SHORT_LINE], dg[SHORT_LINE + 768];
    size_t n = RD(d->format) == SP_FMT_JSON ? sp_format_json(ev, line, sizeof line)
                                            : sp_format_text(ev, RD(d->text_flags), line, sizeof line);
    if (n)
        sp_sink_write_buf(&d->sink, line, n, ev, priority, dg, sizeof dg);
}

static void write_event(struct sp_diagnosis *d, const struct sp_event *ev, int priority)
{
    int slot = scratch_take();
    if (slot < 0) {
        write_short(d, ev, priority);
        return;
    }
    struct scratch *sc = &pool[slot];
    size_t n = RD(d->format) == SP_FMT_JSON ? sp_format_json(ev, sc->line, sizeof sc->line)
                                            : sp_format_text(ev, RD(d->text_flags), sc->line,
                                                             sizeof sc->line);
    if (n)
        sp_sink_write_buf(&d->sink, sc->line, n, ev, priority, sc->dg, sizeof sc->dg);
    scratch_give(slot);
}

/* Out of line: its event would otherwise sit in every sp_diag_emit frame. */
static void __attribute__((noinline)) write_suppressed(struct sp_diagnosis *d, const struct sp_event *like, uint64_t n)
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
    struct sp_summary *sum = RD(d->summary);
    enum sp_log_level level = RD(d->level);
    if (sum && connect_final(ev))
        sp_summary_add(sum, (const struct sockaddr *)&ev->remote, ev->remote_len,
                       ev->phase == SP_PHASE_CLOSE && ev->err == 0 && !sp_event_connected_at_close(ev)
                           ? ETIMEDOUT : ev->err);
    int written = 0;
    if (wanted(level, ev)) {
        uint64_t report = 0;
        int allow = sp_rate_take(&d->rate, sp_diag_now_ns(), &report);
        if (report)
            write_suppressed(d, ev, report);
        if (allow) {
            int fail = is_failure(ev);
            int prio = fail ? LOG_WARNING : level == SP_LOG_DEBUG ? LOG_DEBUG : LOG_INFO;
            if ((ev->flags & SP_EVF_MESSAGE) && ev->msg_level == SP_LOG_FAILURES)
                prio = LOG_ERR;
            write_event(d, ev, prio);
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
    int slot = scratch_take();
    if (slot < 0) {
        atomic_fetch_add(&c->d->sink.dropped, 1);
        return;
    }
    sp_sink_write_buf(&c->d->sink, line, len, NULL, LOG_INFO, pool[slot].dg, sizeof pool[slot].dg);
    scratch_give(slot);
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
        if (d->summary_pid) {
            who.pid = d->summary_pid;
            memcpy(who.prog, d->summary_prog, sizeof who.prog);
        }
        sp_summary_render_note(d->summary, who.pid, who.prog, d->summary_note,
                               d->format == SP_FMT_JSON, 10, emit_summary_line, &c);
    }
    errno = saved;
}
