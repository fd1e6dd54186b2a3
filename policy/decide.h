/* policy/decide.h: the decision for one call, as both front ends take it (the preload shim
 * and the seccomp supervisor): the matching rule, else the policy's default for the op. */
#ifndef SOCKPOLICY_POLICY_DECIDE_H
#define SOCKPOLICY_POLICY_DECIDE_H

#include "policy.h"

struct sp_decision {
    const struct sp_rule *rule; /* the matching rule, or NULL (the default decided) */
    enum sp_action action;      /* SP_ACT_PASS when nothing applies */
    int err;                    /* deny / fail: the errno the call gets */
};

/* Classifies a call on a socket of family/type (flags masked off) to or from sa (may be NULL,
 * as for socket). sa must already be validated: len bytes readable, its family the one it
 * says. No syscall, no allocation; errno untouched. */
struct sp_decision sp_decide(const struct sp_policy *p, enum sp_op op, int family, int type,
                             const struct sockaddr *sa, socklen_t len);

#endif
