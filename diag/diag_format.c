/* diag/diag_format.c: an event as one text line or one JSON object. Field by field in
 * docs/log-format.md; change a name there first, the JSON names are a stable interface. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "diag.h"

/* Input bytes kept of the unbounded strings; the worst case of everything at its limit and
 * every byte escaped still fits SP_DIAG_LINE_MAX once the level-1 fallback drops rule text
 * and note. */
#define MAX_PROG 16
#define MAX_PATH 110
#define MAX_RULE_FILE 128
#define MAX_RULE_TEXT 300
#define MAX_NOTE 200
#define MAX_MESSAGE 600 /* a shim_log message (text: escaped, at most 4 bytes each) */

size_t sp_format_addr(const struct sockaddr *sa, socklen_t len, char *buf, size_t cap)
{
    struct sp_buf b;
    sp_buf_init(&b, buf, cap);
    sp_buf_put_addr(&b, sa, len);
    return b.len;
}

static const char *proto_name(int family, int type)
{
    int inet6 = family == AF_INET6;
    if (family == AF_INET || family == AF_INET6) {
        if (type == SOCK_STREAM)
            return inet6 ? "tcp6" : "tcp";
        if (type == SOCK_DGRAM)
            return inet6 ? "udp6" : "udp";
        if (type == SOCK_RAW)
            return inet6 ? "raw6" : "raw";
        return inet6 ? "inet6" : "inet";
    }
    if (family == AF_UNIX) {
        if (type == SOCK_STREAM)
            return "unix-stream";
        if (type == SOCK_DGRAM)
            return "unix-dgram";
        if (type == SOCK_SEQPACKET)
            return "unix-seqpacket";
        return "unix";
    }
    return "?";
}

const char *sp_diag_family_name(int family)
{
    switch (family) {
    case AF_INET: return "inet";
    case AF_INET6: return "inet6";
    case AF_UNIX: return "unix";
    case 0: return NULL;
    }
    return "other";
}

const char *sp_diag_type_name(int type)
{
    switch (type) {
    case SOCK_STREAM: return "stream";
    case SOCK_DGRAM: return "dgram";
    case SOCK_SEQPACKET: return "seqpacket";
    case SOCK_RAW: return "raw";
    case 0: return NULL;
    }
    return "other";
}

int sp_diag_inet_port(const struct sockaddr *sa, socklen_t len, const void **ip, size_t *iplen)
{
    const void *a;
    size_t n;
    int port;
    if (sa && sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        a = &in->sin_addr;
        n = sizeof in->sin_addr;
        port = ntohs(in->sin_port);
    } else if (sa && sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        a = &in6->sin6_addr;
        n = sizeof in6->sin6_addr;
        port = ntohs(in6->sin6_port);
    } else {
        return -1;
    }
    if (ip)
        *ip = a;
    if (iplen)
        *iplen = n;
    return port;
}

static int addr_port(const struct sockaddr_storage *ss, socklen_t len)
{
    return sp_diag_inet_port((const struct sockaddr *)ss, len, NULL, NULL);
}

/* The address as raw bytes (unescaped) in tmp. */
static size_t addr_raw(const struct sockaddr_storage *ss, socklen_t len, char *tmp, size_t cap)
{
    return sp_format_addr((const struct sockaddr *)ss, len, tmp, cap);
}

static void text_addr(struct sp_buf *b, const struct sockaddr_storage *ss, socklen_t len)
{
    char tmp[128];
    size_t n = addr_raw(ss, len, tmp, sizeof tmp);
    int port = addr_port(ss, len);
    if (ss->ss_family == AF_INET6)
        sp_buf_putc(b, '[');
    sp_buf_put_text(b, tmp, n, 4 * MAX_PATH);
    if (ss->ss_family == AF_INET6)
        sp_buf_putc(b, ']');
    if (port >= 0) {
        sp_buf_putc(b, ':');
        sp_buf_putu(b, (unsigned)port);
    }
}

/* "0.4 ms", "85 us", "12 ms", "2.1 s". */
static void text_duration(struct sp_buf *b, uint64_t ns)
{
    if (ns < 100000) {
        sp_buf_putu(b, ns / 1000);
        sp_buf_puts(b, " us");
    } else if (ns < 10000000) {
        sp_buf_putdec(b, ns / 100000, 1);
        sp_buf_puts(b, " ms");
    } else if (ns < 1000000000) {
        sp_buf_putu(b, ns / 1000000);
        sp_buf_puts(b, " ms");
    } else {
        sp_buf_putdec(b, ns / 100000000, 1);
        sp_buf_puts(b, " s");
    }
}

static void text_errno(struct sp_buf *b, int err)
{
    const char *name = sp_diag_errno_name(err);
    if (name) {
        sp_buf_puts(b, name);
        sp_buf_puts(b, " (");
        sp_buf_putu(b, (unsigned)err);
        sp_buf_putc(b, ')');
    } else {
        sp_buf_puts(b, "errno ");
        sp_buf_puti(b, err);
    }
}

static void text_optlist(struct sp_buf *b, uint32_t mask, const int *errs)
{
    for (int o = 0; o < BIO_OPT_COUNT; o++) {
        if (!(mask & BIO_OPT_BIT(o)))
            continue;
        sp_buf_putc(b, ' ');
        const char *name = bio_opt_name((enum bio_opt)o);
        sp_buf_puts(b, name ? name : "?");
        if (errs) { /* "tfo (ENOPROTOOPT)" */
            const char *en = sp_diag_errno_name(errs[o]);
            sp_buf_puts(b, " (");
            if (en)
                sp_buf_puts(b, en);
            else
                sp_buf_puti(b, errs[o]);
            sp_buf_putc(b, ')');
        }
    }
}

static void text_head(struct sp_buf *b, const struct sp_event *ev, unsigned flags)
{
    if (flags & SP_FMT_F_TIME) {
        sp_buf_put_time(b, &ev->when);
        sp_buf_putc(b, ' ');
    }
    sp_buf_puts(b, "sockpolicy[");
    sp_buf_putu(b, (unsigned)ev->pid);
    sp_buf_putc(b, ' ');
    sp_buf_put_text(b, ev->prog, strnlen(ev->prog, sizeof ev->prog), 4 * MAX_PROG);
    sp_buf_puts(b, "]: ");
}

static void text_body(struct sp_buf *b, const struct sp_event *ev)
{
    sp_buf_puts(b, sp_diag_op_name(ev->op));
    sp_buf_puts(b, " fd=");
    sp_buf_puti(b, ev->fd);
    if (ev->family) {
        sp_buf_putc(b, ' ');
        sp_buf_puts(b, proto_name(ev->family, ev->type));
    }
    int have_l = ev->local_len != 0, have_r = ev->remote_len != 0;
    if (have_l) {
        sp_buf_putc(b, ' ');
        text_addr(b, &ev->local, ev->local_len);
    }
    if (have_r) {
        sp_buf_puts(b, !have_l ? " " : ev->op == SP_OP_ACCEPT ? " <- " : " -> ");
        text_addr(b, &ev->remote, ev->remote_len);
    }
    if (ev->flags & SP_EVF_DECISION) {
        sp_buf_puts(b, " decided before the call");
    } else if (sp_event_connected_at_close(ev)) {
        sp_buf_puts(b, " ok: connected, seen at close after ");
        text_duration(b, ev->duration_ns);
        sp_buf_puts(b, " (non-blocking; SO_ERROR never read)");
    } else if (ev->phase == SP_PHASE_CLOSE) {
        sp_buf_puts(b, ev->err ? " failed " : " never completed");
        if (ev->err)
            text_errno(b, ev->err);
        sp_buf_puts(b, ": closed after ");
        text_duration(b, ev->duration_ns);
        sp_buf_puts(b, " pending");
        if (ev->tcp_state >= 0) {
            sp_buf_puts(b, ", TCP state ");
            sp_buf_puts(b, sp_diag_tcp_state_name(ev->tcp_state));
        }
    } else {
        if (ev->err == 0)
            sp_buf_puts(b, " ok");
        else if (ev->err == EINPROGRESS && ev->phase == SP_PHASE_CALL)
            sp_buf_puts(b, " in progress (EINPROGRESS)");
        else {
            sp_buf_puts(b, " failed ");
            text_errno(b, ev->err);
        }
        if (!(ev->flags & SP_EVF_NO_CALL)) {
            sp_buf_puts(b, " after ");
            text_duration(b, ev->duration_ns);
        }
        if (ev->phase == SP_PHASE_SO_ERROR)
            sp_buf_puts(b, " (non-blocking, seen by SO_ERROR)");
        else if (ev->phase == SP_PHASE_LATER_CONNECT)
            sp_buf_puts(b, " (non-blocking, seen by a later connect())");
    }
    const char *why = sp_explain_event(ev);
    if (why) {
        sp_buf_puts(b, ": ");
        sp_buf_puts(b, why);
    }
    if (ev->rule || ev->opts_asked) {
        sp_buf_puts(b, " [");
        if (ev->rule) {
            sp_buf_puts(b, "rule ");
            const char *f = ev->rule->file ? ev->rule->file : "?";
            sp_buf_put_text(b, f, strlen(f), 4 * MAX_RULE_FILE);
            sp_buf_putc(b, ':');
            sp_buf_putu(b, ev->rule->line);
            sp_buf_putc(b, ' ');
            sp_buf_puts(b, sp_diag_action_name(ev->rule->action));
        } else {
            sp_buf_puts(b, "options");
        }
        if (ev->opts.applied) {
            sp_buf_putc(b, ':');
            text_optlist(b, ev->opts.applied, NULL);
        }
        if (ev->opts.failed) {
            sp_buf_puts(b, "; refused:");
            text_optlist(b, ev->opts.failed, ev->opts.err);
        }
        if (ev->opts.skipped) {
            sp_buf_puts(b, "; skipped:");
            text_optlist(b, ev->opts.skipped, NULL);
        }
        if (ev->opts_differ) {
            sp_buf_puts(b, "; read back differs:");
            text_optlist(b, ev->opts_differ, NULL);
        }
        sp_buf_putc(b, ']');
    }
    if (ev->note) {
        sp_buf_puts(b, " (");
        sp_buf_put_text(b, ev->note, strlen(ev->note), MAX_NOTE);
        sp_buf_putc(b, ')');
    }
}

/* Ends the line: the newline always fits because the body was written with one byte less. */
static size_t finish_line(struct sp_buf *b, char *buf, size_t cap)
{
    size_t n = b->len;
    if (b->full && n >= 3)
        memcpy(buf + n - 3, "...", 3);
    if (n + 1 < cap) {
        buf[n++] = '\n';
        buf[n] = '\0';
    }
    return n;
}

size_t sp_format_text(const struct sp_event *ev, unsigned flags, char *buf, size_t cap)
{
    struct sp_buf b;
    if (cap < 2) {
        if (cap)
            buf[0] = '\0';
        return 0;
    }
    sp_buf_init(&b, buf, cap - 1);
    text_head(&b, ev, flags);
    if (ev->flags & SP_EVF_SUPPRESSED) {
        sp_buf_puts(&b, "suppressed ");
        sp_buf_putu(&b, ev->suppressed);
        sp_buf_puts(&b, " events (rate limit)");
    } else if (ev->flags & SP_EVF_MESSAGE) {
        const char *m = ev->note ? ev->note : "";
        sp_buf_put_text(&b, m, strlen(m), MAX_MESSAGE);
    } else {
        text_body(&b, ev);
    }
    return finish_line(&b, buf, cap);
}

/* ---- JSON ---- */

static void jkey(struct sp_buf *b, const char *key)
{
    sp_buf_puts(b, ",\"");
    sp_buf_puts(b, key);
    sp_buf_puts(b, "\":");
}

static void jstr(struct sp_buf *b, const char *key, const char *val, size_t max)
{
    jkey(b, key);
    if (val)
        sp_buf_put_json(b, val, strlen(val), max);
    else
        sp_buf_puts(b, "null");
}

static void jaddr(struct sp_buf *b, const char *akey, const char *pkey,
                  const struct sockaddr_storage *ss, socklen_t len)
{
    jkey(b, akey);
    if (len == 0) {
        sp_buf_puts(b, "null");
    } else {
        char tmp[128];
        size_t n = addr_raw(ss, len, tmp, sizeof tmp);
        sp_buf_put_json(b, tmp, n, MAX_PATH);
    }
    jkey(b, pkey);
    int port = len ? addr_port(ss, len) : -1;
    if (port >= 0)
        sp_buf_putu(b, (unsigned)port);
    else
        sp_buf_puts(b, "null");
}

static void jerrno(struct sp_buf *b, const char *nkey, const char *namekey, int err, int have)
{
    jkey(b, nkey);
    if (have)
        sp_buf_puti(b, err);
    else
        sp_buf_puts(b, "null");
    jstr(b, namekey, have ? sp_diag_errno_name(err) : NULL, 32);
}

static void put_optname(struct sp_buf *b, int o)
{
    const char *n = bio_opt_name((enum bio_opt)o);
    if (n == NULL)
        n = "?";
    sp_buf_put_json(b, n, strlen(n), 32);
}

/* [names] or, with errs, [{"name":..,"errno":..,"errno_name":..}]. */
static void optarray(struct sp_buf *b, uint32_t mask, const int *errs)
{
    sp_buf_putc(b, '[');
    int first = 1;
    for (int o = 0; o < BIO_OPT_COUNT; o++) {
        if (!(mask & BIO_OPT_BIT(o)))
            continue;
        if (!first)
            sp_buf_putc(b, ',');
        first = 0;
        if (!errs) {
            put_optname(b, o);
            continue;
        }
        sp_buf_puts(b, "{\"name\":");
        put_optname(b, o);
        jerrno(b, "errno", "errno_name", errs[o], 1);
        sp_buf_putc(b, '}');
    }
    sp_buf_putc(b, ']');
}

static void joptlist(struct sp_buf *b, const char *key, uint32_t mask, const int *errs)
{
    jkey(b, key);
    optarray(b, mask, errs);
}

const char *sp_diag_result_name(const struct sp_event *ev)
{
    if (ev->flags & SP_EVF_DECISION)
        return "decided";
    if (sp_event_connected_at_close(ev))
        return "ok";
    if (ev->phase == SP_PHASE_CLOSE)
        return ev->err ? "failed" : "never-completed";
    if (ev->err == 0)
        return "ok";
    if (ev->err == EINPROGRESS && ev->phase == SP_PHASE_CALL)
        return "in-progress";
    return "failed";
}

static const char *phase_name(enum sp_phase p)
{
    switch (p) {
    case SP_PHASE_CALL: return "call";
    case SP_PHASE_SO_ERROR: return "so_error";
    case SP_PHASE_CLOSE: return "close";
    case SP_PHASE_LATER_CONNECT: return "later_connect";
    }
    return "?";
}

static void json_head(struct sp_buf *b, const struct sp_event *ev, const char *event)
{
    sp_buf_puts(b, "{\"time\":\"");
    sp_buf_put_time(b, &ev->when);
    sp_buf_puts(b, "\",\"event\":\"");
    sp_buf_puts(b, event);
    sp_buf_puts(b, "\",\"pid\":");
    sp_buf_putu(b, (unsigned)ev->pid);
    jkey(b, "prog");
    sp_buf_put_json(b, ev->prog, strnlen(ev->prog, sizeof ev->prog), MAX_PROG);
}

/* level 0: everything; 1: without rule text, note and options; 2: the minimum. */
static void json_body(struct sp_buf *b, const struct sp_event *ev, int level)
{
    jkey(b, "fd");
    sp_buf_puti(b, ev->fd);
    jstr(b, "op", sp_diag_op_name(ev->op), 16);
    jerrno(b, "errno", "errno_name", ev->err, 1);
    jstr(b, "result", sp_diag_result_name(ev), 32);
    if (level >= 2) {
        sp_buf_puts(b, ",\"truncated\":true}");
        return;
    }
    jstr(b, "family", sp_diag_family_name(ev->family), 16);
    jstr(b, "type", sp_diag_type_name(ev->type), 16);
    jaddr(b, "local_addr", "local_port", &ev->local, ev->local_len);
    jaddr(b, "remote_addr", "remote_port", &ev->remote, ev->remote_len);
    jstr(b, "explanation", sp_explain_event(ev), 512);
    jkey(b, "duration_ns");
    if (ev->flags & SP_EVF_NO_CALL)
        sp_buf_puts(b, "null");
    else
        sp_buf_putu(b, ev->duration_ns);
    jstr(b, "phase", phase_name(ev->phase), 16);
    jkey(b, "nonblocking");
    sp_buf_puts(b, (ev->flags & SP_EVF_NONBLOCK) ? "true" : "false");
    jstr(b, "tcp_state", ev->tcp_state >= 0 ? sp_diag_tcp_state_name(ev->tcp_state) : NULL, 16);
    jkey(b, "rule");
    if (ev->rule) {
        sp_buf_puts(b, "{\"file\":");
        const char *f = ev->rule->file ? ev->rule->file : "";
        sp_buf_put_json(b, f, strlen(f), MAX_RULE_FILE);
        sp_buf_puts(b, ",\"line\":");
        sp_buf_putu(b, ev->rule->line);
        jstr(b, "action", sp_diag_action_name(ev->rule->action), 16);
        if (level == 0)
            jstr(b, "text", ev->rule->text, MAX_RULE_TEXT);
        sp_buf_putc(b, '}');
    } else {
        sp_buf_puts(b, "null");
    }
    jkey(b, "options");
    if (ev->opts_asked && level == 0) {
        sp_buf_puts(b, "{\"asked\":");
        optarray(b, ev->opts_asked, NULL);
        joptlist(b, "applied", ev->opts.applied, NULL);
        joptlist(b, "skipped", ev->opts.skipped, NULL);
        joptlist(b, "failed", ev->opts.failed, ev->opts.err);
        joptlist(b, "differ", ev->opts_differ, NULL);
        sp_buf_putc(b, '}');
    } else {
        sp_buf_puts(b, "null");
    }
    jstr(b, "note", level == 0 ? ev->note : NULL, MAX_NOTE);
    if (level == 1)
        sp_buf_puts(b, ",\"truncated\":true");
    sp_buf_putc(b, '}');
}

size_t sp_format_json(const struct sp_event *ev, char *buf, size_t cap)
{
    struct sp_buf b;
    for (int level = 0; level <= 2; level++) {
        sp_buf_init(&b, buf, cap > 1 ? cap - 1 : cap);
        if (ev->flags & SP_EVF_MESSAGE) {
            json_head(&b, ev, "message");
            jstr(&b, "level", ev->msg_level == SP_LOG_FAILURES ? "failures"
                              : ev->msg_level == SP_LOG_ALL ? "all" : "debug", 16);
            jstr(&b, "message", ev->note, level == 0 ? MAX_MESSAGE : MAX_NOTE);
            sp_buf_putc(&b, '}');
        } else if (ev->flags & SP_EVF_SUPPRESSED) {
            json_head(&b, ev, "suppressed");
            jkey(&b, "suppressed");
            sp_buf_putu(&b, ev->suppressed);
            sp_buf_putc(&b, '}');
        } else {
            json_head(&b, ev, "call");
            json_body(&b, ev, level);
        }
        if (!b.full)
            break;
    }
    if (b.full) { /* cap below the documented minimum: an empty line, never broken JSON */
        b.len = 0;
    }
    size_t n = b.len;
    if (n + 1 < cap) {
        buf[n++] = '\n';
        buf[n] = '\0';
    }
    return n;
}
