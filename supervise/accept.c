/* supervise/accept.c: a trapped accept(fd, addr, lenp) or accept4(..., flags). The peer is only
 * known once accepted, so the supervisor accepts on its duplicate of the listener, decides on
 * the peer (with the local port it came in on, as the shim), forces the rule's options on the
 * new socket and installs it in the program with SECCOMP_IOCTL_NOTIF_ADDFD and
 * SECCOMP_ADDFD_FLAG_SEND, which also answers the call with its number (accept4's
 * SOCK_CLOEXEC becomes the new descriptor's O_CLOEXEC; SOCK_NONBLOCK is set on the socket by
 * the accept itself). A denied peer is closed and the program sees the rule's errno. On a
 * blocking listener a worker waits for a connection with poll (interrupted when the program's
 * call goes away), so that no connection is taken for a call nobody waits for any more. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sup.h"

#define OPTS_ACCEPT (((uint32_t)1 << BIO_OPT_COUNT) - 1 - BIO_OPT_BIT(BIO_OPT_TFO_QLEN) - \
                     BIO_OPT_BIT(BIO_OPT_TFO_CONNECT))

static int accept_flags(const struct sup_call *c)
{
    return c->n.data.nr == SYS_accept4 ? (int)c->n.data.args[3] : 0;
}

static void log_accept(const struct sup_call *c, int pfd, int nfd, int err, uint64_t t0,
                       uint32_t asked, const struct bio_opt_report *rep)
{
    if (!sup_log_wants(err))
        return;
    if ((err == EAGAIN || err == EWOULDBLOCK || err == EINTR) && !sup_log_debug())
        return; /* nothing waiting: an event loop's normal state */
    struct sp_event ev;
    sup_event_init(&ev, SP_OP_ACCEPT, c);
    ev.fd = err ? (int)c->n.data.args[0] : pfd;
    ev.err = err;
    ev.duration_ns = sp_diag_now_ns() - t0;
    struct sockaddr_storage local;
    socklen_t llen = sizeof local;
    if (getsockname(err ? c->fd : nfd, (struct sockaddr *)&local, &llen) == 0)
        sp_event_set_addr(&ev, 0, (const struct sockaddr *)&local, llen);
    if (!err)
        sp_event_set_addr(&ev, 1, (const struct sockaddr *)&c->addr, c->addrlen);
    sup_log_outcome(&ev, c->d.rule, asked, rep);
}

/* The decision for the peer in c->addr, with the local port of nfd in place of its own when
 * the accept rules test ports. */
static struct sp_decision decide_peer(const struct sup_call *c, int nfd)
{
    struct sockaddr_storage peer = c->addr;
    if ((peer.ss_family == AF_INET || peer.ss_family == AF_INET6) &&
        (sp_policy_tests(c->p, SP_OP_ACCEPT) & SP_TESTS_PORT)) {
        struct sockaddr_storage local;
        socklen_t llen = sizeof local;
        if (getsockname(nfd, (struct sockaddr *)&local, &llen) == 0 &&
            local.ss_family == peer.ss_family) /* sin6_port lies where sin_port does */
            ((struct sockaddr_in *)&peer)->sin_port = ((struct sockaddr_in *)&local)->sin_port;
    }
    return sp_decide(c->p, SP_OP_ACCEPT, c->family, c->type,
                     c->addrlen ? (const struct sockaddr *)&peer : NULL, c->addrlen);
}

/* Copies the peer out as the kernel does: truncated to the caller's room, true length back.
 * 0, or an errno. */
static int copy_peer(const struct sup_call *c)
{
    uint64_t sap = c->n.data.args[1], lenp = c->n.data.args[2];
    if (!sap || !lenp)
        return 0;
    socklen_t room;
    if (sup_read_mem(c, lenp, &room, sizeof room) != 0)
        return EFAULT;
    if ((int)room < 0)
        return EINVAL;
    size_t n = room < c->addrlen ? room : c->addrlen;
    if ((n && sup_write_mem(c, sap, &c->addr, n) != 0) ||
        sup_write_mem(c, lenp, &c->addrlen, sizeof c->addrlen) != 0)
        return EFAULT;
    return 0;
}

static void accept_rest(struct sup_call *c, int nfd, uint64_t t0);

/* A worker's part for a delayed peer taken from a non-blocking listener: the delay, then the
 * rest (the connection is closed when the program's call went away meanwhile). */
static void accept_delayed(struct sup_call *c)
{
    sup_sleep_ms(c, c->d.rule->delay_ms);
    if (sup_cancelled(c)) {
        sup_held_keep(c, c->held_fd); /* for the next accept: the connection is not lost */
        return;
    }
    accept_rest(c, c->held_fd, c->held_t0);
}

/* Accepts and decides; 1 when a delay is left for a worker (c->work set), else 0 (done). */
static int accept_now(struct sup_call *c)
{
    int flags = accept_flags(c);
    uint64_t t0 = sp_diag_now_ns();
    socklen_t plen = sizeof c->addr;
    int nfd = sup_held_take(c, flags & SOCK_NONBLOCK); /* one an interrupted accept left */
    if (nfd >= 0) {
        plen = c->addrlen;
    } else if (c->nonblock) {
        nfd = accept4(c->fd, (struct sockaddr *)&c->addr, &plen, SOCK_CLOEXEC | (flags & SOCK_NONBLOCK));
    } else {
        sup_cancel_enter();
        if (!sup_cancelled(c))
            nfd = accept4(c->fd, (struct sockaddr *)&c->addr, &plen,
                          SOCK_CLOEXEC | (flags & SOCK_NONBLOCK));
        else
            errno = EINTR;
        sup_cancel_leave();
    }
    if (nfd < 0) {
        int err = errno;
        if (sup_log_wants(err))
            sup_who(c);
        sup_answer(c, 0, err);
        log_accept(c, -1, -1, err, t0, 0, NULL);
        return 0;
    }
    c->addrlen = plen;
    c->d = decide_peer(c, nfd);
    uint32_t delay = 0;
    int gerr = sup_gate_check(c, SP_OP_ACCEPT, &delay);
    if (gerr) {
        close(nfd);
        sup_answer(c, 0, gerr);
        return 0;
    }
    if (delay) {
        if (!c->running) { /* a non-blocking listener, in a receiving thread: sleep elsewhere */
            c->held_fd = nfd;
            c->held_t0 = t0;
            c->work = accept_delayed;
            return 1;
        }
        sup_sleep_ms(c, c->d.rule->delay_ms);
    }
    accept_rest(c, nfd, t0);
    return 0;
}

/* After the decision: the rule's options, the peer copied out, the new socket installed. */
static void accept_rest(struct sup_call *c, int nfd, uint64_t t0)
{
    int flags = accept_flags(c);
    uint32_t asked = 0;
    struct bio_opt_report rep;
    memset(&rep, 0, sizeof rep);
    const struct sp_rule *r = c->d.rule;
    if (r && r->action == SP_ACT_SET) {
        asked = r->opts.mask & OPTS_ACCEPT;
        if (asked)
            bio_opt_apply_kind(nfd, &r->opts, OPTS_ACCEPT, c->family, c->type, &rep);
        sup_pin_add(nfd, r);
        if (r->nonblock) {
            int fl = fcntl(nfd, F_GETFL);
            if (fl >= 0)
                fcntl(nfd, F_SETFL, fl | O_NONBLOCK);
        }
    }
    int err = copy_peer(c);
    if (err) {
        close(nfd);
        sup_answer(c, 0, err);
        return;
    }
    if (sup_log_wants(0))
        sup_who(c);
    /* Never interrupted (the cancel signal is blocked here): an ADDFD + SEND whose wait is cut
     * short may leave the program's call answered with 0 instead of the new descriptor. */
    int pfd = sup_install(c, nfd, flags & SOCK_CLOEXEC);
    if (pfd < 0) {
        /* The call went away meanwhile (ENOENT), or the program is out of descriptors: as
         * the kernel's accept would, give it the error; the connection is closed. */
        int e = errno;
        if (e == ENOENT) /* a signal interrupted the program's accept: the next one gets it */
            sup_held_keep(c, nfd);
        else
            close(nfd);
        if (e != ENOENT)
            sup_answer(c, 0, e);
        return;
    }
    log_accept(c, pfd, nfd, 0, t0, asked, &rep);
    close(nfd);
}

/* A blocking listener: wait for a connection first (interruptible), then accept. */
static void accept_work(struct sup_call *c)
{
    for (;;) {
        struct pollfd p = { c->fd, POLLIN, 0 };
        if (sup_cancelled(c))
            return;
        if (sup_held_has(c))
            break; /* one an interrupted accept left, taken first */
        int n = sup_poll(&p, 1, -1);
        if (n < 0 && errno == EINTR)
            continue; /* cancelled: the loop above returns */
        if (n < 0)
            break;
        if (!sup_valid(c))
            return;
        break;
    }
    accept_now(c);
}

/* A blocking listener with a connection waiting. */
static void accept_ready(struct sup_call *c)
{
    accept_now(c);
}

void sup_accept(struct sup_call *c)
{
    /* No accept rule: the kernel accepts, as with the shim. */
    if (sup_take_ruled(c, sup_policy_wants(c->p, SP_OP_ACCEPT)) != 0)
        return;
    if (!c->nonblock) {
        struct pollfd p = { c->fd, POLLIN, 0 };
        c->work = poll(&p, 1, 0) == 1 ? accept_ready : accept_work;
        if (c->work == accept_ready)
            sup_defer_soon(c); /* a connection is waiting: taken at once */
        else
            sup_defer(c);
        return;
    }
    if (accept_now(c)) {
        sup_defer(c); /* a delay rule: sleeps in a worker, never in a receiving thread */
        return;
    }
    sup_call_free(c);
}
