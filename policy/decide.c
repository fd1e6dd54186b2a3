/* policy/decide.c: the decision for one call (decide.h). */
#include <errno.h>

#include "decide.h"
#include "policy_int.h"

struct sp_decision sp_decide(const struct sp_policy *p, enum sp_op op, int family, int type,
                             const struct sockaddr *sa, socklen_t len)
{
    struct sp_decision d = { NULL, SP_ACT_PASS, 0 };
    struct sp_query q = { op, family, type, sa, len };
    d.rule = sp_policy_match(p, &q);
    if (d.rule) {
        d.action = d.rule->action;
        d.err = d.rule->err;
    } else {
        const struct sp_settings *s = sp_policy_settings(p);
        if (s->default_action[op] == SP_ACT_DENY) {
            d.action = SP_ACT_DENY;
            d.err = s->default_errno[op] ? s->default_errno[op] : EACCES;
        }
    }
    return d;
}

unsigned sp_policy_process_tests(const struct sp_policy *p)
{
    unsigned t = 0;
    const struct sp_rec *r = sp__recs(p);
    for (uint32_t i = 0; i < p->nrules; i++) {
        if (r[i].c.has_prog)
            t |= SP_PROC_PROG;
        if (r[i].c.has_uid)
            t |= SP_PROC_UID;
    }
    return t;
}
