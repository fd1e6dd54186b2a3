/* supervise/send.c: a trapped sendto(fd, buf, len, flags, addr, addrlen) with an address, and
 * sendmsg and sendmmsg (trapped when the policy has send rules, or with MSG_FASTOPEN), as the
 * shim's shim/send.c: a datagram's destination meets the `send` rules, a TCP Fast Open send
 * (MSG_FASTOPEN) is decided as a connect. Each message is copied into the supervisor once
 * (address, payload, ancillary data), decided, and sent from here on the duplicate: what the
 * rules saw is what goes out. A sendmmsg whose message i is refused sends the i before it and
 * returns i, or fails with the rule's errno when i is 0, as a failure at i ends the kernel's.
 * A stream socket without MSG_FASTOPEN (the kernel ignores the address), or a socket whose
 * destination no rule can tell apart, is not decided, but its call is still made here, with
 * copies, on the socket looked at: answered SECCOMP_USER_NOTIF_FLAG_CONTINUE, the kernel
 * would look the descriptor up again, and another thread may have put a datagram socket
 * there meanwhile (dup2), whose destination no rule would then have seen. CONTINUE is left
 * for a call no rule could apply to on any socket: the policy has nothing for its op. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "send.h"

struct sendjob {
    long nr;           /* SYS_sendto, SYS_sendmsg or SYS_sendmmsg */
    enum sp_op op;     /* SP_OP_SEND, or SP_OP_CONNECT with MSG_FASTOPEN */
    int flags;
    int decide;        /* 0: the messages' addresses are not decided (nor logged) */
    unsigned n;        /* messages to send */
    unsigned vlen;     /* messages read (n, or n + 1: the one that stopped the call) */
    uint32_t delay_ms; /* the delay rules' sleep before the call */
    struct sup_msg m[];
};

static void job_free(struct sendjob *j)
{
    for (unsigned i = 0; i < j->vlen; i++)
        sup_msg_free(&j->m[i]);
    free(j);
}

/* Whether no rule for op can tell this socket's destinations apart and none applies: the
 * call is not decided (but made here all the same). A unix socket when no rule tests a path
 * (a stand-in path decides for all), another family with no address at all. */
static int blind(const struct sup_call *c, enum sp_op op)
{
    if (c->family == AF_INET || c->family == AF_INET6)
        return 0;
    if (c->family == AF_UNIX && (sp_policy_tests(c->p, op) & SP_TESTS_PATH))
        return 0;
    struct sockaddr_un u = { .sun_family = AF_UNIX, .sun_path = "/" };
    socklen_t len = c->family == AF_UNIX ? (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 2) : 0;
    struct sp_decision d = sp_decide(c->p, op, c->family, c->type,
                                     len ? (const struct sockaddr *)&u : NULL, len);
    return d.action == SP_ACT_PASS;
}

/* Decides the message m to the program's address ptr (len bytes): 0 to send it, else the
 * errno it fails with (a rule's, logged; or the address's own). */
static int decide_name(struct sup_call *c, struct sendjob *j, struct sup_msg *m, uint64_t ptr,
                       uint64_t len)
{
    int err = sup_read_addr(c, ptr, len);
    if (!err)
        err = sup_addr_norm(c, j->op);
    if (err)
        return err;
    const struct sp_rule *r = NULL;
    if (j->decide) {
        c->d = sup_decide_addr(c, j->op);
        err = sup_gate_check(c, j->op, &j->delay_ms);
        if (err)
            return err;
        r = c->d.rule;
    }
    if (r && r->action == SP_ACT_SET && r->opts.mask) {
        struct bio_opt_report rep;
        bio_opt_apply_kind(c->fd, &r->opts, r->opts.mask & ~BIO_OPT_BIT(BIO_OPT_TFO_QLEN),
                           c->family, c->type, &rep);
    }
    m->name = c->call;
    m->namelen = c->calllen;
    m->shown = c->addr;
    m->shownlen = c->addrlen;
    m->rule = r;
    m->ruled = j->decide;
    return 0;
}

/* One sendmsg message (header h): copied, its name decided. 0, or the errno. */
static int take_msg(struct sup_call *c, struct sendjob *j, struct sup_msg *m,
                    const struct msghdr *h, size_t *budget)
{
    if (h->msg_name && h->msg_namelen) {
        if ((int)h->msg_namelen < 0)
            return EINVAL;
        /* the kernel reads at most a sockaddr_storage of the name (it clamps, not refuses) */
        socklen_t len = h->msg_namelen > sizeof(struct sockaddr_storage)
                            ? (socklen_t)sizeof(struct sockaddr_storage) : h->msg_namelen;
        int err = decide_name(c, j, m, (uint64_t)(uintptr_t)h->msg_name, len);
        if (err)
            return err;
    }
    return sup_msg_copy(c, h, m, budget);
}

/* The messages of c's call read and decided into a new job (*jp), j->n of them to send.
 * 0, or the errno the call fails with at once. */
static int take_job(struct sup_call *c, enum sp_op op, int decide, struct sendjob **jp)
{
    long nr = c->n.data.nr;
    unsigned vlen = nr == SYS_sendmmsg ? (unsigned)c->n.data.args[2] : 1;
    if (vlen > UIO_MAXIOV)
        vlen = UIO_MAXIOV; /* as the kernel */
    struct sendjob *j = calloc(1, sizeof *j + vlen * sizeof j->m[0]);
    if (!(*jp = j))
        return ENOMEM;
    j->nr = nr;
    j->vlen = vlen;
    j->op = op;
    j->decide = decide;
    j->flags = (int)c->n.data.args[nr == SYS_sendto ? 3 : nr == SYS_sendmsg ? 2 : 3];
    size_t budget = SUP_SEND_TOTAL;
    int err = 0;
    if (nr == SYS_sendto) {
        err = decide_name(c, j, &j->m[0], c->n.data.args[4], c->n.data.args[5]);
        if (!err)
            err = sup_msg_copy_buf(c, c->n.data.args[1], (size_t)c->n.data.args[2], &j->m[0],
                                   &budget);
    } else if (nr == SYS_sendmsg) {
        struct msghdr h;
        err = sup_msg_header(c, c->n.data.args[1], &h);
        if (!err)
            err = take_msg(c, j, &j->m[0], &h, &budget);
    } else {
        for (unsigned i = 0; i < vlen && !err; i++) {
            struct mmsghdr e;
            err = sup_msg_header(c, c->n.data.args[1] + i * sizeof e, &e.msg_hdr);
            if (!err)
                err = take_msg(c, j, &j->m[i], &e.msg_hdr, &budget);
            if (!err)
                j->n = i + 1;
        }
        /* message n refused (or past the supervisor's bound, -1): the n before it are sent */
        return j->n ? 0 : err;
    }
    j->n = err ? 0 : 1;
    return err;
}

/* Whether c's call is a blocking send on a stream socket (stream.c makes it). */
static int blocking_stream(const struct sup_call *c, const struct sendjob *j)
{
    return c->type == SOCK_STREAM && !c->nonblock && !(j->flags & MSG_DONTWAIT);
}

/* The call, with the copies; the program answered, then each decided message's outcome
 * logged. 1 when it would wait and may not (wait 0; nothing done), else 0. */
static int send_now(struct sup_call *c, struct sendjob *j, int wait)
{
    uint64_t t0 = sp_diag_now_ns();
    struct mmsghdr v[UIO_MAXIOV];
    for (unsigned i = 0; i < j->n; i++) {
        struct sup_msg *m = &j->m[i];
        v[i].msg_hdr = (struct msghdr){ .msg_name = m->namelen ? &m->name : NULL,
                                        .msg_namelen = m->namelen, .msg_iov = &m->data,
                                        .msg_iovlen = 1, .msg_control = m->control,
                                        .msg_controllen = m->controllen };
        v[i].msg_len = 0;
    }
    long r;
    int err = 0;
    /* MSG_NOSIGNAL: an EPIPE's SIGPIPE is the program's (below), never the supervisor's */
    if (blocking_stream(c, j)) {
        r = sup_stream_send(c, v, j->n, j->flags, j->nr == SYS_sendmmsg, wait, &err);
        if (r == SUP_STREAM_BLOCKED)
            return 1;
    } else {
        if (j->nr == SYS_sendmmsg)
            r = sendmmsg(c->fd, v, j->n, j->flags | MSG_NOSIGNAL);
        else
            r = sendmsg(c->fd, &v[0].msg_hdr, j->flags | MSG_NOSIGNAL);
        err = r < 0 ? errno : 0;
    }
    /* the kernel raises SIGPIPE in the caller for a stream socket's EPIPE: after the answer
     * here (before it, the signal would interrupt the call, and SA_RESTART would repeat it) */
    int pipe = err == EPIPE && !(j->flags & MSG_NOSIGNAL) && c->type == SOCK_STREAM;
    /* each message's msg_len back into the program's vector; where it cannot, the count ends */
    for (long i = 0; j->nr == SYS_sendmmsg && i < r; i++)
        if (sup_write_mem(c, c->n.data.args[1] + (uint64_t)i * sizeof v[0] +
                                 offsetof(struct mmsghdr, msg_len),
                          &v[i].msg_len, sizeof v[i].msg_len) != 0)
            r = i;
    int logs = 0;
    for (unsigned i = 0; i < j->n; i++)
        logs |= j->m[i].ruled;
    logs = logs && sup_log_wants(err);
    if (logs || pipe)
        sup_who(c);
    sup_answer(c, r < 0 ? 0 : r, err);
    if (pipe)
        syscall(SYS_tgkill, c->tgid, (pid_t)c->n.pid, SIGPIPE);
    if (!logs || (err && (err == EAGAIN || err == EWOULDBLOCK) && !sup_log_debug()))
        return 0;
    /* one event per message sent (sendmmsg: r messages; sendto, sendmsg: r is a byte count,
     * of the one message), or for the first when the call failed */
    unsigned nlog = j->nr == SYS_sendmmsg && r >= 0 ? (unsigned)r : 1u;
    if (nlog > j->n)
        nlog = j->n;
    for (unsigned i = 0; i < nlog; i++) {
        const struct sup_msg *m = &j->m[i];
        if (!m->ruled)
            continue;
        struct sp_event ev;
        sup_event_init(&ev, j->op, c);
        ev.err = err;
        ev.duration_ns = sp_diag_now_ns() - t0;
        sp_event_set_addr(&ev, 1, (const struct sockaddr *)&m->shown, m->shownlen);
        ev.rule = sup.opts->trace ? NULL : m->rule;
        sup_log_event(&ev);
    }
    return 0;
}

static void send_work(struct sup_call *c)
{
    struct sendjob *j = c->job;
    if (j->delay_ms)
        sup_sleep_ms(c, j->delay_ms);
    if (blocking_stream(c, j)) { /* waits (cancellable) in stream.c, never inside a send */
        if (!sup_cancelled(c))
            send_now(c, j, 1);
        job_free(j);
        return;
    }
    sup_cancel_enter();
    if (!sup_cancelled(c))
        send_now(c, j, 1);
    sup_cancel_leave();
    job_free(j);
}

void sup_send(struct sup_call *c)
{
    long nr = c->n.data.nr;
    int flags = (int)c->n.data.args[nr == SYS_sendmsg ? 2 : 3];
    enum sp_op op = (flags & MSG_FASTOPEN) ? SP_OP_CONNECT : SP_OP_SEND;
    /* No rule for op (which comes from the flags, a value), or nothing is sent (a sendmmsg
     * of no message): CONTINUE. */
    if (sup_take_ruled(c, !(nr == SYS_sendmmsg && c->n.data.args[2] == 0) &&
                              sup_policy_wants(c->p, op)) != 0)
        return;
    int decide = !(op == SP_OP_SEND &&
                   (c->type == SOCK_STREAM || (nr != SYS_sendto && blind(c, op))));
    struct sendjob *j = NULL;
    int err = take_job(c, op, decide, &j);
    if (err) {
        sup_answer(c, 0, err);
        if (j)
            job_free(j);
        sup_call_free(c);
        return;
    }
    /* A blocking stream send is tried here first: it waits (in a worker) only when nothing
     * can be sent at once. */
    int may_block = !c->nonblock && !(flags & MSG_DONTWAIT);
    if (j->delay_ms || (may_block && !blocking_stream(c, j)) || send_now(c, j, 0)) {
        c->job = j;
        c->work = send_work; /* may block (or sleeps first): a worker */
        sup_defer(c);
        return;
    }
    job_free(j);
    sup_call_free(c);
}
