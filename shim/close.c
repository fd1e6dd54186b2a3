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
    shim_log_fd_gone(lo, hi); /* first: it reads the entries */
    shim_fd_forget(lo, hi);
}

/* A connect is pending somewhere: the one on fd, if any, is logged first (it reads the entry). */
static int __attribute__((noinline, cold)) close_pending(int fd)
{
    shim_log_pending_range(fd, fd);
    shim_fd_forget_one(fd);
    return shim_real.close(fd);
}

/* Tail calls only (hooks.h). */
static int __attribute__((noinline)) close_tracked(int fd)
{
    if (__builtin_expect(atomic_load_explicit(&shim_log_npending, memory_order_relaxed) != 0, 0))
        return close_pending(fd);
    shim_fd_forget_one(fd);
    return shim_real.close(fd);
}

int shim_close(int fd)
{
    if (__builtin_expect(shim_passthrough(), 1))
        return shim_real.close(fd);
    return close_tracked(fd);
}

/* The numbers a call closes are forgotten before it: the moment the kernel frees a number,
 * another thread's socket() or accept() may take it and record its own kind, which forgetting
 * after the call would wipe. If the call then fails, the numbers merely lose what the shim knew
 * (the kind is read again from the kernel when needed; a pin or a pending connect's log is
 * lost): the rarer and harmless error. */
int shim_dup2(int oldfd, int newfd)
{
    if (oldfd != newfd)
        forget(newfd, newfd); /* a connect pending on newfd is logged first */
    return shim_real.dup2(oldfd, newfd);
}

int shim_dup3(int oldfd, int newfd, int flags)
{
    if (oldfd != newfd)
        forget(newfd, newfd);
    return shim_real.dup3(oldfd, newfd, flags);
}

int shim_close_range(unsigned int first, unsigned int last, int flags)
{
    if (!(flags & CLOSE_RANGE_CLOEXEC) && first <= INT_MAX && first <= last)
        forget((int)first, last > INT_MAX ? INT_MAX : (int)last);
    return shim_real.close_range(first, last, flags);
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
