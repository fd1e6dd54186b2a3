/* diag/diag_sink_sock.c: the syslog and journald sinks: an unconnected, non-blocking
 * datagram socket made at the first line, each line sent to the daemon's path (a restarted
 * daemon is found again), and the two datagram formats (RFC 3164 without timestamp and host;
 * journald's native KEY=value fields). */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "diag_sink_int.h"

static int sock_sink(struct sp_sink *s, enum sp_sink_kind kind, const struct sp_diag_ops *ops,
                     const char *path, const char *ident)
{
    int saved = errno;
    diag__sink_reset(s, ops, path);
    if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    size_t n = strlen(ident ? ident : "sockpolicy");
    if (n >= sizeof s->ident)
        n = sizeof s->ident - 1;
    memcpy(s->ident, ident ? ident : "sockpolicy", n);
    s->ident[n] = '\0';
    s->kind = kind; /* the socket is made at the first line (sock_fd) */
    errno = saved;
    return 0;
}

/* The syslog or journald sink's socket, made now if it is not yet (or the last try failed,
 * at most once a second). Non-blocking: a stalled log daemon costs a dropped line, never a
 * stalled program. Unconnected: each line is sent to the path, so a restarted daemon is found
 * again. -1 when there is none. */
static int sock_fd(struct sp_sink *s)
{
    int fd = atomic_load(&s->fd);
    if (fd >= 0)
        return fd;
    int64_t last = atomic_load(&s->retry_s);
    if (last != -1 && !diag__retry_due(s))
        return -1;
    int nfd = s->ops->socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    nfd = diag__move_high(s->ops, nfd);
    if (nfd < 0) {
        atomic_store(&s->open_err, errno);
        atomic_store(&s->retry_s, diag__mono_s());
        return -1;
    }
    atomic_store(&s->open_err, 0);
    uint64_t id = diag__fd_id(nfd);
    int oflags = diag__fd_oflags(nfd);
    int none = -1;
    if (!atomic_compare_exchange_strong(&s->fd, &none, nfd)) {
        s->ops->close(nfd); /* another thread made one first: use it */
        return none;
    }
    atomic_store(&s->oflags, oflags);
    atomic_store(&s->id, id);
    return nfd;
}

int sp_sink_syslog(struct sp_sink *s, const struct sp_diag_ops *ops, const char *path,
                   int facility, const char *ident)
{
    int r = sock_sink(s, SP_SINK_SYSLOG, ops, path ? path : "/dev/log", ident);
    s->facility = facility & LOG_FACMASK;
    return r;
}

int sp_sink_journald(struct sp_sink *s, const struct sp_diag_ops *ops, const char *path,
                     const char *ident)
{
    return sock_sink(s, SP_SINK_JOURNALD, ops, path ? path : "/run/systemd/journal/socket",
                     ident);
}
int diag__send_dgram(struct sp_sink *s, const char *buf, size_t len)
{
    int fd = sock_fd(s);
    if (fd >= 0 && !diag__still_ours(fd, atomic_load(&s->id), atomic_load(&s->oflags))) {
        /* the program took our socket's number: never send on its descriptor, never close
         * it; a socket of our own is made again */
        atomic_compare_exchange_strong(&s->fd, &fd, -1);
        atomic_store(&s->retry_s, -1);
        fd = sock_fd(s);
    }
    if (fd < 0)
        return -1;
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, s->path, strlen(s->path));
    for (int tries = 0; tries < 8; tries++) {
        ssize_t w = s->ops->sendto(fd, buf, len, MSG_NOSIGNAL, (const struct sockaddr *)&sun,
                                   sizeof sun);
        if (w >= 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
    return -1;
}

size_t sp_syslog_datagram(int facility, int priority, const char *ident, pid_t pid,
                          const char *line, size_t len, char *buf, size_t cap)
{
    struct sp_buf b;
    sp_buf_init(&b, buf, cap);
    if (len && line[len - 1] == '\n')
        len--;
    /* RFC 3164 without TIMESTAMP and HOSTNAME, as a local sender may: the daemon stamps the
     * time in its own zone (we cannot read the zone safely on a hook's path). */
    sp_buf_putc(&b, '<');
    sp_buf_putu(&b, (unsigned)((facility & LOG_FACMASK) | (priority & LOG_PRIMASK)));
    sp_buf_putc(&b, '>');
    sp_buf_puts(&b, ident);
    sp_buf_putc(&b, '[');
    sp_buf_putu(&b, (unsigned)pid);
    sp_buf_puts(&b, "]: ");
    sp_buf_put(&b, line, len);
    return b.len;
}

/* KEY=value\n, or the binary form when value holds a newline. */
static void jfield(struct sp_buf *b, const char *key, const char *val, size_t n)
{
    sp_buf_puts(b, key);
    if (memchr(val, '\n', n) == NULL) {
        sp_buf_putc(b, '=');
        sp_buf_put(b, val, n);
    } else {
        sp_buf_putc(b, '\n');
        char le[8];
        for (int i = 0; i < 8; i++)
            le[i] = (char)((uint64_t)n >> (8 * i));
        sp_buf_put(b, le, 8);
        sp_buf_put(b, val, n);
    }
    sp_buf_putc(b, '\n');
}

static void jfield_s(struct sp_buf *b, const char *key, const char *val)
{
    if (val)
        jfield(b, key, val, strlen(val));
}

static void jfield_i(struct sp_buf *b, const char *key, int64_t v)
{
    char tmp[24];
    struct sp_buf t;
    sp_buf_init(&t, tmp, sizeof tmp);
    sp_buf_puti(&t, v);
    jfield(b, key, tmp, t.len);
}

static void jfield_addr(struct sp_buf *b, const char *akey, const char *pkey,
                        const struct sockaddr_storage *ss, socklen_t len)
{
    if (len == 0)
        return;
    char tmp[128];
    size_t n = sp_format_addr((const struct sockaddr *)ss, len, tmp, sizeof tmp);
    jfield(b, akey, tmp, n);
    if (ss->ss_family == AF_INET && len >= sizeof(struct sockaddr_in))
        jfield_i(b, pkey, ntohs(((const struct sockaddr_in *)ss)->sin_port));
    else if (ss->ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6))
        jfield_i(b, pkey, ntohs(((const struct sockaddr_in6 *)ss)->sin6_port));
}

size_t sp_journald_datagram(const struct sp_event *ev, const char *line, size_t len,
                            int priority, const char *ident, char *buf, size_t cap)
{
    struct sp_buf b;
    sp_buf_init(&b, buf, cap);
    if (len && line[len - 1] == '\n')
        len--;
    jfield(&b, "MESSAGE", line, len);
    jfield_i(&b, "PRIORITY", priority & LOG_PRIMASK);
    jfield_s(&b, "SYSLOG_IDENTIFIER", ident);
    if (ev && !(ev->flags & SP_EVF_SUPPRESSED)) {
        jfield_s(&b, "SOCKPOLICY_OP", sp_diag_op_name(ev->op));
        jfield_i(&b, "SOCKPOLICY_FD", ev->fd);
        jfield_s(&b, "SOCKPOLICY_FAMILY", sp_diag_family_name(ev->family));
        jfield_s(&b, "SOCKPOLICY_TYPE", sp_diag_type_name(ev->type));
        jfield_s(&b, "SOCKPOLICY_RESULT", sp_diag_result_name(ev));
        jfield_i(&b, "SOCKPOLICY_ERRNO", ev->err);
        jfield_s(&b, "SOCKPOLICY_ERRNO_NAME", ev->err ? sp_diag_errno_name(ev->err) : NULL);
        jfield_addr(&b, "SOCKPOLICY_LOCAL_ADDR", "SOCKPOLICY_LOCAL_PORT", &ev->local,
                    ev->local_len);
        jfield_addr(&b, "SOCKPOLICY_REMOTE_ADDR", "SOCKPOLICY_REMOTE_PORT", &ev->remote,
                    ev->remote_len);
        jfield_i(&b, "SOCKPOLICY_DURATION_NS", (int64_t)ev->duration_ns);
        if (ev->rule && ev->rule->file) {
            char tmp[300];
            struct sp_buf t;
            sp_buf_init(&t, tmp, sizeof tmp);
            sp_buf_puts(&t, ev->rule->file);
            sp_buf_putc(&t, ':');
            sp_buf_putu(&t, ev->rule->line);
            jfield(&b, "SOCKPOLICY_RULE", tmp, t.len);
        }
    } else if (ev) {
        jfield_i(&b, "SOCKPOLICY_SUPPRESSED", (int64_t)ev->suppressed);
    }
    return b.full ? 0 : b.len;
}

