/* shim/sockopt.c: setsockopt() and getsockopt(). `pin`: a program's setsockopt of an option
 * the policy forced returns 0 and changes nothing; getsockopt always tells the truth. A
 * getsockopt(SO_ERROR) that ends a connect we routed logs how it ended. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <time.h>

#ifndef SO_BINDTOIFINDEX
#define SO_BINDTOIFINDEX 62 /* Linux 5.0; older headers lack it */
#endif

#include "apply.h"
#include "fdtab.h"
#include "hooks.h"
#include "log.h"
#include "state.h"

/* The policy option a (level, name) pair sets, or -1. */
static int opt_of(int level, int name)
{
    static const struct {
        int level, name;
        enum bio_opt opt;
    } map[] = {
        { SOL_SOCKET, SO_KEEPALIVE, BIO_OPT_KEEPALIVE },
        { IPPROTO_TCP, TCP_KEEPIDLE, BIO_OPT_KEEPIDLE },
        { IPPROTO_TCP, TCP_KEEPINTVL, BIO_OPT_KEEPINTVL },
        { IPPROTO_TCP, TCP_KEEPCNT, BIO_OPT_KEEPCNT },
        { IPPROTO_TCP, TCP_NODELAY, BIO_OPT_NODELAY },
        { IPPROTO_TCP, TCP_USER_TIMEOUT, BIO_OPT_USER_TIMEOUT },
        { IPPROTO_TCP, TCP_SYNCNT, BIO_OPT_SYNCNT },
        { IPPROTO_TCP, TCP_FASTOPEN_CONNECT, BIO_OPT_TFO_CONNECT },
        { IPPROTO_TCP, TCP_FASTOPEN, BIO_OPT_TFO_QLEN },
        { SOL_SOCKET, SO_REUSEADDR, BIO_OPT_REUSEADDR },
        { SOL_SOCKET, SO_REUSEPORT, BIO_OPT_REUSEPORT },
        { IPPROTO_IPV6, IPV6_V6ONLY, BIO_OPT_V6ONLY },
        { SOL_SOCKET, SO_MARK, BIO_OPT_MARK },
        { IPPROTO_IP, IP_TOS, BIO_OPT_TOS },
        { IPPROTO_IPV6, IPV6_TCLASS, BIO_OPT_TOS },
        { SOL_SOCKET, SO_RCVBUF, BIO_OPT_RCVBUF },
        { SOL_SOCKET, SO_RCVBUFFORCE, BIO_OPT_RCVBUF },
        { SOL_SOCKET, SO_SNDBUF, BIO_OPT_SNDBUF },
        { SOL_SOCKET, SO_SNDBUFFORCE, BIO_OPT_SNDBUF },
        { SOL_SOCKET, SO_LINGER, BIO_OPT_LINGER },
        { IPPROTO_TCP, TCP_CONGESTION, BIO_OPT_CONGESTION },
        { SOL_SOCKET, SO_BINDTODEVICE, BIO_OPT_BINDTODEVICE },
        { SOL_SOCKET, SO_BINDTOIFINDEX, BIO_OPT_BINDTODEVICE }, /* 0 unbinds: the same option */
    };
    for (unsigned i = 0; i < sizeof map / sizeof map[0]; i++)
        if (map[i].level == level && map[i].name == name)
            return (int)map[i].opt;
    return -1;
}

/* fd is a listener set up for inheritance, or sets an option pinned on some socket. The pin
 * is looked up by the socket's inode (one fstat): any descriptor of a pinned socket, however
 * the program got it (dup, F_DUPFD, SCM_RIGHTS) and whatever its number, is pinned. */
static int __attribute__((noinline)) setsockopt_checked(int fd, int level, int name,
                                                        const void *val, socklen_t len)
{
    struct shim_fd *e = shim_fd_peek(fd);
    if (e && __atomic_load_n(&e->inh_rule, __ATOMIC_RELAXED) && shim_depth == 0)
        shim_inherit_forget(fd);
    int o = opt_of(level, name);
    if (o < 0 || shim_depth > 0 ||
        !(__atomic_load_n(&shim_pin_opts, __ATOMIC_RELAXED) & BIO_OPT_BIT(o)))
        return shim_real.setsockopt(fd, level, name, val, len);
    const struct sp_rule *rule;
    if (!(shim_pin_get(fd, &rule) & BIO_OPT_BIT(o)))
        return shim_real.setsockopt(fd, level, name, val, len);
    shim_log(SP_LOG_ALL, "setsockopt fd=%d %s: ignored, pinned by %s:%u", fd,
             bio_opt_name((enum bio_opt)o), rule && rule->file ? rule->file : "?",
             rule ? rule->line : 0);
    return 0;
}

/* Some fd was pinned or set up for inheritance: this one's entry is looked at. Tail calls
 * only (hooks.h). */
static int __attribute__((noinline)) setsockopt_pinned(int fd, int level, int name,
                                                       const void *val, socklen_t len)
{
    struct shim_fd *e = shim_fd_peek(fd);
    if (!(__atomic_load_n(&shim_fd_pins, __ATOMIC_RELAXED) & SHIM_PINS_PINNED) &&
        (!e || !__atomic_load_n(&e->inh_rule, __ATOMIC_RELAXED)))
        return shim_real.setsockopt(fd, level, name, val, len);
    return setsockopt_checked(fd, level, name, val, len);
}

int shim_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    if (__builtin_expect(!__atomic_load_n(&shim_fd_pins, __ATOMIC_RELAXED), 1))
        return shim_real.setsockopt(fd, level, name, val, len);
    return setsockopt_pinned(fd, level, name, val, len);
}

int shim_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    int r = shim_real.getsockopt(fd, level, name, val, len);
    if (__builtin_expect(level != SOL_SOCKET || name != SO_ERROR, 1) || r != 0)
        return r;
    if (!shim_log_pending(fd) || shim_depth > 0 || !len || *len < sizeof(int))
        return r;
    shim_log_connect_end(fd, *(int *)val, SP_PHASE_SO_ERROR, NULL); /* how a connect ended */
    return r;
}

SHIM_EXPORT int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    return shim_setsockopt(fd, level, name, val, len);
}

SHIM_EXPORT int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    return shim_getsockopt(fd, level, name, val, len);
}
