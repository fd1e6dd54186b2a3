/* shim/fdtab.h: what the shim knows about each descriptor, in a table indexed by fd.
 * mmap'd lazily (sized by RLIMIT_NOFILE, capped); fds beyond the cap simply have no state.
 * Each entry records the socket's inode: it is trusted only while fstat(fd) still shows that
 * inode, so a number reused behind our back (a path we did not hook) is never believed. */
#ifndef SOCKPOLICY_SHIM_FDTAB_H
#define SOCKPOLICY_SHIM_FDTAB_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "bio.h"
#include "policy.h"

struct shim_fd {
    uint64_t ino;              /* 0: nothing recorded */
    int16_t family, type;      /* type with SOCK_NONBLOCK|SOCK_CLOEXEC masked off */
    uint32_t pinned;           /* BIO_OPT_BIT mask the program may not change */
    const struct sp_rule *pin_rule;
    uint32_t connect_ms;       /* CLOCK_MONOTONIC ms of a connect we routed (0: none) */
    uint32_t logged;           /* the outcome of that connect was logged */
    bio_addr peer;             /* where it was connecting */
    uint32_t connect_us;       /* log.c: CLOCK_MONOTONIC us (mod 2^32) that connect began */
    const struct sp_rule *connect_rule; /* log.c: the rule that decided it, or NULL */
};

struct shim_fdtab_hdr {
    size_t cap;
    struct shim_fd fds[];
};
extern _Atomic(struct shim_fdtab_hdr *) shim_fdtab;

/* The entry for fd if the table exists and covers fd, else NULL. No syscall. */
static inline struct shim_fd *shim_fd_peek(int fd)
{
    struct shim_fdtab_hdr *t = atomic_load_explicit(&shim_fdtab, memory_order_acquire);
    if (!t || fd < 0 || (size_t)fd >= t->cap)
        return NULL;
    return &t->fds[fd];
}

/* The entry for fd, mapping the table first if needed; NULL beyond the cap or when mmap
 * failed. errno preserved. */
struct shim_fd *shim_fd_get(int fd);
/* The entry when it still describes the socket open on fd (one fstat), else NULL; a stale
 * entry is cleared. errno preserved. */
struct shim_fd *shim_fd_valid(int fd);
/* Starts a fresh entry for the socket now open on fd (one fstat). NULL when fd is not a socket
 * or has no room. errno preserved. */
struct shim_fd *shim_fd_claim(int fd, int family, int type);
/* Forgets fds lo..hi (close, dup2 target, close_range). No syscall. */
void shim_fd_forget(int lo, int hi);

#endif
