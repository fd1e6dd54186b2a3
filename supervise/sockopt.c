/* supervise/sockopt.c: getsockopt(fd, SOL_SOCKET, SO_ERROR, ...) on a socket whose
 * non-blocking connect the supervisor made: reading SO_ERROR clears it, so the supervisor
 * reads it for the program (on the duplicate), writes the value and length back into the
 * program's memory, and logs how the connect ended. Any other socket: the kernel answers.
 * setsockopt of an option a `pin` rule can hold: ignored on a pinned socket, else made here on
 * the socket looked at (a CONTINUE would let another thread put a pinned socket on the number
 * before the kernel looked again). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "sup.h"

void sup_getsockopt(struct sup_call *c)
{
    uint64_t key = 0;
    if (sup_take_fd(c, (int)c->n.data.args[0]) == 0)
        key = sup_sock_key(c->fd);
    if (!sup_pending_has(key)) {
        /* CONTINUE: nothing is enforced here. Were another socket, with a connect pending,
         * swapped onto the number meanwhile, the kernel would hand its outcome to the program
         * and the log would end that connect later (as closed) instead of as read. */
        sup_continue(c);
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

/* Whether thread tid has CAP_NET_ADMIN or CAP_NET_RAW (what SO_MARK asks of the caller). */
static int may_mark(pid_t tid)
{
    unsigned long long caps = sup_status_field(tid, "CapEff", 16, 0);
    return (caps >> 12 & 1) || (caps >> 13 & 1);
}

/* The program's setsockopt made here on the duplicate, with a copy of its value. */
static void set_here(struct sup_call *c)
{
    int level = (int)c->n.data.args[1], name = (int)c->n.data.args[2];
    int len = (int)c->n.data.args[4];
    char val[256];
    if (len < 0) {
        sup_answer(c, 0, EINVAL);
        return;
    }
    if ((size_t)len > sizeof val)
        len = sizeof val; /* the options a pin holds read an int at most */
    if (len && sup_read_mem(c, c->n.data.args[3], val, (size_t)len) != 0) {
        sup_answer(c, 0, EFAULT);
        return;
    }
    /* the supervisor's own privileges must not stand in for the program's */
    if (level == SOL_SOCKET && name == SO_MARK && !may_mark((pid_t)c->n.pid)) {
        sup_answer(c, 0, EPERM);
        return;
    }
    int r = setsockopt(c->fd, level, name, c->n.data.args[3] ? val : NULL, (socklen_t)len);
    sup_answer(c, 0, r == 0 ? 0 : errno);
}

void sup_setsockopt(struct sup_call *c)
{
    int level = (int)c->n.data.args[1], name = (int)c->n.data.args[2];
    if (opt_of(AF_INET, level, name) < 0) {
        /* CONTINUE is safe: no pin can hold this option on any socket (the pairs a pin holds
         * are the same for every family) */
        sup_continue(c);
        sup_call_free(c);
        return;
    }
    if (sup_take_fd(c, (int)c->n.data.args[0]) != 0) {
        sup_fail_take(c);
        return;
    }
    uint32_t mask = sup_pin_mask(sup_sock_key(c->fd));
    int o = opt_of(c->family, level, name);
    if (o < 0 || !(mask & BIO_OPT_BIT(o))) {
        set_here(c); /* not pinned */
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
