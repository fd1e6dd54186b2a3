/* shim/close.c: close(), dup2(), dup3(), close_range(): keep the fd table true. Nothing here
 * consults the policy; the hot path is one load and a compare. fcntl(F_DUPFD) is not hooked:
 * a copy it makes simply has no state, and a number it reuses fails the inode check. */
#include <errno.h>
#include <limits.h>
#include <unistd.h>

#include "fdtab.h"
#include "hooks.h"
#include "log.h"
#include "state.h"

static void forget(int lo, int hi)
{
    shim_fd_forget(lo, hi);
}

int shim_close(int fd)
{
    shim_real_need();
    shim_log_fd_gone(fd, fd);
    struct shim_fd *e = shim_fd_peek(fd);
    if (e && e->ino)
        e->ino = 0;
    return shim_real.close(fd);
}

int shim_dup2(int oldfd, int newfd)
{
    shim_real_need();
    if (oldfd != newfd)
        shim_log_fd_gone(newfd, newfd);
    int r = shim_real.dup2(oldfd, newfd);
    if (r >= 0 && oldfd != newfd)
        forget(newfd, newfd);
    return r;
}

int shim_dup3(int oldfd, int newfd, int flags)
{
    shim_real_need();
    if (oldfd != newfd)
        shim_log_fd_gone(newfd, newfd);
    int r = shim_real.dup3(oldfd, newfd, flags);
    if (r >= 0)
        forget(newfd, newfd);
    return r;
}

int shim_close_range(unsigned int first, unsigned int last, int flags)
{
    shim_real_need();
    if (!shim_real.close_range) {
        errno = ENOSYS;
        return -1;
    }
    if (!(flags & CLOSE_RANGE_CLOEXEC) && first <= INT_MAX)
        shim_log_fd_gone((int)first, last > INT_MAX ? INT_MAX : (int)last);
    int r = shim_real.close_range(first, last, flags);
    if (r == 0 && !(flags & CLOSE_RANGE_CLOEXEC) && first <= INT_MAX)
        forget((int)first, last > INT_MAX ? INT_MAX : (int)last);
    return r;
}

SHIM_EXPORT int close(int fd)
{
    return shim_close(fd);
}

SHIM_EXPORT int dup2(int oldfd, int newfd)
{
    return shim_dup2(oldfd, newfd);
}

SHIM_EXPORT int dup3(int oldfd, int newfd, int flags)
{
    return shim_dup3(oldfd, newfd, flags);
}

SHIM_EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
    return shim_close_range(first, last, flags);
}
