/* diag/diag_sink.c: where a line goes. A file (reopened after rotation or when the program
 * took its descriptor), stderr while fd 2 is still the same file, syslog's /dev/log, journald's native
 * socket. One write or send per line; sockets are made and closed only through the ops table
 * (the public names are our own hooks); open/fstat/stat/write are not hooked and are called
 * directly. Our descriptors live high (from min(RLIMIT_NOFILE, 1024) - 24 down), close-on-exec,
 * and are closed only while they still are what we opened (a program's close_range and reuse
 * of the number makes it theirs). A sink that cannot be used hands its lines to its fallback
 * and opens again later, at most once a second. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "diag.h"

static int libc_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    return connect(fd, sa, len);
}

static ssize_t libc_sendto(int fd, const void *buf, size_t len, int flags,
                           const struct sockaddr *sa, socklen_t salen)
{
    return sendto(fd, buf, len, flags, sa, salen);
}

/* Local wrappers rather than libc's addresses: an address in a table is a symbol lookup when
 * the preload library is loaded, in every process (issue 7's start-up cost). */
static int libc_socket(int domain, int type, int protocol)
{
    return socket(domain, type, protocol);
}

static int libc_close(int fd)
{
    return close(fd);
}

static int libc_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    return getsockopt(fd, level, name, val, len);
}

static const struct sp_diag_ops libc_ops = {
    .socket = libc_socket,
    .connect = libc_connect,
    .sendto = libc_sendto,
    .close = libc_close,
    .getsockopt = libc_getsockopt,
};

const struct sp_diag_ops *sp_diag_libc_ops(void)
{
    return &libc_ops;
}

/* One number for (device, inode); + 1 keeps it a bijection while leaving 0 for "unknown". */
static uint64_t stat_id(const struct stat *st)
{
    return ((uint64_t)st->st_ino ^ ((uint64_t)st->st_dev << 40)) + 1;
}

static uint64_t fd_id(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? stat_id(&st) : 0;
}

/* The open flags that, with the identity and close-on-exec, tell our descriptor from another
 * open of the same file (a program may open our log file itself). */
#define OFLAGS_MASK (O_ACCMODE | O_APPEND | O_NONBLOCK)

static int fd_oflags(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fl & OFLAGS_MASK;
}

/* Whether fd still is the descriptor we opened: the same file (device and inode), the same
 * open flags, close-on-exec. A program that closed our number and opened something there
 * (close_range(3, ~0U), then its own files) fails this; so does its own open of our file. */
static int still_ours(int fd, uint64_t id, int oflags)
{
    if (fd < 0 || id == 0 || fd_id(fd) != id)
        return 0;
    int fdfl = fcntl(fd, F_GETFD);
    return fdfl >= 0 && (fdfl & FD_CLOEXEC) && fd_oflags(fd) == oflags;
}

/* Closes fd only if it still is ours (see still_ours): a number the program took over is
 * forgotten, never closed. */
static void close_if_ours(const struct sp_sink *s, int fd, uint64_t id, int oflags)
{
    if (still_ours(fd, id, oflags))
        s->ops->close(fd);
}

/* Whether writing to fd may raise SIGPIPE (a pipe, a FIFO, a socket): its reader may go away. */
static int fd_piped(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
}

static int64_t mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/* Whether this is the first failed-open retry of the current second (at most one a second:
 * a program at its descriptor limit must not pay an open() for every line). */
static int retry_due(struct sp_sink *s)
{
    int64_t now = mono_s(), last = atomic_load(&s->retry_s);
    return now != last && atomic_compare_exchange_strong(&s->retry_s, &last, now);
}

/* The base our descriptors start from: min(RLIMIT_NOFILE soft limit, 1024) - 24. Programs
 * count on getting the lowest free number (and select() on numbers below 1024), so ours stay
 * out of their way, high but below the limit. */
static int fd_base(void)
{
    struct rlimit rl;
    long lim = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 1024)
        lim = (long)rl.rlim_cur;
    return lim - 24 > 3 ? (int)(lim - 24) : 3;
}

/* fd moved to a high number, close-on-exec (see fd_base): the lowest free number from the
 * base, else from lower bases, halving down to 3; fd itself when nothing higher is free. */
static int move_high(const struct sp_diag_ops *ops, int fd)
{
    if (fd < 0)
        return fd;
    for (int base = fd_base();; base = base / 2 > 3 ? base / 2 : 3) {
        if (fd >= base)
            return fd;
        int hi = fcntl(fd, F_DUPFD_CLOEXEC, base);
        if (hi >= 0) {
            ops->close(fd);
            return hi;
        }
        if (base == 3)
            break;
    }
    if (fd > 2)
        return fd; /* nothing free above it: keep it (it is close-on-exec already) */
    ops->close(fd); /* never on 0, 1 or 2 */
    errno = EMFILE;
    return -1;
}

static void sink_reset(struct sp_sink *s, const struct sp_diag_ops *ops, const char *path)
{
    memset(s, 0, sizeof *s);
    s->kind = SP_SINK_NONE;
    s->ops = ops ? ops : &libc_ops;
    atomic_store(&s->fd, -1);
    atomic_store(&s->retired, -1);
    atomic_store(&s->retry_s, -1);
    if (path) {
        size_t n = strlen(path);
        if (n >= sizeof s->path)
            n = sizeof s->path - 1;
        memcpy(s->path, path, n);
        s->path[n] = '\0';
    }
}

/* A privileged writer keeps only a file it can trust (SP_SINK_F_OWNER): owned by root or the
 * euid, writable by nobody else, and a regular file with one link (not a hard link an
 * unprivileged user made to a file of root's). Returns 0, or the errno to refuse with. */
static int owner_refuses(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return errno;
    if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & (S_IWGRP | S_IWOTH)))
        return EPERM;
    if (S_ISREG(st.st_mode) && st.st_nlink != 1)
        return EPERM;
    return 0;
}

/* Opens the file sink's path; fills *id and *oflags. -1 with errno (recorded in open_err). */
static int open_file(struct sp_sink *s, uint64_t *id, int *oflags)
{
    /* O_NONBLOCK: a FIFO with no reader fails at once (ENXIO) instead of hanging the program at
     * its first line, and a full one drops a line rather than stall it; a regular file ignores
     * the flag. */
    int flags = O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    if (s->flags & SP_SINK_F_OWNER)
        flags |= O_NOFOLLOW; /* a symlink planted at the path (ELOOP) */
    int fd = open(s->path, flags, 0644);
    int err = fd < 0 ? errno : 0;
    struct stat lst;
    if (fd < 0 && (s->flags & SP_SINK_F_OWNER) && lstat(s->path, &lst) == 0 && S_ISLNK(lst.st_mode))
        err = ELOOP; /* O_CREAT on a symlink in a sticky directory says EACCES: name the cause */
    if (fd >= 0 && (s->flags & SP_SINK_F_OWNER) && (err = owner_refuses(fd)) != 0) {
        s->ops->close(fd);
        fd = -1;
    }
    if (fd >= 0) {
        fd = move_high(s->ops, fd);
        err = fd < 0 ? errno : 0;
    }
    atomic_store(&s->open_err, err);
    if (fd < 0) {
        errno = err;
        return -1;
    }
    *id = fd_id(fd);
    *oflags = fd_oflags(fd);
    return fd;
}

int sp_sink_file_ex(struct sp_sink *s, const struct sp_diag_ops *ops, const char *path,
                    unsigned flags)
{
    int saved = errno;
    sink_reset(s, ops, path);
    s->flags = flags;
    if (path == NULL || strlen(path) >= sizeof s->path) {
        errno = path ? ENAMETOOLONG : EINVAL;
        return -1;
    }
    s->kind = SP_SINK_FILE;
    atomic_store(&s->last_check_s, mono_s());
    uint64_t id = 0;
    int oflags = 0;
    int fd = open_file(s, &id, &oflags);
    if (fd < 0) {
        atomic_store(&s->retry_s, mono_s()); /* the next try in the next second */
        return -1;
    }
    atomic_store(&s->id, id);
    atomic_store(&s->oflags, oflags);
    atomic_store(&s->piped, fd_piped(fd));
    atomic_store(&s->fd, fd);
    errno = saved;
    return 0;
}

int sp_sink_file(struct sp_sink *s, const struct sp_diag_ops *ops, const char *path)
{
    return sp_sink_file_ex(s, ops, path, 0);
}

int sp_sink_stderr(struct sp_sink *s, const struct sp_diag_ops *ops)
{
    int saved = errno;
    sink_reset(s, ops, NULL);
    uint64_t id = fd_id(2);
    if (id == 0)
        return -1;
    atomic_store(&s->id, id);
    atomic_store(&s->piped, fd_piped(2));
    atomic_store(&s->fd, 2);
    s->kind = SP_SINK_STDERR;
    errno = saved;
    return 0;
}

static int sock_sink(struct sp_sink *s, enum sp_sink_kind kind, const struct sp_diag_ops *ops,
                     const char *path, const char *ident)
{
    int saved = errno;
    sink_reset(s, ops, path);
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
    if (last != -1 && !retry_due(s))
        return -1;
    int nfd = s->ops->socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    nfd = move_high(s->ops, nfd);
    if (nfd < 0) {
        atomic_store(&s->open_err, errno);
        atomic_store(&s->retry_s, mono_s());
        return -1;
    }
    atomic_store(&s->open_err, 0);
    uint64_t id = fd_id(nfd);
    int oflags = fd_oflags(nfd);
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

/* The file sink's descriptor, opened again when the program closed or reused ours (it no
 * longer is what we opened), when the last open failed (at most once a second), or when the
 * path now names another file (rotation; checked at most once a second). A descriptor we lost
 * is never closed: it is the program's now. A rotated one is kept open until the next
 * rotation, in case another thread is writing to it, and closed then only if still ours. */
static int file_fd(struct sp_sink *s)
{
    int fd = atomic_load(&s->fd);
    uint64_t id = atomic_load(&s->id);
    int lost = fd >= 0 && !still_ours(fd, id, atomic_load(&s->oflags));
    if (fd < 0 && !retry_due(s))
        return -1; /* never opened, or lost: one open a second */
    int rotated = 0;
    int64_t now = mono_s(), last = atomic_load(&s->last_check_s);
    if (fd >= 0 && !lost && now != last &&
        atomic_compare_exchange_strong(&s->last_check_s, &last, now)) {
        struct stat st;
        rotated = stat(s->path, &st) != 0 || stat_id(&st) != id;
    }
    if (fd >= 0 && !lost && !rotated)
        return fd;
    uint64_t nid = 0;
    int noflags = 0;
    int nfd = open_file(s, &nid, &noflags);
    if (nfd < 0) {
        if (fd >= 0 && !lost)
            return fd; /* keep writing to the rotated file rather than nowhere */
        if (lost)
            atomic_compare_exchange_strong(&s->fd, &fd, -1); /* forgotten, not closed */
        atomic_store(&s->retry_s, mono_s());
        return -1;
    }
    int ofl = atomic_load(&s->oflags);
    atomic_store(&s->id, nid);
    atomic_store(&s->oflags, noflags);
    atomic_store(&s->piped, fd_piped(nfd));
    if (!atomic_compare_exchange_strong(&s->fd, &fd, nfd)) {
        s->ops->close(nfd); /* another thread reopened first: use its descriptor */
        if (fd >= 0) {
            atomic_store(&s->id, fd_id(fd));
            atomic_store(&s->oflags, fd_oflags(fd));
        }
        return fd;
    }
    if (fd >= 0 && !lost) {
        /* the rotated descriptor is retired; the one retired before it is closed if ours */
        uint64_t rid = atomic_exchange(&s->retired_id, id);
        int rfl = atomic_exchange(&s->retired_oflags, ofl);
        int old = atomic_exchange(&s->retired, fd);
        if (old >= 0)
            close_if_ours(s, old, rid, rfl);
    }
    return nfd;
}

static int write_once(int fd, const char *line, size_t len)
{
    for (int tries = 0; tries < 8; tries++) {
        ssize_t w = write(fd, line, len);
        if (w >= 0)
            return (size_t)w == len ? 0 : -1;
        if (errno != EINTR)
            return -1;
    }
    return -1;
}

/* One line to fd. When fd is a pipe whose reader has gone (a collector restarting, a daemon's
 * stderr piped to a logger that died), the write must not kill the program with SIGPIPE: the
 * signal is held off this thread around the write, and one the write raised is taken back
 * (a SIGPIPE the program itself had pending stays). */
static int write_line_to(int fd, const char *line, size_t len, int piped)
{
    if (!piped)
        return write_once(fd, line, len);
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    if (pthread_sigmask(SIG_BLOCK, &pipe_set, &old) != 0)
        return -1; /* never risk it */
    int was_pending = sigismember(&old, SIGPIPE) && sigpending(&pending) == 0 &&
                      sigismember(&pending, SIGPIPE);
    int r = write_once(fd, line, len);
    if (r != 0 && errno == EPIPE && !was_pending) {
        struct timespec zero = { 0, 0 };
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return r;
}

static int send_dgram(struct sp_sink *s, const char *buf, size_t len)
{
    int fd = sock_fd(s);
    if (fd >= 0 && !still_ours(fd, atomic_load(&s->id), atomic_load(&s->oflags))) {
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

static int write_one(struct sp_sink *s, const char *line, size_t len, const struct sp_event *ev,
                     int priority, char *dg, size_t cap)
{
    switch (s->kind) {
    case SP_SINK_FILE: {
        int fd = file_fd(s);
        return fd >= 0 ? write_line_to(fd, line, len, atomic_load(&s->piped)) : -1;
    }
    case SP_SINK_STDERR: {
        int fd = atomic_load(&s->fd);
        if (fd >= 0 && fd_id(fd) == atomic_load(&s->id))
            return write_line_to(fd, line, len, atomic_load(&s->piped));
        return -1;
    }
    case SP_SINK_SYSLOG: {
        size_t n = sp_syslog_datagram(s->facility, priority, s->ident, ev ? ev->pid : getpid(),
                                      line, len, dg, cap);
        return send_dgram(s, dg, n);
    }
    case SP_SINK_JOURNALD: {
        size_t n = sp_journald_datagram(ev, line, len, priority, s->ident, dg, cap);
        return n ? send_dgram(s, dg, n) : -1;
    }
    case SP_SINK_NONE:
        return 0;
    }
    return -1;
}

int sp_sink_write_buf(struct sp_sink *s, const char *line, size_t len, const struct sp_event *ev,
                      int priority, char *dg, size_t cap)
{
    int saved = errno;
    int r = write_one(s, line, len, ev, priority, dg, cap);
    if (r != 0) {
        atomic_fetch_add(&s->dropped, 1);
        if (s->fallback && s->fallback != s)
            r = write_one(s->fallback, line, len, ev, priority, dg, cap);
    }
    errno = saved;
    return r;
}

int sp_sink_write(struct sp_sink *s, const char *line, size_t len, const struct sp_event *ev,
                  int priority)
{
    char dg[2 * SP_DIAG_LINE_MAX];
    return sp_sink_write_buf(s, line, len, ev, priority, dg, sizeof dg);
}

void sp_sink_close(struct sp_sink *s)
{
    int saved = errno;
    int fd = atomic_exchange(&s->fd, -1);
    if (fd >= 0 && s->kind != SP_SINK_STDERR) /* fd 2 is the program's: never closed */
        close_if_ours(s, fd, atomic_load(&s->id), atomic_load(&s->oflags));
    int old = atomic_exchange(&s->retired, -1);
    if (old >= 0)
        close_if_ours(s, old, atomic_load(&s->retired_id), atomic_load(&s->retired_oflags));
    s->kind = SP_SINK_NONE;
    errno = saved;
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
