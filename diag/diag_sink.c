/* diag/diag_sink.c: where a line goes, and what every sink shares. A file (reopened after
 * rotation or when the program took its descriptor) and stderr while fd 2 is still the same
 * file (diag_sink_file.c); syslog's /dev/log and journald's native socket (diag_sink_sock.c).
 * One write or send per line; sockets are made and closed only through the ops table (the
 * public names are our own hooks); open/fstat/stat/write are not hooked and are called
 * directly. Our descriptors live high (from min(RLIMIT_NOFILE, 1024) - 24 down), close-on-exec,
 * and are closed only while they still are what we opened (a program's close_range and reuse
 * of the number makes it theirs). A sink that cannot be used hands its lines to its fallback
 * and opens again later, at most once a second. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag_sink_int.h"
#include "libc.h"

/* Plain libc, through core's wrappers (core/libc.h). */
static const struct sp_diag_ops libc_ops = {
    .socket = bio_libc_socket,
    .connect = bio_libc_connect,
    .sendto = bio_libc_sendto,
    .close = bio_libc_close,
    .getsockopt = bio_libc_getsockopt,
};

const struct sp_diag_ops *sp_diag_libc_ops(void)
{
    return &libc_ops;
}

/* One number for (device, inode); + 1 keeps it a bijection while leaving 0 for "unknown". */
uint64_t diag__stat_id(const struct stat *st)
{
    return ((uint64_t)st->st_ino ^ ((uint64_t)st->st_dev << 40)) + 1;
}

uint64_t diag__fd_id(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? diag__stat_id(&st) : 0;
}

/* The open flags that, with the identity and close-on-exec, tell our descriptor from another
 * open of the same file (a program may open our log file itself). */
#define OFLAGS_MASK (O_ACCMODE | O_APPEND | O_NONBLOCK)

int diag__fd_oflags(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fl & OFLAGS_MASK;
}

/* Whether fd still is the descriptor we opened: the same file (device and inode), the same
 * open flags, close-on-exec. A program that closed our number and opened something there
 * (close_range(3, ~0U), then its own files) fails this; so does its own open of our file. */
int diag__still_ours(int fd, uint64_t id, int oflags)
{
    if (fd < 0 || id == 0 || diag__fd_id(fd) != id)
        return 0;
    int fdfl = fcntl(fd, F_GETFD);
    return fdfl >= 0 && (fdfl & FD_CLOEXEC) && diag__fd_oflags(fd) == oflags;
}

/* Closes fd only if it still is ours (see still_ours): a number the program took over is
 * forgotten, never closed. */
void diag__close_if_ours(const struct sp_sink *s, int fd, uint64_t id, int oflags)
{
    if (diag__still_ours(fd, id, oflags))
        s->ops->close(fd);
}

/* Whether writing to fd may raise SIGPIPE (a pipe, a FIFO, a socket): its reader may go away. */
int diag__fd_piped(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
}

int64_t diag__mono_s(void)
{
    return (int64_t)(sp_diag_now_ns() / 1000000000u);
}

/* Whether this is the first failed-open retry of the current second (at most one a second:
 * a program at its descriptor limit must not pay an open() for every line). */
int diag__retry_due(struct sp_sink *s)
{
    int64_t now = diag__mono_s(), last = atomic_load(&s->retry_s);
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
int diag__move_high(const struct sp_diag_ops *ops, int fd)
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

void diag__sink_reset(struct sp_sink *s, const struct sp_diag_ops *ops, const char *path)
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

static int write_one(struct sp_sink *s, const char *line, size_t len, const struct sp_event *ev,
                     int priority, char *dg, size_t cap)
{
    switch (s->kind) {
    case SP_SINK_FILE: {
        int fd = diag__file_fd(s);
        return fd >= 0 ? diag__write_line_to(fd, line, len, atomic_load(&s->piped)) : -1;
    }
    case SP_SINK_STDERR: {
        int fd = atomic_load(&s->fd);
        if (fd >= 0 && diag__fd_id(fd) == atomic_load(&s->id))
            return diag__write_line_to(fd, line, len, atomic_load(&s->piped));
        return -1;
    }
    case SP_SINK_SYSLOG: {
        size_t n = sp_syslog_datagram(s->facility, priority, s->ident, ev ? ev->pid : getpid(),
                                      line, len, dg, cap);
        return diag__send_dgram(s, dg, n);
    }
    case SP_SINK_JOURNALD: {
        size_t n = sp_journald_datagram(ev, line, len, priority, s->ident, dg, cap);
        return n ? diag__send_dgram(s, dg, n) : -1;
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
        diag__close_if_ours(s, fd, atomic_load(&s->id), atomic_load(&s->oflags));
    int old = atomic_exchange(&s->retired, -1);
    if (old >= 0)
        diag__close_if_ours(s, old, atomic_load(&s->retired_id), atomic_load(&s->retired_oflags));
    s->kind = SP_SINK_NONE;
    errno = saved;
}
