/* supervise/decide.c: a trapped call's decision and its gate, as the shim's shim_gate: the
 * decision on the address the rules see (c->norm), then what it does before the call is made:
 * deny and an injected failure answer the program here, audit logs and goes on, a delay is
 * logged and its length handed back (the caller sleeps it in a worker: never in a receiving
 * thread, where it would hold up every other trapped call of the tree). */
#include <errno.h>

#include "sup.h"

struct sp_decision sup_decide_addr(const struct sup_call *c, enum sp_op op)
{
    return sp_decide(c->p, op, c->family, c->type,
                     c->normlen ? (const struct sockaddr *)&c->norm : NULL, c->normlen);
}

int sup_gate_check(struct sup_call *c, enum sp_op op, uint32_t *delay_ms)
{
    int err = 0;
    switch (c->d.action) {
    case SP_ACT_DENY:
        err = c->d.err ? c->d.err : EACCES;
        break;
    case SP_ACT_FAIL:
        if (c->d.rule && sup_random_ppm() < c->d.rule->fail_rate_ppm)
            err = c->d.err ? c->d.err : EIO;
        else
            return 0;
        break;
    case SP_ACT_AUDIT:
        break;
    case SP_ACT_DELAY:
        if (!c->d.rule || !c->d.rule->delay_ms)
            return 0;
        *delay_ms += c->d.rule->delay_ms;
        break;
    default:
        return 0;
    }
    sup_log_decision(c, op);
    return err;
}

int sup_gate(struct sup_call *c, enum sp_op op, uint32_t *delay_ms)
{
    int err = sup_gate_check(c, op, delay_ms);
    if (err)
        sup_answer(c, 0, err);
    return err != 0;
}

void sup_pass(struct sup_call *c)
{
    sup_continue(c);
    sup_call_free(c);
}

void sup_fail(struct sup_call *c, int err)
{
    sup_answer(c, 0, err);
    sup_call_free(c);
}

/* A worker's part: the rule's delay, then the rest (nothing when the program's call went away). */
static void delayed(struct sup_call *c)
{
    sup_sleep_ms(c, c->d.rule->delay_ms);
    if (!sup_cancelled(c))
        c->then(c);
}

void sup_gate_then(struct sup_call *c, enum sp_op op, sup_work_fn rest)
{
    uint32_t delay = 0;
    if (sup_gate(c, op, &delay)) {
        sup_call_free(c);
        return;
    }
    if (delay) { /* slept in a worker */
        c->then = rest;
        c->work = delayed;
        sup_defer(c);
        return;
    }
    rest(c);
    sup_call_free(c);
}
