/* supervise/sockopt.c: getsockopt(fd, SOL_SOCKET, SO_ERROR, ...) on a socket whose
 * non-blocking connect the supervisor made: reading SO_ERROR clears it, so the supervisor
 * reads it for the program (on the duplicate), writes the value and length back into the
 * program's memory, and logs how the connect ended. Any other socket: the kernel answers. */
#include <errno.h>
#include <string.h>

#include "sup.h"

void sup_getsockopt(struct sup_call *c)
{
    uint64_t key = 0;
    if (sup_take_fd(c, (int)c->n.data.args[0]) == 0)
        key = sup_sock_key(c->fd);
    if (!sup_pending_has(key)) {
        sup_continue(c); /* nothing was read from the program's memory */
        sup_call_free(c);
        return;
    }
    uint64_t valp = c->n.data.args[3], lenp = c->n.data.args[4];
    socklen_t len;
    if (sup_read_mem(c, lenp, &len, sizeof len) != 0) {
        sup_answer(c, 0, EFAULT);
        sup_call_free(c);
        return;
    }
    if ((int)len < 0) {
        sup_answer(c, 0, EINVAL);
        sup_call_free(c);
        return;
    }
    int v = 0;
    socklen_t l = sizeof v;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &v, &l) != 0) {
        sup_answer(c, 0, errno);
        sup_call_free(c);
        return;
    }
    if (len < l)
        l = len;
    if (sup_write_mem(c, valp, &v, l) != 0 || sup_write_mem(c, lenp, &l, sizeof l) != 0) {
        sup_answer(c, 0, EFAULT);
        sup_call_free(c);
        return;
    }
    sup_who(c);
    /* Ended before the answer: once the program has it, it may close the socket, and the
     * once-a-second look for closed ones would end it first (as closed, not as read). */
    if (l >= sizeof v)
        sup_pending_take(c->fd, key, v, SP_PHASE_SO_ERROR, c);
    sup_answer(c, 0, 0);
    sup_call_free(c);
}

/* The policy option a (level, name) pair sets on a socket of this family, or -1 (core's
 * table, read backwards). */
static int opt_of(int family, int level, int name)
{
    for (int o = 0; o < BIO_OPT_COUNT; o++) {
        int l, n;
        if (bio_opt_int_key((enum bio_opt)o, family, &l, &n) == 0 && l == level && n == name)
            return o;
    }
    return -1;
}

void sup_setsockopt(struct sup_call *c)
{
    uint32_t mask = 0;
    if (sup_take_fd(c, (int)c->n.data.args[0]) == 0)
        mask = sup_pin_mask(sup_sock_key(c->fd));
    int o = mask ? opt_of(c->family, (int)c->n.data.args[1], (int)c->n.data.args[2]) : -1;
    if (o < 0 || !(mask & BIO_OPT_BIT(o))) {
        sup_continue(c); /* not pinned: the kernel sets it (nothing of its memory was read) */
        sup_call_free(c);
        return;
    }
    /* pinned: the call succeeds and changes nothing, as with the shim */
    sup_answer(c, 0, 0);
    sup_log_msg(SP_LOG_DEBUG, "setsockopt of %s on fd %d ignored: pinned by the policy",
                bio_opt_name((enum bio_opt)o), (int)c->n.data.args[0]);
    sup_call_free(c);
}

int sup_policy_pins(const struct sp_policy *p)
{
    for (size_t i = 0, n = sp_policy_rule_count(p); i < n; i++)
        if (sp_policy_rule(p, i)->pin)
            return 1;
    return 0;
}
