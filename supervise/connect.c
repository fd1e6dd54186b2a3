/* supervise/connect.c: a trapped connect(fd, addr, len). The address is read once into the
 * supervisor's memory and checked still wanted; the decision comes from the policy; the call
 * is then made here, on a duplicate of the program's socket (the same socket: the options the
 * rule forces land on it, and its O_NONBLOCK is the program's own), with the copy that was
 * decided on. Never SECCOMP_USER_NOTIF_FLAG_CONTINUE after a rule looked at the address: the
 * program could change it between the check and the kernel's read. A blocking connect is made
 * in a worker; a non-blocking one here, in the loop. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sup.h"

/* Options that are only meaningful after listen(). */
#define OPTS_CONNECT (((uint32_t)1 << BIO_OPT_COUNT) - 1 - BIO_OPT_BIT(BIO_OPT_TFO_QLEN))

static uint64_t now_ns(void)
{
    return sp_diag_now_ns();
}

/* What forcing the rule's options did, for the event. */
struct forced {
    uint32_t asked;
    struct bio_opt_report rep;
};

/* Answers the program, then logs what its connect did (t0: when it started). */
static void connect_done(struct sup_call *c, int r, int err, uint64_t t0, const struct forced *f)
{
    uint64_t took = now_ns() - t0;
    if (c->quiet || !sup_log_wants(EIO)) {
        sup_answer(c, 0, r == 0 ? 0 : err);
        return; /* logging off */
    }
    uint64_t key = sup_sock_key(c->fd);
    if (sup_pending_has(key)) {
        sup_who(c);
        /* a later connect() on a socket whose non-blocking connect is pending tells how that
         * one ended (EISCONN: connected), as hiredis asks; ended before the answer, as an
         * SO_ERROR read is (sockopt.c) */
        if (r == 0 || (err != EALREADY && err != EINPROGRESS && err != EINTR))
            sup_pending_take(c->fd, key, r == 0 || err == EISCONN ? 0 : err,
                             SP_PHASE_LATER_CONNECT, c);
        sup_answer(c, 0, r == 0 ? 0 : err);
        return;
    }
    /* Pending before the program hears of it: its getsockopt(SO_ERROR) may reach another
     * receiving thread at once. */
    if (r != 0 && (err == EINPROGRESS || err == EINTR))
        sup_pending_add(c, t0, f ? f->asked : 0, f ? &f->rep : NULL);
    if (sup_log_wants(r == 0 ? 0 : err))
        sup_who(c);
    sup_answer(c, 0, r == 0 ? 0 : err);
    if (!sup_log_wants(r == 0 ? 0 : err))
        return;
    struct sp_event ev;
    sup_event_init(&ev, SP_OP_CONNECT, c);
    ev.err = r == 0 ? 0 : err;
    ev.duration_ns = took;
    sp_event_set_addr(&ev, 1, (const struct sockaddr *)&c->addr, c->addrlen);
    struct sockaddr_storage local;
    socklen_t llen = sizeof local;
    if (getsockname(c->fd, (struct sockaddr *)&local, &llen) == 0 && llen > sizeof(sa_family_t))
        sp_event_set_addr(&ev, 0, (const struct sockaddr *)&local, llen);
    if (c->nonblock)
        ev.flags |= SP_EVF_NONBLOCK;
    sup_log_outcome(&ev, c->d.rule, f ? f->asked : 0, f ? &f->rep : NULL);
}

/* Forces the rule's options (set rules) on the duplicate. */
static void force_options(struct sup_call *c, struct forced *f)
{
    memset(f, 0, sizeof *f);
    const struct sp_rule *r = c->d.rule;
    if (!r || r->action != SP_ACT_SET)
        return;
    f->asked = r->opts.mask & OPTS_CONNECT;
    if (f->asked)
        bio_opt_apply_kind(c->fd, &r->opts, OPTS_CONNECT, c->family, c->type, &f->rep);
    sup_pin_add(c->fd, r);
    if (r->nonblock && !c->nonblock) { /* read-modify-write: the program's other flags stay */
        int fl = fcntl(c->fd, F_GETFL);
        if (fl >= 0 && fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) == 0)
            c->nonblock = 1;
    }
}

/* The worker's part: the delay, the blocking connect, a connect-timeout. */
static void connect_work(struct sup_call *c)
{
    const struct sp_rule *r = c->d.rule;
    if (c->d.action == SP_ACT_DELAY && r && r->delay_ms)
        sup_sleep_ms(c, r->delay_ms);
    if (c->send_delay_ms) /* a datagram socket's destination under a delay send rule */
        sup_sleep_ms(c, c->send_delay_ms);
    struct forced f;
    force_options(c, &f);
    uint64_t t0 = now_ns();
    if (r && r->connect_timeout_ms && !c->nonblock && c->type == SOCK_STREAM) {
        pthread_mutex_lock(&sup.lock);
        c->deadline_ns = t0 + (uint64_t)r->connect_timeout_ms * 1000000u;
        pthread_mutex_unlock(&sup.lock);
    }
    int rc = -1, err = EINTR;
    sup_cancel_enter();
    if (!sup_cancelled(c)) {
        rc = connect(c->fd, (const struct sockaddr *)&c->call, c->calllen);
        err = rc == 0 ? 0 : errno;
    }
    sup_cancel_leave();
    if (rc != 0 && err == EINTR && sup_cancelled(c) == 2) {
        /* connect-timeout: abort the attempt so that it does not connect later */
        struct sockaddr unspec = { .sa_family = AF_UNSPEC };
        connect(c->fd, &unspec, sizeof unspec);
        err = ETIMEDOUT;
    }
    connect_done(c, rc, err, t0, &f);
}

/* Whether c's call goes to this host (loopback, a unix socket): its connect does not wait for
 * a network. */
static int local_peer(const struct sup_call *c)
{
    const struct sockaddr_storage *a = &c->call;
    if (a->ss_family == AF_UNIX)
        return 1;
    if (a->ss_family == AF_INET && c->calllen >= sizeof(struct sockaddr_in))
        return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
    if (a->ss_family == AF_INET6 && c->calllen >= sizeof(struct sockaddr_in6)) {
        const struct in6_addr *in6 = &((const struct sockaddr_in6 *)a)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(in6) || (IN6_IS_ADDR_V4MAPPED(in6) && in6->s6_addr[12] == 127);
    }
    return 0;
}

void sup_connect(struct sup_call *c)
{
    int err = sup_read_addr(c, c->n.data.args[1], c->n.data.args[2]);
    if (err) {
        sup_fail(c, err);
        return;
    }
    if (sup_take_fd(c, (int)c->n.data.args[0]) != 0) {
        sup_fail_take(c);
        return;
    }
    int inet = c->family == AF_INET || c->family == AF_INET6;
    /* A datagram socket's connect sets where its later send()s go: the send rules meet that
     * destination too, as the shim's connect_send_gate. */
    int sends = (c->type == SOCK_DGRAM || c->type == SOCK_RAW) && sup_policy_wants(c->p, SP_OP_SEND);
    err = sup_addr_norm(c, SP_OP_CONNECT);
    c->d = sup_decide_addr(c, SP_OP_CONNECT);
    if (!inet && c->d.action == SP_ACT_PASS && !sends &&
        !(sp_policy_tests(c->p, SP_OP_CONNECT) & SP_TESTS_PATH)) {
        /* A local socket no rule can tell apart by its path (or netlink, ...). CONTINUE only
         * when no connect or send rule applies to any socket: the kernel looks the number up
         * again, and another thread may have put an internet socket there meanwhile (dup2),
         * with another address. Else it is connected here all the same, unlogged. */
        if (!sup_policy_wants(c->p, SP_OP_CONNECT) && !sup_policy_wants(c->p, SP_OP_SEND)) {
            sup_pass(c);
            return;
        }
        c->quiet = 1;
    }
    if (err) {
        sup_fail(c, err);
        return;
    }
    uint32_t delay = 0;
    if (sup_gate(c, SP_OP_CONNECT, &delay)) {
        sup_call_free(c);
        return;
    }
    if (sends && c->normlen) {
        struct sp_decision cd = c->d;
        c->d = sup_decide_addr(c, SP_OP_SEND);
        if (sup_gate(c, SP_OP_SEND, &c->send_delay_ms)) {
            sup_call_free(c);
            return;
        }
        c->d = cd;
    }
    int may_block = !c->nonblock && !(c->d.rule && c->d.rule->action == SP_ACT_SET &&
                                      c->d.rule->nonblock);
    if (may_block || delay || c->send_delay_ms) {
        c->work = connect_work;
        if (may_block && !delay && !c->send_delay_ms && local_peer(c))
            sup_defer_soon(c); /* answered at once, but when the listener's queue is full */
        else
            sup_defer(c);
        return;
    }
    struct forced f;
    force_options(c, &f);
    uint64_t t0 = now_ns();
    int rc = connect(c->fd, (const struct sockaddr *)&c->call, c->calllen);
    connect_done(c, rc, rc == 0 ? 0 : errno, t0, &f);
    sup_call_free(c);
}
