/* supervise/send.c: a trapped sendto(fd, buf, len, flags, addr, addrlen) with an address (the
 * filter traps no other): a datagram to a peer (`send` rules) or a TCP Fast Open connect
 * (MSG_FASTOPEN, decided as a connect), as the shim's. The address and the data are read once
 * into the supervisor; the datagram is sent from there, on the duplicate. Anything else (a
 * stream socket without MSG_FASTOPEN, whose address the kernel ignores) is the kernel's. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "sup.h"

/* The most a datagram may carry that the supervisor copies (more: EMSGSIZE, as the kernel). */
#define SEND_MAX (4u << 20)

struct sendjob {
    void *data;
    size_t len;
    int flags;
    enum sp_op op;
};

static void send_now(struct sup_call *c, struct sendjob *j)
{
    uint64_t t0 = sp_diag_now_ns();
    ssize_t r = sendto(c->fd, j->data, j->len, j->flags, (const struct sockaddr *)&c->call, c->calllen);
    int err = r < 0 ? errno : 0;
    if (sup_log_wants(err))
        sup_who(c);
    sup_answer(c, r < 0 ? 0 : (long)r, err);
    if (sup_log_wants(err) && !(err && (err == EAGAIN || err == EWOULDBLOCK) && !sup_log_debug())) {
        struct sp_event ev;
        sup_event_init(&ev, j->op, c);
        ev.err = err;
        ev.duration_ns = sp_diag_now_ns() - t0;
        sp_event_set_addr(&ev, 1, (const struct sockaddr *)&c->addr, c->addrlen);
        ev.rule = sup.opts->trace ? NULL : c->d.rule;
        sup_log_event(&ev);
    }
}

static void send_work(struct sup_call *c)
{
    struct sendjob *j = (struct sendjob *)(c + 1);
    if (c->d.action == SP_ACT_DELAY && c->d.rule && c->d.rule->delay_ms)
        sup_sleep_ms(c, c->d.rule->delay_ms);
    sup_cancel_enter();
    if (!sup_cancelled(c))
        send_now(c, j);
    sup_cancel_leave();
    free(j->data);
}

void sup_send(struct sup_call *c)
{
    int flags = (int)c->n.data.args[3];
    enum sp_op op = (flags & MSG_FASTOPEN) ? SP_OP_CONNECT : SP_OP_SEND;
    if (!sup_policy_wants(c->p, op) || sup_take_fd(c, (int)c->n.data.args[0]) != 0 ||
        (op == SP_OP_SEND && c->type == SOCK_STREAM)) {
        sup_continue(c); /* nothing read from the program's memory */
        sup_call_free(c);
        return;
    }
    int err = sup_read_addr(c, c->n.data.args[4], c->n.data.args[5]);
    if (err) {
        sup_answer(c, 0, err);
        sup_call_free(c);
        return;
    }
    err = sup_addr_norm(c, op);
    if (err) {
        sup_answer(c, 0, err);
        sup_call_free(c);
        return;
    }
    c->d = sup_decide_addr(c, op);
    if (c->d.action == SP_ACT_DENY ||
        (c->d.action == SP_ACT_FAIL && c->d.rule && sup_random_ppm() < c->d.rule->fail_rate_ppm)) {
        sup_log_decision(c, op);
        sup_answer(c, 0, c->d.err ? c->d.err : c->d.action == SP_ACT_DENY ? EACCES : EIO);
        sup_call_free(c);
        return;
    }
    if (c->d.action == SP_ACT_AUDIT)
        sup_log_decision(c, op);
    if (c->d.rule && c->d.rule->action == SP_ACT_SET && c->d.rule->opts.mask) {
        struct bio_opt_report rep;
        bio_opt_apply_kind(c->fd, &c->d.rule->opts,
                           c->d.rule->opts.mask & ~BIO_OPT_BIT(BIO_OPT_TFO_QLEN), c->family,
                           c->type, &rep);
    }
    size_t len = (size_t)c->n.data.args[2];
    if (len > SEND_MAX) {
        sup_answer(c, 0, EMSGSIZE);
        sup_call_free(c);
        return;
    }
    /* the job's data lives right after the call: one allocation, freed with it */
    struct sup_call *big = realloc(c, sizeof *c + sizeof(struct sendjob));
    if (!big) {
        sup_answer(c, 0, ENOMEM);
        sup_call_free(c);
        return;
    }
    c = big;
    struct sendjob *j = (struct sendjob *)(c + 1);
    j->len = len;
    j->flags = flags;
    j->op = op;
    j->data = malloc(len ? len : 1);
    if (!j->data || (len && sup_read_mem(c, c->n.data.args[1], j->data, len) != 0)) {
        sup_answer(c, 0, j->data ? EFAULT : ENOMEM);
        free(j->data);
        sup_call_free(c);
        return;
    }
    int delay = c->d.action == SP_ACT_DELAY && c->d.rule && c->d.rule->delay_ms;
    if (delay)
        sup_log_decision(c, op);
    if (delay || (!c->nonblock && !(flags & MSG_DONTWAIT))) {
        c->work = send_work; /* may block (or sleeps first): a worker */
        sup_defer(c);
        return;
    }
    send_now(c, j);
    free(j->data);
    sup_call_free(c);
}
