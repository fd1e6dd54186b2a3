/* policy/blob.c: the compiled policy as the loader, the compiler and the cache leave it: the
 * rule records' pointers rebuilt from their offsets after the blob was assembled, compiled
 * or mapped, the read accessors, and whether two blobs say the same. Below all three (they call sp__relocate). */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

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

/* A copy of p's blob as it would be had it been read from the same text anywhere, at any
 * time: the process-local part, the records' pointers and the sources' identities zeroed. */
static char *canonical(const struct sp_policy *p)
{
    char *m = mmap(NULL, p->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    memcpy(m, p, p->size);
    struct sp_policy *c = (struct sp_policy *)(void *)m;
    memset(m + SP_POLICY_LOCAL_OFF, 0, sizeof *c - SP_POLICY_LOCAL_OFF);
    struct sp_rec *r = (struct sp_rec *)(void *)(m + c->recs_off);
    for (uint32_t i = 0; i < c->nrules; i++)
        r[i].pub.file = r[i].pub.text = NULL;
    struct sp_src *s = (struct sp_src *)(void *)(m + c->data_off + c->src_off);
    for (uint32_t i = 0; i < c->nsrc; i++) {
        s[i].dev = s[i].ino = s[i].size = 0;
        s[i].mtim_sec = s[i].mtim_nsec = s[i].ctim_sec = s[i].ctim_nsec = 0;
        s[i].racy = 0;
    }
    return m;
}

int sp_policy_same(const struct sp_policy *a, const struct sp_policy *b)
{
    if (!a || !b || a->magic != SP_MAGIC || b->magic != SP_MAGIC || a->size != b->size ||
        memcmp(a, b, SP_POLICY_LOCAL_OFF) != 0)
        return 0;
    int saved = errno;
    char *ca = canonical(a), *cb = canonical(b);
    int same = ca && cb && memcmp(ca, cb, a->size) == 0;
    if (ca)
        munmap(ca, a->size);
    if (cb)
        munmap(cb, b->size);
    errno = saved;
    return same;
}
