/* policy/decide.c: the decision for one call (decide.h). */
#include <errno.h>

#include "decide.h"

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
