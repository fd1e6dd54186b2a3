/* policy/blob.c: the compiled policy as the loader, the compiler and the cache leave it: the
 * rule records' pointers rebuilt from their offsets after the blob was assembled, compiled
 * or mapped, and the read accessors. Below all three (they call sp__relocate). */
#include "policy_int.h"

void sp__relocate(struct sp_policy *p)
{
    struct sp_rec *r = (struct sp_rec *)(void *)((char *)p + p->recs_off);
    const char *d = sp__data(p);
    for (uint32_t i = 0; i < p->nrules; i++) {
        r[i].pub.file = d + r[i].c.file_off;
        r[i].pub.text = d + r[i].c.text_off;
    }
}

const struct sp_settings *sp_policy_settings(const struct sp_policy *p)
{
    return &p->settings;
}

size_t sp_policy_rule_count(const struct sp_policy *p)
{
    return p ? p->nrules : 0;
}

const struct sp_rule *sp_policy_rule(const struct sp_policy *p, size_t i)
{
    return p && i < p->nrules ? &sp__recs(p)[i].pub : NULL;
}
