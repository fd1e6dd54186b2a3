/* shim/fdtab.h: what the shim knows about each descriptor, in a table indexed by fd.
 * mmap'd lazily (sized by RLIMIT_NOFILE, capped); fds beyond the cap simply have no state.
 * Two kinds of knowledge, trusted differently:
 * - the socket's family and type, recorded when socket() or accept() made it (or read once
 *   from the kernel), are trusted until one of our close hooks forgets the number: no syscall
 *   on the policy path. A number closed behind our back (a raw syscall, libc's internal close
 *   of an fdopen'd socket) and reused by a path we do not hook keeps the old kind;
 * - per-fd state (pin, a connect in progress) records the socket's inode and is believed only
 *   while fstat(fd) still shows that inode. */
#ifndef SOCKPOLICY_SHIM_FDTAB_H
#define SOCKPOLICY_SHIM_FDTAB_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "bio.h"
#include "policy.h"

/* Options an accepted TCP socket inherits from its listener on Linux (checked: keepalive and
 * its three timers, nodelay, user-timeout, syn-count; also tos, mark, buffers, linger and
 * congestion, which are not used this way). The first SHIM_INH_OPTS options of enum bio_opt. */
#define SHIM_INH_OPTS (BIO_OPT_SYNCNT + 1)
#define SHIM_OPTS_INHERITED ((uint32_t)((1u << SHIM_INH_OPTS) - 1))

struct shim_fd {
    int16_t family, type;      /* 0: unknown; type with SOCK_NONBLOCK|SOCK_CLOEXEC masked off */
    uint64_t ino;              /* per-fd state below is for this inode; 0: none */
    uint32_t pinned;           /* BIO_OPT_BIT mask the program may not change */
    const struct sp_rule *pin_rule;
    /* A listener on which accept's options were set for the accepted sockets to inherit (see
     * shim_accept_opts). Trusted like the kind: forgotten with it. */
    const struct sp_rule *inh_rule; /* whose options; NULL: none */
    uint32_t inh_mask;         /* which (BIO_OPT_BIT) */
    int8_t inh_check;          /* the option read back to tell an accepted socket has them */
    uint8_t inh_off;           /* given up on this listener: options go on each socket */
    int inh_orig[SHIM_INH_OPTS]; /* the listener's own values, for peers of other rules */
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
extern _Atomic(struct shim_fdtab_hdr *) shim_fdtab __attribute__((visibility("hidden")));
/* Set (never cleared) once any descriptor was pinned: until then setsockopt has nothing to
 * check. */
extern int shim_fd_pins __attribute__((visibility("hidden")));

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
/* Records the kind of the socket just made on fd and drops any per-fd state an earlier
 * socket on that number left. No syscall once the table is mapped; errno preserved. */
void shim_fd_set_kind(int fd, int family, int type);
/* The recorded kind of fd: 0 with *family and *type set, or -1 when none is recorded. */
static inline int shim_fd_kind(int fd, int *family, int *type)
{
    struct shim_fd *e = shim_fd_peek(fd);
    if (!e || !e->type)
        return -1;
    *family = e->family;
    *type = e->type;
    return 0;
}
/* Forgets fd (our close): its kind and its per-fd state. No syscall. */
static inline void shim_fd_forget_one(int fd)
{
    struct shim_fd *e = shim_fd_peek(fd);
    if (e) {
        e->type = 0;
        e->ino = 0;
        e->inh_rule = NULL;
        e->inh_off = 0;
    }
}
/* Forgets fds lo..hi (close, dup2 target, close_range). No syscall. */
void shim_fd_forget(int lo, int hi);

#endif
