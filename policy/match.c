/* policy/match.c: the per-process matcher. sp_policy_specialise() keeps the rules whose prog
 * and uid match this process and builds, per op:
 *  - address classes: the distinct prefixes of the rules, looked up in a stride-8 multibit
 *    trie (4 steps for IPv4) that yields the longest prefix holding the address;
 *  - port classes: a two-level uint16 table over the 65536 ports, by the port's high byte then
 *    its low byte (ports covered by the same rules share a class, equal blocks are shared);
 *  - family x type classes (12 combinations, merged the same way);
 *  - a table [address class][family-type class][port class] -> first matching rule, filled
 *    down the prefix tree (a prefix inherits its parent's row, then its own rules paint it).
 * A match is a few loads whatever the number of rules. AF_UNIX path rules stay out of the
 * table and are tried in order before the table's answer. When the table would be too big,
 * the op falls back to a linear scan. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/un.h>

#include "match_int.h"

static inline const void *mat(const struct sp_matcher *m, uint32_t off)
{
    return (const char *)m + off;
}

/* ---- decoding a query ---- */

void sp__qkey(const struct sp_query *q, struct sp_qkey *k)
{
    int fi = q->family == AF_INET ? SP_FI_INET : q->family == AF_INET6 ? SP_FI_INET6
             : q->family == AF_UNIX ? SP_FI_UNIX : SP_FI_OTHER;
    int ti = q->type == SOCK_STREAM ? SP_TI_STREAM : q->type == SOCK_DGRAM ? SP_TI_DGRAM : SP_TI_OTHER;
    memset(k, 0, sizeof *k);
    k->ft = fi * SP_TI_COUNT + ti;
    const struct sockaddr *sa = q->addr;
    if (!sa || q->addrlen < sizeof(sa_family_t))
        return;
    if (sa->sa_family == AF_INET && q->addrlen >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const void *)sa;
        k->has_ip = k->has_port = 1;
        k->ip = (struct sp_pfx){ntohl(in->sin_addr.s_addr), 4, 32};
        k->port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6 && q->addrlen >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const void *)sa;
        sp_u128 a = 0;
        for (int i = 0; i < 16; i++)
            a = a << 8 | in6->sin6_addr.s6_addr[i];
        k->has_ip = k->has_port = 1;
        k->port = ntohs(in6->sin6_port);
        if ((a >> 32) == 0xffff)
            k->ip = (struct sp_pfx){a & 0xffffffffu, 4, 32};
        else
            k->ip = (struct sp_pfx){a, 6, 128};
    } else if (sa->sa_family == AF_UNIX) {
        const struct sockaddr_un *un = (const void *)sa;
        size_t n = q->addrlen - offsetof(struct sockaddr_un, sun_path);
        if (q->addrlen > sizeof *un)
            n = sizeof un->sun_path;
        k->has_path = 1;
        k->path = un->sun_path;
        if (n && un->sun_path[0] != 0) {
            size_t l = 0;
            while (l < n && un->sun_path[l])
                l++;
            n = l;
        }
        k->path_len = n; /* abstract names start with NUL; globs see it as '@' */
    }
}

static int path_match(const char *pat, size_t plen, const char *s, size_t n)
{
    char abs[sizeof(((struct sockaddr_un *)0)->sun_path)];
    if (n && s[0] == 0) {
        memcpy(abs, s, n);
        abs[0] = '@';
        s = abs;
    }
    return sp__glob(pat, plen, s, n);
}

int sp__cond_match(const struct sp_policy *p, const struct sp_cond *c, const struct sp_qkey *k)
{
    const char *d = sp__data(p);
    if (!(c->ftmask >> k->ft & 1))
        return 0;
    if (c->has_addr && (!k->has_ip || !sp__pfx_subset(&k->ip, 1, (const void *)(d + c->pfx_off), c->npfx)))
        return 0;
    if (c->has_port && (!k->has_port || !sp__range_has((const void *)(d + c->port_off), c->nport, k->port)))
        return 0;
    if (c->has_path && (!k->has_path ||
                        path_match(d + c->path_off, c->path_len, k->path, k->path_len) == c->path_neg))
        return 0;
    return 1;
}

/* ---- matching ---- */

static inline uint32_t trie4(const struct sp_matcher *m, uint32_t root, uint32_t a)
{
    uint32_t e = ((const uint32_t *)mat(m, root))[a >> 24];
    if (!(e & CHILD))
        return e;
    e = ((const uint32_t *)mat(m, e & ~CHILD))[(a >> 16) & 255];
    if (!(e & CHILD))
        return e;
    e = ((const uint32_t *)mat(m, e & ~CHILD))[(a >> 8) & 255];
    if (!(e & CHILD))
        return e;
    return ((const uint32_t *)mat(m, e & ~CHILD))[a & 255];
}

static uint32_t trie6(const struct sp_matcher *m, uint32_t root, const uint8_t *a)
{
    const uint32_t *n = mat(m, root);
    uint32_t e = n[a[0]];
    for (int i = 1; (e & CHILD) && i < 16; i++)
        e = ((const uint32_t *)mat(m, e & ~CHILD))[a[i]];
    return e;
}

/* The port class of a port in network byte order: its first byte (the high one) picks a block
 * of the two-level table, its second the entry. */
static inline uint32_t port_class(const uint16_t *ptab, const uint16_t *nport)
{
    const uint8_t *b = (const uint8_t *)nport;
    return ptab[((const uint32_t *)(const void *)ptab)[b[0]] + b[1]];
}

/* A rule index to what the table holds: its byte offset in the blob, 0 for none. */
static inline uint32_t rule_off(const struct sp_policy *p, uint32_t idx)
{
    return idx == SP_NONE ? 0 : p->recs_off + idx * (uint32_t)sizeof(struct sp_rec);
}

__attribute__((noinline)) static uint32_t match_linear(const struct sp_policy *p,
                                                     const struct sp_opm *om,
                                                     const struct sp_query *q)
{
    struct sp_qkey k;
    const uint32_t *ridx = mat(p->m, om->ridx_off);
    sp__qkey(q, &k);
    for (uint32_t i = 0; i < om->nrules; i++)
        if (sp__cond_match(p, &sp__recs(p)[ridx[i]].c, &k))
            return rule_off(p, ridx[i]);
    return 0;
}

/* The rules the table leaves out, for an answer off from it: AF_UNIX path rules, and this
 * process's prog/uid rules; each list is short, in file order, and only rules before the
 * answer can change it. */
__attribute__((noinline, cold)) static uint32_t match_slow(const struct sp_policy *p,
                                                         const struct sp_opm *om,
                                                         const struct sp_query *q, uint32_t off)
{
    struct sp_qkey k;
    if (!(p->slowf[q->op] >> ((unsigned)q->family < SP_FAM_SLOTS ? (unsigned)q->family
                                                                  : SP_FAM_SLOTS - 1) & 1))
        return off;
    const uint32_t *paths = mat(p->m, om->path_off);
    uint32_t idx = off ? (off - p->recs_off) / (uint32_t)sizeof(struct sp_rec) : SP_NONE;
    sp__qkey(q, &k);
    if (k.ft / SP_TI_COUNT == SP_FI_UNIX)
        for (uint32_t i = 0; i < om->npath && paths[i] < idx; i++)
            if (sp__cond_match(p, &sp__recs(p)[paths[i]].c, &k)) {
                idx = paths[i];
                break;
            }
    const uint32_t *act = p->act[q->op];
    for (uint32_t i = 0; i < p->nact[q->op] && act[i] < idx; i++)
        if (sp__cond_match(p, &sp__recs(p)[act[i]].c, &k))
            return rule_off(p, act[i]);
    return rule_off(p, idx);
}

static inline const struct sp_rule *at_off(const struct sp_policy *p, uint32_t off)
{
    return off ? (const struct sp_rule *)(const void *)((const char *)p + off) : NULL;
}

/* The match's uncommon ends, called last so that the common path saves no registers. */
__attribute__((noinline, cold)) static const struct sp_rule *
match_slow_rule(const struct sp_policy *p, const struct sp_query *q, uint32_t off)
{
    return at_off(p, match_slow(p, &p->m->op[q->op], q, off));
}

__attribute__((noinline)) static const struct sp_rule *match_other(const struct sp_policy *p,
                                                                 const struct sp_query *q)
{
    const struct sp_opm *om = &p->m->op[q->op];
    uint32_t off = om->nrules ? match_linear(p, om, q) : 0;
    return at_off(p, match_slow(p, om, q, off));
}

const struct sp_rule *sp_policy_match(const struct sp_policy *p, const struct sp_query *q)
{
    const struct sp_matcher *m = p ? p->m : NULL;
    if (!m || (unsigned)q->op >= SP_OP_COUNT)
        return NULL;
    const struct sp_opm *om = &m->op[q->op];
    unsigned fam = (unsigned)q->family < SP_FAM_SLOTS ? (unsigned)q->family : SP_FAM_SLOTS - 1;
    if (__builtin_expect(om->mode != MODE_TABLE, 0))
        return match_other(p, q);
    {
        unsigned ty = (unsigned)q->type < SP_TYPE_SLOTS ? (unsigned)q->type : SP_TYPE_SLOTS - 1;
        uint32_t cell = om->ftcol2[fam * SP_TYPE_SLOTS + ty] + om->pc_none; /* no address */
        const struct sockaddr *sa = q->addr;
        if (sa && q->addrlen >= sizeof(struct sockaddr_in)) {
            const uint16_t *ptab = mat(m, om->ptab_off);
            if (sa->sa_family == AF_INET) {
                const struct sockaddr_in *in = (const void *)sa;
                cell += trie4(m, om->trie_off[0], ntohl(in->sin_addr.s_addr)) - om->pc_none +
                        port_class(ptab, &in->sin_port);
            } else if (sa->sa_family == AF_INET6 && q->addrlen >= sizeof(struct sockaddr_in6)) {
                const struct sockaddr_in6 *in6 = (const void *)sa;
                const uint8_t *a = in6->sin6_addr.s6_addr;
                uint32_t row;
                if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
                    row = trie4(m, om->trie_off[0], (uint32_t)a[12] << 24 | (uint32_t)a[13] << 16 |
                                                        (uint32_t)a[14] << 8 | a[15]);
                else
                    row = trie6(m, om->trie_off[1], a);
                cell += row - om->pc_none + port_class(ptab, &in6->sin6_port);
            }
        }
        uint32_t off = ((const uint32_t *)mat(m, om->table_off))[cell];
        if (__builtin_expect(p->slowf[q->op] >> fam & 1, 0))
            return match_slow_rule(p, q, off);
        return at_off(p, off);
    }
}

int sp_policy_has_op(const struct sp_policy *p, enum sp_op op)
{
    if (!p || (unsigned)op >= SP_OP_COUNT)
        return 0;
    if (p->settings.default_action[op] == SP_ACT_DENY)
        return 1;
    return p->m ? p->has[op] : p->op_rules[op] != 0;
}
