/* shim/send.c: sendto() and sendmsg() when they name an address: a datagram to a peer (`send`
 * rules) or a TCP Fast Open connect (MSG_FASTOPEN, matched as a connect). Everything else
 * (the hot path of every send) goes straight through. */
#include <errno.h>

#include "apply.h"
#include "hooks.h"
#include "log.h"
#include "state.h"

/* 0 to go on with the send, -1 with errno to fail it. *logit: the policy looked at this
 * send and its outcome is an event (the rule in *rule, maybe NULL). */
static int send_gate(int fd, int flags, const struct sockaddr *sa, socklen_t len,
                     const struct sp_rule **rule, int *logit)
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
    *rule = d.rule;
    *logit = shim_log_level != SP_LOG_OFF;
    return 0;
}

/* The send's event: a datagram to sa, or a TFO connect (MSG_FASTOPEN). */
static void log_send(int fd, int flags, const struct sockaddr *sa, socklen_t len,
                     const struct sp_rule *rule, ssize_t r, int err, uint64_t t0)
{
    enum sp_op op = (flags & MSG_FASTOPEN) ? SP_OP_CONNECT : SP_OP_SEND;
    if (!shim_log_wants(r < 0 ? err : 0))
        return;
    if (r < 0 && (err == EAGAIN || err == EWOULDBLOCK) && shim_log_level < SP_LOG_DEBUG)
        return;
    struct sp_event ev;
    sp_event_init(&ev, op, fd);
    ev.err = r < 0 ? err : 0;
    ev.duration_ns = sp_diag_now_ns() - t0;
    sp_event_set_addr(&ev, 1, sa, len);
    shim_log_event(&ev, rule);
}

static ssize_t __attribute__((noinline)) send_ruled(int fd, const void *buf, size_t n, int flags,
                                                    const struct sockaddr *sa, socklen_t len,
                                                    const struct msghdr *msg)
{
    const struct sp_rule *rule = NULL;
    int logit = 0;
    if (shim_published() == SHIM_WATCH) { /* no rule: the result watched, a failure logged */
        ssize_t r = msg ? shim_real.sendmsg(fd, msg, flags)
                        : shim_real.sendto(fd, buf, n, flags, sa, len);
        if (r < 0) {
            struct shim_call c;
            c.a = fd;
            c.sa = sa;
            c.len = len;
            enum sp_op op = (flags & MSG_FASTOPEN) ? SP_OP_CONNECT : SP_OP_SEND;
            return (ssize_t)shim_watch_failed(r, op, &c);
        }
        return r;
    }
    if (send_gate(fd, flags, sa, len, &rule, &logit) != 0)
        return -1;
    if (!logit)
        return msg ? shim_real.sendmsg(fd, msg, flags) : shim_real.sendto(fd, buf, n, flags, sa, len);
    int saved = errno;
    uint64_t t0 = sp_diag_now_ns();
    ssize_t r = msg ? shim_real.sendmsg(fd, msg, flags) : shim_real.sendto(fd, buf, n, flags, sa, len);
    int err = errno;
    log_send(fd, flags, sa, len, rule, r, err, t0);
    errno = r < 0 ? err : saved;
    return r;
}

ssize_t shim_sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *sa,
                    socklen_t len)
{
    shim_real_need();
    if (__builtin_expect(sa == NULL, 1))
        return shim_real.sendto(fd, buf, n, flags, sa, len);
    return send_ruled(fd, buf, n, flags, sa, len, NULL);
}

ssize_t shim_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    shim_real_need();
    if (__builtin_expect(!msg || msg->msg_name == NULL, 1))
        return shim_real.sendmsg(fd, msg, flags);
    return send_ruled(fd, NULL, 0, flags, msg->msg_name, msg->msg_namelen, msg);
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
