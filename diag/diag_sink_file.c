/* diag/diag_sink_file.c: the file sink (opened O_APPEND, high and close-on-exec; reopened
 * when the path was rotated or the program took the descriptor; a privileged writer keeps
 * only a file it can trust) and the stderr sink; one write(2) per line, SIGPIPE held off. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag_sink_int.h"


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
        fd = diag__move_high(s->ops, fd);
        err = fd < 0 ? errno : 0;
    }
    atomic_store(&s->open_err, err);
    if (fd < 0) {
        errno = err;
        return -1;
    }
    *id = diag__fd_id(fd);
    *oflags = diag__fd_oflags(fd);
    return fd;
}

int sp_sink_file_ex(struct sp_sink *s, const struct sp_diag_ops *ops, const char *path,
                    unsigned flags)
{
    int saved = errno;
    diag__sink_reset(s, ops, path);
    s->flags = flags;
    if (path == NULL || strlen(path) >= sizeof s->path) {
        errno = path ? ENAMETOOLONG : EINVAL;
        return -1;
    }
    s->kind = SP_SINK_FILE;
    atomic_store(&s->last_check_s, diag__mono_s());
    uint64_t id = 0;
    int oflags = 0;
    int fd = open_file(s, &id, &oflags);
    if (fd < 0) {
        atomic_store(&s->retry_s, diag__mono_s()); /* the next try in the next second */
        return -1;
    }
    atomic_store(&s->id, id);
    atomic_store(&s->oflags, oflags);
    atomic_store(&s->piped, diag__fd_piped(fd));
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
    diag__sink_reset(s, ops, NULL);
    uint64_t id = diag__fd_id(2);
    if (id == 0)
        return -1;
    atomic_store(&s->id, id);
    atomic_store(&s->piped, diag__fd_piped(2));
    atomic_store(&s->fd, 2);
    s->kind = SP_SINK_STDERR;
    errno = saved;
    return 0;
}


/* The file sink's descriptor, opened again when the program closed or reused ours (it no
 * longer is what we opened), when the last open failed (at most once a second), or when the
 * path now names another file (rotation; checked at most once a second). A descriptor we lost
 * is never closed: it is the program's now. A rotated one is kept open until the next
 * rotation, in case another thread is writing to it, and closed then only if still ours. */
int diag__file_fd(struct sp_sink *s)
{
    int fd = atomic_load(&s->fd);
    uint64_t id = atomic_load(&s->id);
    int lost = fd >= 0 && !diag__still_ours(fd, id, atomic_load(&s->oflags));
    if (fd < 0 && !diag__retry_due(s))
        return -1; /* never opened, or lost: one open a second */
    int rotated = 0;
    int64_t now = diag__mono_s(), last = atomic_load(&s->last_check_s);
    if (fd >= 0 && !lost && now != last &&
        atomic_compare_exchange_strong(&s->last_check_s, &last, now)) {
        struct stat st;
        rotated = stat(s->path, &st) != 0 || diag__stat_id(&st) != id;
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
        atomic_store(&s->retry_s, diag__mono_s());
        return -1;
    }
    int ofl = atomic_load(&s->oflags);
    atomic_store(&s->id, nid);
    atomic_store(&s->oflags, noflags);
    atomic_store(&s->piped, diag__fd_piped(nfd));
    if (!atomic_compare_exchange_strong(&s->fd, &fd, nfd)) {
        s->ops->close(nfd); /* another thread reopened first: use its descriptor */
        if (fd >= 0) {
            atomic_store(&s->id, diag__fd_id(fd));
            atomic_store(&s->oflags, diag__fd_oflags(fd));
        }
        return fd;
    }
    if (fd >= 0 && !lost) {
        /* the rotated descriptor is retired; the one retired before it is closed if ours */
        uint64_t rid = atomic_exchange(&s->retired_id, id);
        int rfl = atomic_exchange(&s->retired_oflags, ofl);
        int old = atomic_exchange(&s->retired, fd);
        if (old >= 0)
            diag__close_if_ours(s, old, rid, rfl);
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
int diag__write_line_to(int fd, const char *line, size_t len, int piped)
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

