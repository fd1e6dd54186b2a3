/* shim/send.c: sendto(), sendmsg() and sendmmsg() when they name an address: a datagram to a peer (`send`
 * rules) or a TCP Fast Open connect (MSG_FASTOPEN, matched as a connect). Everything else
 * (the hot path of every send) goes straight through. */
#include <errno.h>
#include <stdint.h>
#include <sys/uio.h>

#include "addr.h"
#include "apply.h"
#include "hooks.h"
#include "log.h"
#include "state.h"

/* 0 to go on with the send, -1 with errno to fail it. The rules decide on our own copy of
 * the address (a), normalised; *use and *uselen are what the kernel then gets: the same copy
 * (or the program's pointer when it cannot be read: the kernel answers EFAULT). *logit: the
 * policy looked at this send and its outcome is an event (the rule in *rule, maybe NULL). */
static int send_gate(int fd, int flags, const struct sockaddr *sa, socklen_t len,
                     struct shim_addr *a, const struct sockaddr **use, socklen_t *uselen,
                     const struct sp_rule **rule, int *logit)
{
    enum sp_op op = (flags & MSG_FASTOPEN) ? SP_OP_CONNECT : SP_OP_SEND;
    struct sp_policy *p = shim_policy_for(op);
    int family, type;
    *use = sa;
    *uselen = len;
    if (!p || shim_sock_kind(fd, &family, &type) != 0)
        return 0;
    /* The address is ignored on a connected stream; the kernel confirms a recorded stream,
     * which may be stale (a datagram socket now holds the number). */
    if (op == SP_OP_SEND && type == SOCK_STREAM &&
        (shim_sock_kind_sure(fd, &family, &type) != 0 || type == SOCK_STREAM))
        return 0;
    const struct sockaddr *q;
    socklen_t qlen;
    int took = shim_addr_take(a, fd, &family, &type, op, sa, len, p, &q, &qlen);
    if (took < 0)
        return 0;
    *use = (const struct sockaddr *)&a->raw;
    /* An address the kernel refuses, or one that means the connected peer, meets only the
     * rules that name no address. */
    struct shim_decision d = shim_decide(p, op, fd, &family, &type, q, qlen);
    if (shim_gate(&d, op, fd, q ? q : *use, q ? qlen : len) != 0)
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
    if (r < 0 && (err == EAGAIN || err == EWOULDBLOCK) && shim_log_level < SP_LOG_DEBUG)
        return;
    shim_log_call((flags & MSG_FASTOPEN) ? SP_OP_CONNECT : SP_OP_SEND, fd, 0, 0, sa, len, 1, rule,
                  r < 0 ? err : 0, t0, 0);
}

/* A sendto with an address, or a sendmsg whose name we copied into *m (the kernel gets m). */
static ssize_t __attribute__((noinline)) send_ruled(int fd, const void *buf, size_t n, int flags,
                                                    const struct sockaddr *sa, socklen_t len,
                                                    struct msghdr *m)
{
    const struct sp_rule *rule = NULL;
    int logit = 0;
    if (shim_published() == SHIM_WATCH) { /* no rule: the result watched, a failure logged */
        ssize_t r = m ? shim_real.sendmsg(fd, m, flags)
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
    struct shim_addr a;
    const struct sockaddr *use;
    socklen_t uselen;
    if (send_gate(fd, flags, sa, len, &a, &use, &uselen, &rule, &logit) != 0)
        return -1;
    if (m) {
        m->msg_name = (void *)(uintptr_t)use;
        m->msg_namelen = uselen;
    }
    if (!logit)
        return m ? shim_real.sendmsg(fd, m, flags) : shim_real.sendto(fd, buf, n, flags, use, uselen);
    int saved = errno;
    uint64_t t0 = sp_diag_now_ns();
    ssize_t r = m ? shim_real.sendmsg(fd, m, flags) : shim_real.sendto(fd, buf, n, flags, use, uselen);
    int err = errno;
    log_send(fd, flags, use, uselen, rule, r, err, t0);
    errno = r < 0 ? err : saved;
    return r;
}

/* A sendmsg under a policy: the msghdr is read once, fault-safely, and the kernel gets that
 * copy (an unreadable one goes to the kernel as it is: EFAULT). */
static ssize_t __attribute__((noinline)) sendmsg_ruled(int fd, const struct msghdr *msg, int flags)
{
    struct msghdr m;
    if (!shim_policy_for((flags & MSG_FASTOPEN) ? SP_OP_CONNECT : SP_OP_SEND) || !msg ||
        shim_copy_in(&m, msg, sizeof m) != 0)
        return shim_real.sendmsg(fd, msg, flags);
    if (!m.msg_name || !m.msg_namelen || (int)m.msg_namelen < 0)
        return shim_real.sendmsg(fd, &m, flags); /* no address, or EINVAL */
    /* The kernel reads at most a sockaddr_storage of the name (it clamps, not refuses). */
    socklen_t len = m.msg_namelen > sizeof(struct sockaddr_storage)
                        ? (socklen_t)sizeof(struct sockaddr_storage) : m.msg_namelen;
    return send_ruled(fd, NULL, 0, flags, m.msg_name, len, &m);
}

ssize_t shim_sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *sa,
                    socklen_t len)
{
    shim_real_need();
    if (__builtin_expect(sa == NULL, 1) || shim_passthrough())
        return shim_real.sendto(fd, buf, n, flags, sa, len);
    return send_ruled(fd, buf, n, flags, sa, len, NULL);
}

ssize_t shim_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    shim_real_need();
    /* Nothing of *msg is read on this path: a bad pointer is the kernel's to answer. */
    if (__builtin_expect(shim_passthrough(), 1))
        return shim_real.sendmsg(fd, msg, flags);
    return sendmsg_ruled(fd, msg, flags);
}

/* Copies the program's vector entries [0, n) into mv, as many as can be read (one system
 * call, or one per entry when some cannot be read). Returns how many were copied. */
static unsigned copy_entries(struct mmsghdr *mv, const struct mmsghdr *vec, unsigned n)
{
    if (shim_copy_in(mv, vec, n * sizeof *mv) == 0)
        return n;
    unsigned k = 0;
    while (k < n && shim_copy_in(&mv[k], &vec[k], sizeof *mv) == 0)
        k++;
    return k;
}

/* sendmmsg in batches of SENDMMSG_BATCH: each batch's headers copied, each message's name
 * decided as a sendmsg's is, and the kernel given the copies. A denied message ends the call
 * as a failure at that index ends the kernel's: the count sent before it, or -1 with the
 * rule's errno when it is the first. An entry that cannot be read goes to the kernel as it
 * is, alone: it fails there with EFAULT, and nothing after it is sent. */
#define SENDMMSG_BATCH 16
static int __attribute__((noinline)) sendmmsg_ruled(int fd, struct mmsghdr *vec, unsigned vlen,
                                                    int flags)
{
    if (!shim_policy_for((flags & MSG_FASTOPEN) ? SP_OP_CONNECT : SP_OP_SEND))
        return shim_real.sendmmsg(fd, vec, vlen, flags);
    if (vlen > UIO_MAXIOV)
        vlen = UIO_MAXIOV; /* as the kernel does */
    int saved = errno;
    unsigned sent = 0;
    while (sent < vlen) {
        struct mmsghdr mv[SENDMMSG_BATCH];
        struct shim_addr av[SENDMMSG_BATCH];
        const struct sp_rule *rules[SENDMMSG_BATCH];
        unsigned char logs[SENDMMSG_BATCH];
        unsigned chunk = copy_entries(mv, vec + sent,
                                      vlen - sent < SENDMMSG_BATCH ? vlen - sent : SENDMMSG_BATCH);
        if (chunk == 0) {
            if (shim_real.sendmmsg(fd, vec + sent, 1, flags) < 0 && sent == 0)
                return -1; /* EFAULT */
            break;
        }
        unsigned go = chunk;
        int err = 0;
        for (unsigned i = 0; i < chunk; i++) {
            struct msghdr *h = &mv[i].msg_hdr;
            rules[i] = NULL;
            logs[i] = 0;
            if (!h->msg_name || !h->msg_namelen || (int)h->msg_namelen < 0)
                continue;
            socklen_t len = h->msg_namelen > sizeof(struct sockaddr_storage)
                                ? (socklen_t)sizeof(struct sockaddr_storage) : h->msg_namelen;
            int logit = 0;
            const struct sockaddr *use;
            socklen_t uselen;
            if (send_gate(fd, flags, h->msg_name, len, &av[i], &use, &uselen, &rules[i],
                          &logit) != 0) {
                err = errno;
                go = i;
                break;
            }
            logs[i] = (unsigned char)logit;
            h->msg_name = (void *)(uintptr_t)use;
            h->msg_namelen = uselen;
        }
        uint64_t t0 = sp_diag_now_ns();
        int r = go ? shim_real.sendmmsg(fd, mv, go, flags) : 0;
        if (r < 0) {
            int e = errno;
            if (logs[0])
                log_send(fd, flags, mv[0].msg_hdr.msg_name, mv[0].msg_hdr.msg_namelen, rules[0],
                         -1, e, t0);
            if (sent == 0) {
                errno = e;
                return -1;
            }
            break;
        }
        /* Each message's msg_len back into the program's vector, as the kernel writes it (in
         * one system call); where it cannot, the kernel stops counting too. */
        struct iovec lv[SENDMMSG_BATCH], rv[SENDMMSG_BATCH];
        for (int i = 0; i < r; i++) {
            lv[i] = (struct iovec){ &mv[i].msg_len, sizeof mv[i].msg_len };
            rv[i] = (struct iovec){ &vec[sent + i].msg_len, sizeof mv[i].msg_len };
        }
        r = r > 0 ? (int)(shim_copy_out_v(lv, rv, (unsigned)r) / sizeof mv[0].msg_len) : 0;
        for (int i = 0; i < r; i++) {
            if (logs[i])
                log_send(fd, flags, mv[i].msg_hdr.msg_name, mv[i].msg_hdr.msg_namelen, rules[i],
                         (ssize_t)mv[i].msg_len, 0, t0);
        }
        sent += (unsigned)r;
        if ((unsigned)r < go)
            break;
        if (go < chunk) {
            if (sent == 0) {
                errno = err;
                return -1;
            }
            break;
        }
    }
    errno = saved;
    return (int)sent;
}

int shim_sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags)
{
    shim_real_need();
    if (__builtin_expect(shim_passthrough(), 1))
        return shim_real.sendmmsg(fd, vec, vlen, flags);
    return sendmmsg_ruled(fd, vec, vlen, flags);
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

SHIM_EXPORT int sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags)
{
    return shim_sendmmsg(fd, vec, vlen, flags);
}
