/* policy/shimapi.c: what the shim may leave out of a call's key. A hook remembers its last
 * decision per thread, keyed by the socket's kind and the address; a key part no rule of the
 * op looks at only makes the memo miss (an accept's peer port changes on every call). */
#include "policy_int.h"

uint32_t sp_policy_tests(const struct sp_policy *p, enum sp_op op)
{
    if (!p || (unsigned)op >= SP_OP_COUNT)
        return SP_TESTS_ALL;
    uint32_t t = 0;
    const struct sp_rec *r = sp__recs(p);
    for (uint32_t i = 0; i < p->nrules && t != SP_TESTS_ALL; i++) {
        if (r[i].pub.op != op)
            continue;
        const struct sp_cond *c = &r[i].c;
        for (unsigned fi = 0; fi < SP_FI_COUNT; fi++) {
            unsigned f = c->ftmask >> (fi * SP_TI_COUNT) & ((1u << SP_TI_COUNT) - 1);
            if (f && f != (1u << SP_TI_COUNT) - 1)
                t |= SP_TESTS_TYPE; /* some of this family's types, not all */
        }
        /* inet and inet6 told apart: an IPv4 address names either (a dual-stack datagram
         * socket takes one), so the shim must know which socket it has */
        if ((c->ftmask >> (SP_FI_INET * SP_TI_COUNT) ^ c->ftmask >> (SP_FI_INET6 * SP_TI_COUNT)) &
            ((1u << SP_TI_COUNT) - 1))
            t |= SP_TESTS_TYPE;
        if (c->has_port)
            t |= SP_TESTS_PORT;
        if (c->has_addr)
            t |= SP_TESTS_ADDR;
        if (c->has_path)
            t |= SP_TESTS_PATH;
    }
    return t;
}
