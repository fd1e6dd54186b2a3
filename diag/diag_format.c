/* diag/diag_format.c: an event as one text line (diag_json.c: as one JSON object). Field by field in
 * docs/log-format.md; change a name there first, the JSON names are a stable interface. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "diag.h"

#include "diag_format_int.h"

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
