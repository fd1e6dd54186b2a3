/* shim/fdtab.h: what the shim knows about each descriptor, in a table indexed by fd.
 * mmap'd lazily (sized by RLIMIT_NOFILE, capped); a number beyond the cap (the hard limit
 * raised at run time) has no entry: its kind is read from the kernel on each call, its pins
 * are found by inode like any other's, and only the log's per-fd detail is missing.
 * Three kinds of knowledge, trusted differently:
 * - the socket's family and type, recorded when socket() or accept() made it (or read once
 *   from the kernel), are a hint until one of our close hooks forgets the number: a number
 *   closed behind our back (a raw syscall, libc's internal close of an fdopen'd socket,
 *   closefrom) and reused by a path we do not hook (SCM_RIGHTS, dup, F_DUPFD) keeps the old
 *   kind, so shim_decide asks the kernel wherever the answer could depend on it (state.h);
 * - per-fd state (a connect in progress) records the socket's inode and is believed only
 *   while fstat(fd) still shows that inode;
 * - pins belong to the socket, not to a number: a set keyed by the socket's inode (below), so
 *   that every descriptor of it (dup, F_DUPFD, SCM_RIGHTS, any number) is pinned alike. */
#ifndef SOCKPOLICY_SHIM_FDTAB_H
#define SOCKPOLICY_SHIM_FDTAB_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bio.h"
#include "policy.h"

/* Options an accepted TCP socket inherits from its listener on Linux (checked: keepalive and
 * its three timers, nodelay, user-timeout, syn-count; also tos, mark, buffers, linger and
 * congestion, which are not used this way). The first SHIM_INH_OPTS options of enum bio_opt. */
#define SHIM_INH_OPTS (BIO_OPT_SYNCNT + 1)
#define SHIM_OPTS_INHERITED ((uint32_t)((1u << SHIM_INH_OPTS) - 1))

/* Entries are shared by every thread of the process, and a number closed by one thread may be
 * reused at once by another's socket() or accept(): the fields a hook of another thread may
 * read or clear (kind, ino, inh_rule, inh_off) are only accessed with __atomic operations
 * (relaxed: each is a hint checked on its own, never a publication of other fields). */
struct shim_fd {
    uint32_t kind;             /* SHIM_FD_KIND(family, type) (flags masked off); 0: unknown */
    uint64_t ino;              /* per-fd state below is for this inode; 0: none */
    /* A listener on which accept's options were set for the accepted sockets to inherit (see
     * shim_accept_opts). Trusted like the kind: forgotten with it. */
    const struct sp_rule *inh_rule; /* whose options; NULL: none */
    uint32_t inh_mask;         /* which (BIO_OPT_BIT) */
    int8_t inh_check;          /* the option read back to tell an accepted socket has them */
    uint8_t inh_off;           /* given up on this listener: options go on each socket */
    /* inh_rule once an accepted socket was seen to have inherited its values: every socket
     * accepted after that one completed its handshake later (the accept queue is FIFO), so
     * an accept that read this before its call needs no getsockopt to confirm. Cleared with
     * inh_rule. */
    const struct sp_rule *inh_sure;
    /* What forcing connect's options did, for a connect that ends later (pending.c). */
    uint32_t opts_asked, opts_applied, opts_skipped, opts_failed;
    uint8_t opts_err[BIO_OPT_COUNT]; /* errno of each failed option */
    int inh_orig[SHIM_INH_OPTS]; /* the listener's own values, for peers of other rules */
    uint32_t connect_ms;       /* CLOCK_MONOTONIC ms of a connect we routed (0: none) */
    uint32_t logged;           /* the outcome of that connect was logged */
    bio_addr peer;             /* where it was connecting */
    uint32_t connect_us;       /* pending.c: CLOCK_MONOTONIC us (mod 2^32) that connect began */
    const struct sp_rule *connect_rule; /* pending.c: the rule that decided it, or NULL */
} __attribute__((aligned(64))); /* an entry starts a cache line (see shim_fd_drop_state) */

_Static_assert(offsetof(struct shim_fd, inh_sure) + sizeof(void *) <= 64 &&
                   offsetof(struct shim_fd, inh_off) < 64 && offsetof(struct shim_fd, ino) < 64,
               "shim_fd_drop_state stores only into the entry's first cache line");

struct shim_fdtab_hdr {
    size_t cap;
    struct shim_fd fds[];
};
extern _Atomic(struct shim_fdtab_hdr *) shim_fdtab __attribute__((visibility("hidden")));
/* Bits set (never cleared) once setsockopt has something to check: SHIM_PINS_INHERIT once a
 * listener was set up for inheritance (apply.c), SHIM_PINS_PINNED once a socket was pinned. */
#define SHIM_PINS_INHERIT 1
#define SHIM_PINS_PINNED 2
extern int shim_fd_pins __attribute__((visibility("hidden")));
/* The union of the options pinned on any socket (BIO_OPT_BIT): a setsockopt of another one
 * is not looked up. */
extern uint32_t shim_pin_opts __attribute__((visibility("hidden")));

/* Pins the options mask (BIO_OPT_BIT) of rule on the socket open on fd, whatever number the
 * program reaches it by later. One fstat; no allocation (the set is mmap'd, grown by tables,
 * and swept of closed sockets when full). 0, or -1 when fd is no socket or no room was left.
 * errno preserved. */
int shim_pin_add(int fd, uint32_t mask, const struct sp_rule *rule);
/* The options pinned on the socket open on fd, 0 when none (one fstat); *rule the rule that
 * pinned them. errno preserved. */
uint32_t shim_pin_get(int fd, const struct sp_rule **rule);

/* The entry for fd if the table exists and covers fd, else NULL. No syscall. */
static inline struct shim_fd *shim_fd_peek(int fd)
{
    struct shim_fdtab_hdr *t = atomic_load_explicit(&shim_fdtab, memory_order_acquire);
    /* A negative fd converts to a size beyond any cap: one compare for both. */
    if (!t || (size_t)(ptrdiff_t)fd >= t->cap)
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
/* The kind word: family << 8 | type (0: not recorded). */
#define SHIM_FD_KIND(family, type) ((uint32_t)((family) & 0xff) << 8 | ((uint32_t)(type) & 0xff))
#define SHIM_FD_FAMILY(k) ((int)((k) >> 8 & 0xff))
#define SHIM_FD_TYPE(k) ((int)((k) & 0xff))
/* The recorded kind of fd: 0 with *family and *type set, or -1 when none is recorded. */
static inline int shim_fd_kind(int fd, int *family, int *type)
{
    struct shim_fd *e = shim_fd_peek(fd);
    uint32_t k = e ? __atomic_load_n(&e->kind, __ATOMIC_RELAXED) : 0;
    if (!(k & 0xffff))
        return -1;
    *family = SHIM_FD_FAMILY(k);
    *type = SHIM_FD_TYPE(k);
    return 0;
}
/* Drops e's per-fd state (not its kind): four stores, no test. Every field stored lies in the
 * entry's first 64 bytes, the cache line the caller's kind store dirties anyway, so testing
 * first would cost more than it saves. */
static inline void shim_fd_drop_state(struct shim_fd *e)
{
    __atomic_store_n(&e->ino, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&e->inh_rule, NULL, __ATOMIC_RELAXED);
    __atomic_store_n(&e->inh_sure, NULL, __ATOMIC_RELAXED);
    __atomic_store_n(&e->inh_off, 0, __ATOMIC_RELAXED);
}
/* Forgets fd (our close, before the real call: once the number is free another thread's
 * socket() may take it and record its own kind): its kind and its per-fd state. No syscall. */
static inline void shim_fd_forget_one(int fd)
{
    struct shim_fd *e = shim_fd_peek(fd);
    if (e) {
        __atomic_store_n(&e->kind, 0, __ATOMIC_RELAXED);
        shim_fd_drop_state(e);
    }
}
/* Records the kind of the socket just made on fd and drops any per-fd state an earlier
 * socket on that number left. No syscall once the table is mapped; errno preserved. */
void shim_fd_set_kind_slow(int fd, int family, int type);
static inline void shim_fd_set_kind(int fd, int family, int type)
{
    struct shim_fd *e = shim_fd_peek(fd);
    if (__builtin_expect(!e, 0)) {
        shim_fd_set_kind_slow(fd, family, type);
        return;
    }
    __atomic_store_n(&e->kind, SHIM_FD_KIND(family, type), __ATOMIC_RELAXED);
    shim_fd_drop_state(e);
}
/* The kernel said e's socket is of another kind than was, the stale one recorded: records
 * it, unless the entry changed meanwhile, and drops the state of the socket that was. */
static inline void shim_fd_correct(struct shim_fd *e, uint32_t was, int family, int type)
{
    if (e && __atomic_compare_exchange_n(&e->kind, &was, SHIM_FD_KIND(family, type), 0,
                                         __ATOMIC_RELAXED, __ATOMIC_RELAXED) && was)
        shim_fd_drop_state(e);
}
/* Forgets fds lo..hi (a dup2 target, close_range: before the real call). No syscall. */
void shim_fd_forget(int lo, int hi);

/* Reading a socket's kind from the kernel (fdtab.c). shim_sock_kind_slow: the kind of fd when
 * the table has none recorded, from the kernel (then recorded). Returns 0, or -1 (errno
 * preserved) when fd is not an open socket: then pass through. */
int shim_sock_kind_slow(int fd, int *family, int *type);
/* The kind of fd from the kernel, always (two getsockopt): the entry is corrected when it
 * held another kind (its per-fd state dropped with it: it was another socket's) and forgotten
 * when fd is no socket. Returns 0, or -1 (errno preserved, *family and *type untouched). */
int shim_sock_kind_sure(int fd, int *family, int *type);

/* The family and type (flags masked) of socket fd: as recorded in the fd table (no syscall),
 * else from the kernel (shim_sock_kind_slow). The recorded kind may be stale:
 * shim_decide checks it where it matters. */
static inline int shim_sock_kind(int fd, int *family, int *type)
{
    if (shim_fd_kind(fd, family, type) == 0)
        return 0; /* recorded when socket() or accept() made it: no syscall */
    return shim_sock_kind_slow(fd, family, type);
}

#endif
