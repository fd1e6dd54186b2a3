/* core/sysops.c: the table of system calls core/ makes. The hot path reads one pointer to a
 * const table; bio_set_sysops copies the caller's table once, at start-up. */
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sysops.h"
#include "err_int.h"

/* glibc declares the sockaddr arguments as transparent unions under _GNU_SOURCE, so these
 * calls need typed wrappers to sit in the table. The others have wrappers too: a table of
 * local functions needs no symbol lookup when a library built from core/ is loaded (the
 * preload's start-up cost, issue 7); their calls bind lazily. */
static int libc_socket(int domain, int type, int protocol)
{
    return socket(domain, type, protocol);
}

static int libc_listen(int fd, int backlog)
{
    return listen(fd, backlog);
}

static int libc_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    return setsockopt(fd, level, name, val, len);
}

static int libc_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    return getsockopt(fd, level, name, val, len);
}

static int libc_ioctl(int fd, unsigned long request, ...)
{
    va_list ap;
    va_start(ap, request);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return ioctl(fd, request, arg);
}

static int libc_fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *); /* an int or a pointer: passed on in the same register */
    va_end(ap);
    return fcntl(fd, cmd, arg);
}

static int libc_close(int fd)
{
    return close(fd);
}

static int libc_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
    return bind(fd, sa, len);
}

static int libc_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    return connect(fd, sa, len);
}

static int libc_accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    return accept(fd, sa, len);
}

static int libc_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    return accept4(fd, sa, len, flags);
}

static int libc_getsockname(int fd, struct sockaddr *sa, socklen_t *len)
{
    return getsockname(fd, sa, len);
}

static const struct bio_sysops libc_ops = {
    .socket = libc_socket,
    .bind = libc_bind,
    .connect = libc_connect,
    .listen = libc_listen,
    .accept = libc_accept,
    .accept4 = libc_accept4,
    .setsockopt = libc_setsockopt,
    .getsockopt = libc_getsockopt,
    .getsockname = libc_getsockname,
    .ioctl = libc_ioctl,
    .fcntl = libc_fcntl,
    .close = libc_close,
};

static struct bio_sysops installed_ops;
const struct bio_sysops *bio__ops = &libc_ops;

void bio_set_sysops(const struct bio_sysops *ops)
{
    if (ops == NULL) {
        bio__ops = &libc_ops;
        return;
    }
    installed_ops = *ops;
    bio__ops = &installed_ops;
}

const struct bio_sysops *(bio_sysops)(void) /* the parentheses: not err_int.h's macro */
{
    return bio__ops;
}
