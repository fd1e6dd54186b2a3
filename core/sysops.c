/* core/sysops.c: the table of system calls core/ makes. The hot path reads one pointer to a
 * const table; bio_set_sysops copies the caller's table once, at start-up. */
#include <fcntl.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sysops.h"

/* glibc declares the sockaddr arguments as transparent unions under _GNU_SOURCE, so these
 * calls need typed wrappers to sit in the table. */
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
    .socket = socket,
    .bind = libc_bind,
    .connect = libc_connect,
    .listen = listen,
    .accept = libc_accept,
    .accept4 = libc_accept4,
    .setsockopt = setsockopt,
    .getsockopt = getsockopt,
    .getsockname = libc_getsockname,
    .ioctl = ioctl,
    .fcntl = fcntl,
    .close = close,
};

static struct bio_sysops installed_ops;
static const struct bio_sysops *current_ops = &libc_ops;

void bio_set_sysops(const struct bio_sysops *ops)
{
    if (ops == NULL) {
        current_ops = &libc_ops;
        return;
    }
    installed_ops = *ops;
    current_ops = &installed_ops;
}

const struct bio_sysops *bio_sysops(void)
{
    return current_ops;
}
