/* policy/shadow.c: warns about a rule that can never match because an earlier rule matches
 * every call it does. Earlier rules are indexed by each of their prefixes, so a new rule looks
 * only at rules holding a prefix that contains its own (one hash probe per prefix length) and
 * at the rules without an address; each probe walks at most WALK_MAX entries, which bounds the
 * cost on pathological files (then a covered rule may go unreported). */
#include <string.h>

#include "load_int.h"

#define HASH_BITS 16
#define WALK_MAX 256
#define INDEX_MAX_PFX 64

struct snode {
    uint32_t next, rule;
    struct sp_pfx key;
    uint8_t op, needs; /* needs: the rule's FEAT_* matches, which a covered rule must have */
    uint16_t ftmask;
};

enum { FEAT_PORT = 1, FEAT_PATH = 2, FEAT_PROG = 4, FEAT_UID = 8 };

static uint8_t features(const struct sp_cond *c)
{
    return (uint8_t)((c->has_port ? FEAT_PORT : 0) | (c->has_path ? FEAT_PATH : 0) |
                     (c->has_prog ? FEAT_PROG : 0) | (c->has_uid ? FEAT_UID : 0));
}

int sp__shadow_init(struct sp_ld *L)
{
    if (L->flags & SP_LOAD_NO_WARNINGS)
        return 0;
    if (sp__arena_init(&L->idx, (1u << HASH_BITS) * 4 + 4096))
        return -1;
    sp__arena_alloc(&L->idx, 64, 16); /* offset 0 ends a chain */
    L->heads_off = sp__arena_alloc(&L->idx, (1u << HASH_BITS) * sizeof(uint32_t), 64);
    return L->heads_off == SP_NONE ? -1 : 0;
}

static uint32_t hash(int op, const struct sp_pfx *p)
{
    uint64_t lo = (uint64_t)p->addr, hi = (uint64_t)(p->addr >> 64);
    uint64_t h = (lo * 0x9e3779b97f4a7c15ULL) ^ (hi * 0xc2b2ae3d27d4eb4fULL) ^
                 ((uint64_t)p->len << 8 | (uint64_t)p->fam << 1 | (uint64_t)op << 16);
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    return (uint32_t)(h >> (64 - HASH_BITS));
}

static const struct sp_rec *rec(struct sp_ld *L, uint32_t i)
{
    return SP_AT(&L->recs, i * sizeof(struct sp_rec), const struct sp_rec);
}

static int same_str(struct sp_ld *L, uint32_t ao, uint32_t an, uint32_t bo, uint32_t bn)
{
    return an == bn && memcmp(L->data.base + ao, L->data.base + bo, an) == 0;
}

static int covers(struct sp_ld *L, const struct sp_cond *a, const struct sp_cond *b)
{
    const char *d = L->data.base;
    if ((a->ftmask & b->ftmask) != b->ftmask)
        return 0;
    if (a->has_addr && (!b->has_addr ||
                        !sp__pfx_subset((const struct sp_pfx *)(const void *)(d + b->pfx_off), b->npfx,
                                        (const struct sp_pfx *)(const void *)(d + a->pfx_off), a->npfx)))
        return 0;
    if (a->has_port && (!b->has_port ||
                        !sp__range_subset((const struct sp_range *)(const void *)(d + b->port_off), b->nport,
                                          (const struct sp_range *)(const void *)(d + a->port_off), a->nport)))
        return 0;
    if (a->has_path && (!b->has_path || a->path_neg != b->path_neg ||
                        !same_str(L, a->path_off, a->path_len, b->path_off, b->path_len)))
        return 0;
    if (a->has_prog && (!b->has_prog || a->prog_neg != b->prog_neg ||
                        !same_str(L, a->prog_off, a->prog_len, b->prog_off, b->prog_len)))
        return 0;
    if (a->has_uid) {
        const struct sp_range *ar = (const void *)(d + a->uid_off), *br = (const void *)(d + b->uid_off);
        if (!b->has_uid || a->uid_neg != b->uid_neg)
            return 0;
        if (a->uid_neg ? !sp__range_subset(ar, a->nuid, br, b->nuid)
                       : !sp__range_subset(br, b->nuid, ar, a->nuid))
            return 0;
    }
    return 1;
}

/* The earliest earlier rule covering record i, or SP_NONE. */
static uint32_t find_cover(struct sp_ld *L, uint32_t i)
{
    const struct sp_rec *b = rec(L, i);
    uint32_t best = SP_NONE;
    int op = b->pub.op;
    if (!b->c.ftmask)
        return SP_NONE;
    uint8_t have = features(&b->c);
    for (unsigned needs = 0; needs < 16; needs++) {
        if (needs & ~have)
            continue; /* those rules ask for a match this one lacks */
        uint32_t n = L->broad_off[op][needs];
        for (int k = 0; n && k < WALK_MAX; k++) {
            const struct snode *sn = SP_AT(&L->idx, n, const struct snode);
            if ((sn->ftmask & b->c.ftmask) == b->c.ftmask && sn->rule < best &&
                covers(L, &rec(L, sn->rule)->c, &b->c))
                best = sn->rule;
            n = sn->next;
        }
    }
    uint32_t n;
    if (!b->c.has_addr || !b->c.npfx)
        return best;
    struct sp_pfx p = *(const struct sp_pfx *)(const void *)(L->data.base + b->c.pfx_off);
    const uint64_t *lens = L->idx_lens[p.fam == 4 ? 0 : 1];
    for (int len = 0; len <= p.len; len++) {
        if (!(lens[len >> 6] >> (len & 63) & 1))
            continue; /* no rule holds a prefix of this length */
        struct sp_pfx q = {p.addr & sp__pfx_mask(p.fam, len), p.fam, (uint8_t)len};
        n = SP_AT(&L->idx, L->heads_off, uint32_t)[hash(op, &q)];
        for (int k = 0; n && k < WALK_MAX; k++) {
            const struct snode *sn = SP_AT(&L->idx, n, const struct snode);
            if (sn->op == op && sn->key.fam == q.fam && sn->key.len == q.len &&
                sn->key.addr == q.addr && !(sn->needs & ~have) && sn->rule < best &&
                covers(L, &rec(L, sn->rule)->c, &b->c))
                best = sn->rule;
            n = sn->next;
        }
    }
    return best;
}

static void index_rule(struct sp_ld *L, uint32_t i)
{
    const struct sp_rec *r = rec(L, i);
    int op = r->pub.op;
    if (!r->c.has_addr || r->c.npfx > INDEX_MAX_PFX || !r->c.npfx) {
        uint32_t o = sp__arena_alloc(&L->idx, sizeof(struct snode), 16);
        if (o == SP_NONE)
            return;
        struct snode *sn = SP_AT(&L->idx, o, struct snode);
        sn->rule = i;
        sn->op = (uint8_t)op;
        sn->needs = features(&r->c);
        sn->ftmask = r->c.ftmask;
        sn->next = L->broad_off[op][sn->needs];
        L->broad_off[op][sn->needs] = o;
        return;
    }
    for (uint32_t k = 0; k < r->c.npfx; k++) {
        uint32_t o = sp__arena_alloc(&L->idx, sizeof(struct snode), 16);
        if (o == SP_NONE)
            return;
        r = rec(L, i);
        struct snode *sn = SP_AT(&L->idx, o, struct snode);
        sn->key = ((const struct sp_pfx *)(const void *)(L->data.base + r->c.pfx_off))[k];
        sn->rule = i;
        sn->op = (uint8_t)op;
        sn->needs = features(&r->c);
        sn->ftmask = r->c.ftmask;
        L->idx_lens[sn->key.fam == 4 ? 0 : 1][sn->key.len >> 6] |= 1ULL << (sn->key.len & 63);
        uint32_t *head = &SP_AT(&L->idx, L->heads_off, uint32_t)[hash(op, &sn->key)];
        sn->next = *head;
        *head = o;
    }
}

void sp__shadow_add(struct sp_ld *L, uint32_t first, uint32_t n)
{
    if (L->flags & SP_LOAD_NO_WARNINGS)
        return;
    uint32_t cover = SP_NONE;
    int all = n > 0;
    for (uint32_t i = first; i < first + n && all; i++) {
        uint32_t c = find_cover(L, i);
        if (c == SP_NONE)
            all = 0;
        else if (cover == SP_NONE)
            cover = c;
    }
    if (all) {
        const struct sp_rec *a = rec(L, cover);
        struct sp_sbuf b = {L->msg, 0, sizeof L->msg};
        sp__puts(&b, "this rule never matches: the rule at ");
        sp__puts(&b, L->data.base + a->c.file_off);
        sp__puts(&b, ":");
        sp__putu(&b, a->pub.line);
        sp__puts(&b, " matches every call it would");
        sp__report_msg(L, 1, L->w[0].col);
    }
    for (uint32_t i = first; i < first + n; i++)
        index_rule(L, i);
}
