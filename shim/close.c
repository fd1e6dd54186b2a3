/* shim/close.c: close(), dup2(), dup3(), close_range(): keep the fd table true. Nothing here
 * consults the policy. Without a policy there is no table and no log descriptor to keep true:
 * the hot path is the hooks' one load and compare. fcntl(F_DUPFD) is not hooked: a copy it
 * makes simply has no state, and a number it reuses fails the inode check of per-fd state. */
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
    shim_log_fd_gone(lo, hi);
}

static int __attribute__((noinline)) close_tracked(int fd)
{
    shim_log_fd_gone(fd, fd); /* first: a connect still pending there is logged */
    shim_fd_forget_one(fd);
    return shim_real.close(fd);
}

int shim_close(int fd)
{
    if (__builtin_expect(shim_passthrough(), 1))
        return shim_real.close(fd);
    return close_tracked(fd);
}

int shim_dup2(int oldfd, int newfd)
{
    if (oldfd != newfd)
        shim_log_fd_gone(newfd, newfd); /* a connect pending on newfd, before it is closed */
    int r = shim_real.dup2(oldfd, newfd);
    if (r >= 0 && oldfd != newfd)
        forget(newfd, newfd);
    return r;
}

int shim_dup3(int oldfd, int newfd, int flags)
{
    if (oldfd != newfd)
        shim_log_fd_gone(newfd, newfd);
    int r = shim_real.dup3(oldfd, newfd, flags);
    if (r >= 0)
        forget(newfd, newfd);
    return r;
}

int shim_close_range(unsigned int first, unsigned int last, int flags)
{
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
