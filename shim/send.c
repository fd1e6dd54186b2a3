/* shim/send.c: sendto() and sendmsg() when they name an address: a datagram to a peer (`send`
 * rules) or a TCP Fast Open connect (MSG_FASTOPEN, matched as a connect). Everything else
 * (the hot path of every send) goes straight through. */
#include <errno.h>

#include "apply.h"
#include "hooks.h"
#include "state.h"

/* 0 to go on with the send, -1 with errno to fail it. */
static int send_gate(int fd, int flags, const struct sockaddr *sa, socklen_t len)
{
    enum sp_op op = (flags & MSG_FASTOPEN) ? SP_OP_CONNECT : SP_OP_SEND;
    struct sp_policy *p = shim_policy_for(op);
    int family, type;
    if (!p || len < sizeof(sa_family_t) || shim_sock_kind(fd, &family, &type) != 0)
        return 0;
    if (op == SP_OP_SEND && type == SOCK_STREAM)
        return 0; /* the address is ignored on a connected stream */
    struct shim_decision d = shim_decide(p, op, family, type, sa, len);
    if (shim_gate(&d, op, fd, sa, len) != 0)
        return -1;
    if (d.action == SP_ACT_SET && d.rule) {
        if (d.rule->nonblock)
            shim_set_nonblock(fd);
        shim_apply_opts(fd, d.rule, SHIM_OPTS_ALL & ~SHIM_OPTS_LISTEN_AFTER, op);
        shim_pin(fd, d.rule, family, type);
    }
    return 0;
}

ssize_t shim_sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *sa,
                    socklen_t len)
{
    shim_real_need();
    if (__builtin_expect(sa == NULL, 1) || send_gate(fd, flags, sa, len) == 0)
        return shim_real.sendto(fd, buf, n, flags, sa, len);
    return -1;
}

ssize_t shim_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    shim_real_need();
    if (__builtin_expect(!msg || msg->msg_name == NULL, 1) ||
        send_gate(fd, flags, msg->msg_name, msg->msg_namelen) == 0)
        return shim_real.sendmsg(fd, msg, flags);
    return -1;
}

SHIM_EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags, __CONST_SOCKADDR_ARG sa,
                           socklen_t len)
{
    return shim_sendto(fd, buf, n, flags, SHIM_SA(sa), len);
}

SHIM_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    return shim_sendmsg(fd, msg, flags);
}
