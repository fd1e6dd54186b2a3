/* shim/socket.c: socket(). A rule may deny or fault the call, or force options on the new
 * socket as soon as it exists. */
#include <errno.h>

#include "apply.h"
#include "fdtab.h"
#include "hooks.h"
#include "state.h"

static int __attribute__((noinline)) socket_ruled(int domain, int type, int protocol)
{
    struct sp_policy *p = shim_policy_for(SP_OP_SOCKET);
    int kind = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (!p) {
        int fd = shim_real.socket(domain, type, protocol);
        if (fd >= 0 && !shim_passthrough())
            shim_fd_set_kind(fd, domain, kind); /* the later hooks' classification */
        return fd;
    }
    struct shim_decision d = shim_decide(p, SP_OP_SOCKET, domain, kind, NULL, 0);
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

int shim_socket(int domain, int type, int protocol)
{
    if (__builtin_expect(shim_passthrough(), 1))
        return shim_real.socket(domain, type, protocol);
    return socket_ruled(domain, type, protocol);
}

SHIM_EXPORT int socket(int domain, int type, int protocol)
{
    return shim_socket(domain, type, protocol);
}
