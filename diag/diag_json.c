/* diag/diag_json.c: an event as one JSON object. Field by field in docs/log-format.md; the
 * JSON names are a stable interface: change a name there first. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "diag.h"
#include "diag_format_int.h"

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
        size_t n = sp_format_addr((const struct sockaddr *)ss, len, tmp, sizeof tmp);
        sp_buf_put_json(b, tmp, n, MAX_PATH);
    }
    jkey(b, pkey);
    int port = len ? sp_diag_inet_port((const struct sockaddr *)ss, len, NULL, NULL) : -1;
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
