/* shim/socket.c: socket(). A rule may deny or fault the call, or force options on the new
 * socket as soon as it exists. */
#include <errno.h>

#include "apply.h"
#include "fdtab.h"
#include "hooks.h"
#include "state.h"

/* The call, and its kind recorded for the later hooks' classification. */
static int __attribute__((noinline)) socket_plain(int domain, int type, int protocol)
{
    int fd = shim_real.socket(domain, type, protocol);
    if (fd >= 0)
        shim_fd_set_kind(fd, domain, type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC));
    return fd;
}

/* A socket() the policy has rules for. */
static int __attribute__((noinline)) socket_decided(struct sp_policy *p, int domain, int type,
                                                   int protocol)
{
    int kind = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    struct shim_decision d = shim_decide(p, SP_OP_SOCKET, -1, &domain, &kind, NULL, 0);
    if (shim_gate(&d, SP_OP_SOCKET, -1, NULL, 0) != 0)
        return -1;
    int fd = shim_real.socket(domain, type, protocol);
    if (fd < 0)
        return fd;
    shim_fd_set_kind(fd, domain, kind);
    if (d.action != SP_ACT_SET || !d.rule)
        return fd;
    if (d.rule->nonblock)
        shim_set_nonblock(fd);
    shim_apply_opts_kind(fd, d.rule, SHIM_OPTS_ALL & ~SHIM_OPTS_LISTEN_AFTER, SP_OP_SOCKET, domain,
                         kind);
    shim_pin(fd, d.rule, domain, kind);
    return fd;
}

/* The first call (the policy loads) or a reload deadline passed. */
static int __attribute__((noinline, cold)) socket_cold(int domain, int type, int protocol)
{
    struct sp_policy *p = shim_policy_for(SP_OP_SOCKET);
    if (p)
        return socket_decided(p, domain, type, protocol);
    if (shim_passthrough()) /* no policy file after all: no table either */
        return shim_real.socket(domain, type, protocol);
    return socket_plain(domain, type, protocol);
}

/* Tail calls only (hooks.h). A loaded policy with no socket rule (the
 * common case) goes straight to the call once the reload deadline is checked (a process whose
 * only hooked call is socket(), an interface poller, still picks up an edited policy). */
static int __attribute__((noinline)) socket_ruled(int domain, int type, int protocol)
{
    if (__builtin_expect(atomic_load_explicit(&shim_policy, memory_order_acquire) != NULL, 1) &&
        !(atomic_load_explicit(&shim_ops, memory_order_relaxed) >> SP_OP_SOCKET & 1) &&
        __builtin_expect(shim_tick() < atomic_load_explicit(&shim_recheck_at, memory_order_relaxed), 1))
        return socket_plain(domain, type, protocol);
    struct sp_policy *p = shim_policy_quick(SP_OP_SOCKET);
    if (__builtin_expect(p == SHIM_SLOW, 0))
        return socket_cold(domain, type, protocol);
    if (!p)
        return socket_plain(domain, type, protocol);
    return socket_decided(p, domain, type, protocol);
}

/* Under SHIM_WATCH: the call, a failure logged, the reload deadline looked at. */
static int __attribute__((noinline)) socket_watch(int domain, int type, int protocol)
{
    struct shim_call c;
    c.a = domain;
    c.b = type;
    int fd = shim_real.socket(domain, type, protocol);
    if (__builtin_expect(fd < 0, 0))
        return (int)shim_watch_failed(fd, SP_OP_SOCKET, &c);
    if (__builtin_expect(shim_idle_due(), 0))
        return (int)shim_watch_recheck(fd);
    return fd;
}

/* The reload deadline passed under SHIM_IDLE or SHIM_WATCH: look, then follow what is
 * published now. */
static int __attribute__((noinline, cold)) socket_recheck(int domain, int type, int protocol)
{
    struct sp_policy *p = shim_recheck();
    if (p == SHIM_WATCH)
        return socket_watch(domain, type, protocol);
    if (!shim_undecided(p))
        return socket_ruled(domain, type, protocol);
    return shim_real.socket(domain, type, protocol);
}

/* Under SHIM_IDLE: the call, after a look at the reload deadline. Apart from the hook's own
 * path, whose no-policy exit must not share its register moves (rdtsc takes rdx). */
static int __attribute__((noinline)) socket_idle(int domain, int type, int protocol)
{
    if (__builtin_expect(shim_idle_due(), 0))
        return socket_recheck(domain, type, protocol);
    return shim_real.socket(domain, type, protocol);
}

/* Tail calls only. Nothing decides under SHIM_IDLE and SHIM_WATCH: the call, after a look at
 * the reload deadline (a process whose only hooked call is socket() still picks up an edited
 * policy). */
__attribute__((always_inline)) inline int shim_socket(int domain, int type, int protocol)
{
    struct sp_policy *p = shim_published();
    if (__builtin_expect(p == SHIM_NO_POLICY, 1))
        return shim_real.socket(domain, type, protocol);
    if (!shim_undecided(p))
        return socket_ruled(domain, type, protocol);
    if (p == SHIM_WATCH)
        return socket_watch(domain, type, protocol);
    return socket_idle(domain, type, protocol);
}

SHIM_EXPORT int socket(int domain, int type, int protocol)
{
    return shim_socket(domain, type, protocol);
}
