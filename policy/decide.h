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

/* What the rules of p look at in the process itself (not the call): SP_PROC_PROG (a prog
 * match), SP_PROC_UID (a uid match); 0 when none, so that one specialisation (sp_policy_
 * specialise) serves every process. For a front end that serves many processes (the seccomp
 * supervisor). No syscall; errno untouched. */
#define SP_PROC_PROG 1u
#define SP_PROC_UID 2u
unsigned sp_policy_process_tests(const struct sp_policy *p);

#endif
