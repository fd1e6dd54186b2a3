/* shim/real.h: the real libc functions behind our hooks, found with dlsym(RTLD_NEXT).
 * Everything the shim calls internally goes through these pointers, never through the public
 * (hooked) names; core's sysops and the log's sink ops are filled from them. The policy
 * loader, below the shim, closes its files with a raw close system call (sp__close), as
 * diag_tfo.c does; tests/shim_exports.t checks that no other code in the library calls a
 * hooked name. The table is usable from the first instruction: each pointer
 * starts at a resolver of our own that looks its one name up the first time it is called and
 * then calls it, so a process that never calls a hooked name pays no dlsym at start-up. */
#ifndef SOCKPOLICY_SHIM_REAL_H
#define SOCKPOLICY_SHIM_REAL_H

#include <sys/socket.h>

/* X(name, return type, parameter list, argument list): the hooked names, one table for the
 * declarations, the first-call resolvers and the full resolve. */
#define SHIM_REAL_FUNCS(X)                                                                      \
    X(socket, int, (int a, int b, int c), (a, b, c))                                            \
    X(bind, int, (int a, const struct sockaddr *b, socklen_t c), (a, b, c))                     \
    X(listen, int, (int a, int b), (a, b))                                                      \
    X(connect, int, (int a, const struct sockaddr *b, socklen_t c), (a, b, c))                  \
    X(accept, int, (int a, struct sockaddr *b, socklen_t *c), (a, b, c))                        \
    X(accept4, int, (int a, struct sockaddr *b, socklen_t *c, int d), (a, b, c, d))             \
    X(setsockopt, int, (int a, int b, int c, const void *d, socklen_t e), (a, b, c, d, e))      \
    X(getsockopt, int, (int a, int b, int c, void *d, socklen_t *e), (a, b, c, d, e))           \
    X(close, int, (int a), (a))                                                                 \
    X(dup2, int, (int a, int b), (a, b))                                                        \
    X(dup3, int, (int a, int b, int c), (a, b, c))                                              \
    X(close_range, int, (unsigned int a, unsigned int b, int c), (a, b, c))                     \
    X(sendto, ssize_t, (int a, const void *b, size_t c, int d, const struct sockaddr *e,        \
                        socklen_t f), (a, b, c, d, e, f))                                       \
    X(sendmsg, ssize_t, (int a, const struct msghdr *b, int c), (a, b, c))                     \
    X(sendmmsg, int, (int a, struct mmsghdr *b, unsigned int c, int d), (a, b, c, d))

#define SHIM_REAL_FIELD(name, ret, params, args) ret(*name) params;
struct shim_real {
    SHIM_REAL_FUNCS(SHIM_REAL_FIELD)
    int (*getsockname)(int, struct sockaddr *, socklen_t *);
    int (*ioctl)(int, unsigned long, ...);
    int (*fcntl)(int, int, ...);
};
#undef SHIM_REAL_FIELD

/* The table. Never NULL members: before a name is resolved its member is the resolver; a
 * name libc lacks (close_range before glibc 2.34) or that resolves back into the shim makes
 * the call fail with ENOSYS. */
extern struct shim_real shim_real __attribute__((visibility("hidden")));

/* Resolves every real function (idempotent, safe to race: every caller stores the same
 * values) and installs them as core's sysops. Returns 0, or -1 when a required name could not
 * be resolved or resolved to our own hook. errno is preserved. */
int shim_real_init(void);

/* 1 when the functions next in line are another copy of this library's hooks (a program that
 * preloads its own copy under a host-wide one): then this copy stands aside and the other
 * applies the policy. Recognised by an ELF note both carry (nothing is exported for it).
 * Asked once; errno preserved. */
int shim_real_other_copy(void);

/* Whether shim_real_init has run: one relaxed load. Core's sysops are ours only then. */
extern _Atomic int shim_real_state; /* 0 not yet, 1 resolved, -1 failed */
static inline int shim_real_ready(void)
{
    return __atomic_load_n((const int *)&shim_real_state, __ATOMIC_RELAXED) > 0;
}

#endif
