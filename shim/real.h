/* shim/real.h: the real libc functions behind our hooks, resolved once with
 * dlsym(RTLD_NEXT). Everything the shim and core call internally goes through these
 * pointers, never through the public (hooked) names. */
#ifndef SOCKPOLICY_SHIM_REAL_H
#define SOCKPOLICY_SHIM_REAL_H

#include <sys/socket.h>

/* X(name, return type, parameter list): the hooked names, one table for resolve and
 * declarations. */
#define SHIM_REAL_FUNCS(X)                                                                   \
    X(socket, int, (int, int, int))                                                          \
    X(bind, int, (int, const struct sockaddr *, socklen_t))                                  \
    X(listen, int, (int, int))                                                               \
    X(connect, int, (int, const struct sockaddr *, socklen_t))                               \
    X(accept, int, (int, struct sockaddr *, socklen_t *))                                    \
    X(accept4, int, (int, struct sockaddr *, socklen_t *, int))                              \
    X(setsockopt, int, (int, int, int, const void *, socklen_t))                             \
    X(getsockopt, int, (int, int, int, void *, socklen_t *))                                 \
    X(close, int, (int))                                                                     \
    X(dup2, int, (int, int))                                                                 \
    X(dup3, int, (int, int, int))                                                            \
    X(close_range, int, (unsigned int, unsigned int, int))                                   \
    X(sendto, ssize_t, (int, const void *, size_t, int, const struct sockaddr *, socklen_t)) \
    X(sendmsg, ssize_t, (int, const struct msghdr *, int))

#define SHIM_REAL_FIELD(name, ret, args) ret(*name) args;
struct shim_real {
    SHIM_REAL_FUNCS(SHIM_REAL_FIELD)
    int (*getsockname)(int, struct sockaddr *, socklen_t *);
    int (*ioctl)(int, unsigned long, ...);
    int (*fcntl)(int, int, ...);
};
#undef SHIM_REAL_FIELD

/* The table. Filled by shim_real_init(); a member is NULL only when libc lacks it. */
extern struct shim_real shim_real;

/* Resolves every real function once (idempotent, safe to race: every caller stores the same
 * values) and installs them as core's sysops. Returns 0, or -1 when a required name could not
 * be resolved or resolved to our own hook (then the shim passes nothing through: see the
 * hooks). errno is preserved. */
int shim_real_init(void);

/* Whether the table is ready: one relaxed load, for the hot path. */
extern _Atomic int shim_real_state; /* 0 not yet, 1 resolved, -1 failed */
static inline int shim_real_ready(void)
{
    return __atomic_load_n((const int *)&shim_real_state, __ATOMIC_RELAXED) > 0;
}

#endif
