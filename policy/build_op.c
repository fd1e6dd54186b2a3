/* policy/build_op.c: one op's part of the matcher (match_int.h), built in eight phases over a
 * context (struct opb): collect the rules, family x type classes, port classes (build_port.c),
 * address classes, the table's geometry, the (class, rule) pairs, the tries, the cells. Each
 * phase reads what the earlier ones left in the context and in the scratch arena B->T. */
#include <string.h>
#include <sys/socket.h>

#include "build_int.h"

static inline int pfx_cmp(const struct sp_pfx *x, const struct sp_pfx *y)
{
    if (x->fam != y->fam)
        return x->fam < y->fam ? -1 : 1;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    return (x->len > y->len) - (x->len < y->len);
}

/* Stable merge sort of the indices a[0..n) by pfx[a[i]], with scratch b; returns the sorted
 * array (a or b). Typed: no callback, and 4-byte moves. */
static uint32_t *sort_pfx_idx(const struct sp_pfx *pfx, uint32_t *a, uint32_t *b, uint32_t n)
{
    for (uint32_t w = 1; w < n; w *= 2) {
        for (uint32_t lo = 0; lo < n; lo += 2 * w) {
            uint32_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            uint32_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                b[k++] = pfx_cmp(&pfx[a[j]], &pfx[a[i]]) < 0 ? a[j++] : a[i++];
            while (i < mid)
                b[k++] = a[i++];
            while (j < hi)
                b[k++] = a[j++];
        }
        uint32_t *t = a;
        a = b;
        b = t;
    }
    return a;
}

/* The same order, faster: IPv4 prefixes (the common case) first, by a radix sort of 64-bit
 * words (address, length, index: 8-bit digits, skipping those all words share), then the IPv6
 * ones by the merge sort. k and k2 hold n words each. Needs n < 2^24; returns a or b. */
static uint32_t *sort_pfx_fast(const struct sp_pfx *pfx, uint32_t *a, uint32_t *b, uint32_t n,
                               uint64_t *k, uint64_t *k2)
{
    uint32_t n4 = 0, n6 = 0;
    uint64_t all_or = 0, all_and = ~0ull;
    for (uint32_t i = 0; i < n; i++) {
        if (pfx[i].fam != 4)
            continue;
        uint64_t w = ((uint64_t)pfx[i].addr << 8 | pfx[i].len) << 24 | i;
        k[n4++] = w;
        all_or |= w;
        all_and &= w;
    }
    for (int shift = 24; shift < 64 && n4; shift += 8) {
        if (!(((all_or ^ all_and) >> shift) & 255))
            continue; /* every word has this digit */
        uint32_t c[256], sum = 0;
        memset(c, 0, sizeof c);
        for (uint32_t i = 0; i < n4; i++)
            c[k[i] >> shift & 255]++;
        for (int v = 0; v < 256; v++) {
            uint32_t x = c[v];
            c[v] = sum;
            sum += x;
        }
        for (uint32_t i = 0; i < n4; i++)
            k2[c[k[i] >> shift & 255]++] = k[i];
        uint64_t *t = k;
        k = k2;
        k2 = t;
    }
    for (uint32_t i = 0; i < n4; i++)
        a[i] = (uint32_t)(k[i] & 0xffffff);
    for (uint32_t i = 0; i < n; i++)
        if (pfx[i].fam != 4)
            b[n6++] = i;
    uint32_t *s6 = sort_pfx_idx(pfx, b, a + n4, n6); /* a + n4 has room for n6 */
    if (s6 != a + n4)
        memcpy(a + n4, s6, n6 * sizeof(uint32_t));
    return a;
}

/* Paints class cls over prefix u into the trie rooted at root (an offset in M). */
static int trie_paint(struct bld *B, uint32_t root, const struct sp_pfx *u, uint32_t cls)
{
    int w = u->fam == 4 ? 32 : 128;
    uint32_t node = root;
    if (u->len == 0) {
        for (int i = 0; i < 256; i++)
            SP_AT(&B->M, node, uint32_t)[i] = cls;
        return 0;
    }
    int k = (u->len - 1) / 8;
    for (int j = 0; j < k; j++) {
        unsigned b = (unsigned)(u->addr >> (w - 8 * (j + 1))) & 255;
        uint32_t e = SP_AT(&B->M, node, uint32_t)[b];
        if (!(e & CHILD)) {
            uint32_t child = sp__arena_alloc(&B->M, 256 * sizeof(uint32_t), 64);
            if (child == SP_NONE)
                return -1;
            for (int i = 0; i < 256; i++)
                SP_AT(&B->M, child, uint32_t)[i] = e;
            SP_AT(&B->M, node, uint32_t)[b] = child | CHILD;
            e = child | CHILD;
        }
        node = e & ~CHILD;
    }
    unsigned b0 = (unsigned)(u->addr >> (w - 8 * (k + 1))) & 255;
    unsigned span = 1u << (8 * (k + 1) - u->len);
    for (unsigned i = 0; i < span; i++)
        SP_AT(&B->M, node, uint32_t)[(b0 & ~(span - 1)) + i] = cls;
    return 0;
}

static int keep(const struct sp_policy *p, const struct sp_cond *c, const struct filt *f)
{
    if (f->compiled)
        return !c->has_prog && !c->has_uid;
    return process_ok(p, c, f->prog, f->plen, f->uid);
}

/* Compiled matcher: the op's prog/uid rules and their predicates. */
static int cond_list(struct bld *B, int op, const struct filt *F, struct sp_opm *om)
{
    const struct sp_policy *p = B->p;
    const struct sp_rec *recs = sp__recs(p);
    uint32_t n = 0;
    for (uint32_t i = 0; i < p->nrules; i++)
        if (recs[i].pub.op == (enum sp_op)op && (recs[i].c.has_prog || recs[i].c.has_uid))
            n++;
    om->ncond = n;
    if (!n)
        return 0;
    om->cond_off = sp__arena_alloc(&B->M, n * sizeof(uint32_t), 4);
    om->cond_pred_off = sp__arena_alloc(&B->M, n * sizeof(uint32_t), 4);
    if (B->M.failed)
        return -1;
    uint32_t k = 0;
    for (uint32_t i = 0; i < p->nrules; i++)
        if (recs[i].pub.op == (enum sp_op)op && (recs[i].c.has_prog || recs[i].c.has_uid)) {
            SP_AT(&B->M, om->cond_off, uint32_t)[k] = i;
            SP_AT(&B->M, om->cond_pred_off, uint32_t)[k++] = SP_AT(&B->T, F->predid_off, uint32_t)[i];
        }
    return 0;
}

/* Phase 1, collect: the op's rules that F keeps, as global indices into om (the unix path
 * rules listed apart) and as table rules (o->tr_off). Returns the number of rules, or -1. */
static int64_t collect(struct opb *o)
{
    struct bld *B = o->B;
    const struct sp_policy *p = B->p;
    const struct sp_rec *recs = sp__recs(p);
    struct sp_opm *om = o->om;
    uint32_t n = 0, np = 0;
    o->nt = 0;
    for (uint32_t i = 0; i < p->nrules; i++)
        if (recs[i].pub.op == o->op && keep(p, &recs[i].c, o->F)) {
            n++;
            recs[i].c.has_path ? np++ : o->nt++;
        }
    om->nrules = n;
    if (!n)
        return 0;
    om->ridx_off = sp__arena_alloc(&B->M, n * sizeof(uint32_t), 4);
    om->path_off = sp__arena_alloc(&B->M, (np ? np : 1) * sizeof(uint32_t), 4);
    o->tr_off = TALLOC(o->nt ? o->nt : 1, struct trule, 8);
    if (B->M.failed || B->T.failed)
        return -1;
    om->npath = np;
    uint32_t k = 0, kt = 0, kp = 0;
    for (uint32_t i = 0; i < p->nrules; i++) {
        if (recs[i].pub.op != o->op || !keep(p, &recs[i].c, o->F))
            continue;
        MP(om->ridx_off, uint32_t)[k] = i;
        if (recs[i].c.has_path) {
            MP(om->path_off, uint32_t)[kp++] = i;
        } else {
            const struct sp_cond *rc = &recs[i].c;
            struct trule *tr = trule_at(o, kt++);
            tr->c = (struct tcond){rc->ftmask, rc->has_addr, rc->has_port, rc->pfx_off,
                                   rc->npfx, rc->port_off, rc->nport};
            tr->pos = k;
        }
        k++;
    }
    return n;
}

/* Phase 2, family x type classes: slots whose rules are the same (equal signatures) share a
 * class; each table rule gets the mask of the classes it matches. */
static void ft_classes(struct opb *o)
{
    struct sp_opm *om = o->om;
    uint64_t fsig[SP_FT_COUNT] = {0};
    for (uint32_t t = 0; t < o->nt; t++) {
        uint64_t h = mix(t);
        for (unsigned m = trule_at(o, t)->c.ftmask; m; m &= m - 1)
            fsig[__builtin_ctz(m)] += h;
    }
    om->nftc = 0;
    for (int c = 0; c < SP_FT_COUNT; c++) {
        int same = -1;
        for (int e = 0; e < c && same < 0; e++)
            if (fsig[e] == fsig[c])
                same = om->ftc[e];
        om->ftc[c] = (uint8_t)(same >= 0 ? same : (int)om->nftc++);
    }
    for (uint32_t t = 0; t < o->nt; t++) {
        uint16_t m = 0;
        for (unsigned fm = trule_at(o, t)->c.ftmask; fm; fm &= fm - 1)
            m |= (uint16_t)(1u << om->ftc[__builtin_ctz(fm)]);
        trule_at(o, t)->ftcm = m;
    }
}

/* Phase 4, address classes: every table rule's prefixes collected, sorted (indices, not the
 * 32-byte prefixes) and numbered; clsof[k] is the class of the k-th prefix collected, in the
 * order the pairs phase walks them again. */
static int addr_classes(struct opb *o)
{
    struct bld *B = o->B;
    uint32_t total = 0;
    for (uint32_t t = 0; t < o->nt; t++)
        if (trule_at(o, t)->c.has_addr)
            total += trule_at(o, t)->c.npfx;
    uint32_t n1 = total ? total : 1;
    uint32_t all = TALLOC(n1, struct sp_pfx, 16);
    if (all == SP_NONE)
        return -1;
    uint32_t k = 0;
    for (uint32_t t = 0; t < o->nt; t++) {
        const struct tcond *c = &trule_at(o, t)->c;
        if (c->has_addr)
            for (uint32_t j = 0; j < c->npfx; j++)
                TP(all, struct sp_pfx)[k++] = ((const struct sp_pfx *)(const void *)(o->d + c->pfx_off))[j];
    }
    uint32_t ix = TALLOC(n1, uint32_t, 4), ix2 = TALLOC(n1, uint32_t, 4);
    o->clsof_off = TALLOC(n1, uint32_t, 4);
    o->u_off = TALLOC(n1, struct sp_pfx, 16);
    int fast = total < (1u << 24);
    uint32_t kw = fast ? TALLOC(2 * (size_t)total + 1, uint64_t, 8) : 0;
    if (B->T.failed)
        return -1;
    uint32_t *six;
    if (fast) {
        six = sort_pfx_fast(TP(all, struct sp_pfx), TP(ix, uint32_t), TP(ix2, uint32_t), total,
                            TP(kw, uint64_t), TP(kw, uint64_t) + total);
    } else {
        for (uint32_t i = 0; i < total; i++)
            TP(ix, uint32_t)[i] = i;
        six = sort_pfx_idx(TP(all, struct sp_pfx), TP(ix, uint32_t), TP(ix2, uint32_t), total);
    }
    const struct sp_pfx *src = TP(all, struct sp_pfx);
    struct sp_pfx *u = TP(o->u_off, struct sp_pfx);
    uint32_t nu = 0;
    for (uint32_t i = 0; i < total; i++) {
        const struct sp_pfx *x = &src[six[i]];
        if (!nu || pfx_cmp(&u[nu - 1], x) != 0)
            u[nu++] = *x;
        TP(o->clsof_off, uint32_t)[six[i]] = 3 + nu - 1;
    }
    o->total = total;
    o->nu = nu;
    o->nclass = 3 + (uint64_t)nu;
    return 0;
}

/* Phase 5, geometry: the table's size; past sp__table_limit cells the op is matched linearly
 * (returns 1). Else the columns of each family-type slot, by class and by the call's values. */
static int geometry(struct opb *o)
{
    struct sp_opm *om = o->om;
    o->cells = o->nclass * om->nftc * om->npc;
    if (o->cells > sp__table_limit) {
        om->mode = MODE_LINEAR;
        return 1;
    }
    om->mode = MODE_TABLE;
    om->ncols = om->nftc * om->npc;
    for (int c = 0; c < SP_FT_COUNT; c++)
        om->ftcol[c] = om->ftc[c] * om->npc;
    for (unsigned fam = 0; fam < SP_FAM_SLOTS; fam++)
        for (unsigned ty = 0; ty < SP_TYPE_SLOTS; ty++) {
            unsigned fi = fam == AF_INET ? SP_FI_INET : fam == AF_INET6 ? SP_FI_INET6
                          : fam == AF_UNIX ? SP_FI_UNIX : SP_FI_OTHER;
            unsigned ti = ty == SOCK_STREAM ? SP_TI_STREAM : ty == SOCK_DGRAM ? SP_TI_DGRAM : SP_TI_OTHER;
            om->ftcol2[fam * SP_TYPE_SLOTS + ty] = om->ftcol[fi * SP_TI_COUNT + ti];
        }
    return 0;
}

/* Phase 6, pairs: each class's parent (the longest prefix containing it; classes 1 and 2 for
 * the top prefixes of each family), and the pairs (class, table rule) bucketed by class:
 * start[c]..start[c + 1] index items[], which holds table rules. A rule without an address
 * pairs with classes 0, 1 and 2. */
static int pairs(struct opb *o)
{
    struct bld *B = o->B;
    uint64_t nclass = o->nclass;
    o->par_off = TALLOC(nclass, uint32_t, 4);
    uint32_t stk = TALLOC(o->nu + 1, uint32_t, 4);
    o->start_off = TALLOC(nclass + 1, uint32_t, 4);
    if (B->T.failed)
        return -1;
    uint32_t *par = TP(o->par_off, uint32_t), *start = TP(o->start_off, uint32_t);
    memset(start, 0, (nclass + 1) * sizeof(uint32_t));
    par[0] = par[1] = par[2] = SP_NONE;
    uint32_t sp = 0;
    for (uint32_t k = 0; k < o->nu; k++) {
        const struct sp_pfx *u = TP(o->u_off, struct sp_pfx);
        while (sp && !sp__pfx_contains(&u[TP(stk, uint32_t)[sp - 1]], &u[k]))
            sp--;
        par[3 + k] = sp ? 3 + TP(stk, uint32_t)[sp - 1] : (u[k].fam == 4 ? 1 : 2);
        TP(stk, uint32_t)[sp++] = k;
    }
    /* Count the pairs per class, turn the counts into start offsets, place the rules. */
    uint32_t npairs = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            uint32_t sum = 0; /* counts -> start offsets (start[nclass] becomes the total) */
            for (uint64_t c = 0; c <= nclass; c++) {
                uint32_t v = TP(o->start_off, uint32_t)[c];
                TP(o->start_off, uint32_t)[c] = sum;
                sum += v;
            }
            o->items_off = TALLOC(npairs ? npairs : 1, uint32_t, 4);
            if (o->items_off == SP_NONE)
                return -1;
        }
        uint32_t seen = 0; /* prefixes walked, in collection order */
        for (uint32_t t = 0; t < o->nt; t++) {
            const struct tcond *c = &trule_at(o, t)->c;
            uint32_t nk = c->has_addr ? c->npfx : 3;
            for (uint32_t k = 0; k < nk; k++) {
                uint32_t cls = c->has_addr ? TP(o->clsof_off, uint32_t)[seen++] : k;
                if (pass == 0)
                    TP(o->start_off, uint32_t)[cls]++, npairs++;
                else
                    TP(o->items_off, uint32_t)[TP(o->start_off, uint32_t)[cls]++] = t;
            }
        }
    }
    /* start[c] now ends class c: shift back into starts. */
    for (uint64_t c = nclass; c > 0; c--)
        TP(o->start_off, uint32_t)[c] = TP(o->start_off, uint32_t)[c - 1];
    TP(o->start_off, uint32_t)[0] = 0;
    return 0;
}

/* Phase 7, tries: one per family (IPv4, IPv6) whose leaves are a class's row; shorter
 * prefixes are painted first (a counting sort by length), so longer ones overwrite them. */
static int tries(struct opb *o)
{
    struct bld *B = o->B;
    struct sp_opm *om = o->om;
    for (int f = 0; f < 2; f++) {
        om->trie_off[f] = sp__arena_alloc(&B->M, 256 * sizeof(uint32_t), 64);
        if (om->trie_off[f] == SP_NONE)
            return -1;
        for (int i = 0; i < 256; i++)
            MP(om->trie_off[f], uint32_t)[i] = (uint32_t)(1 + f) * om->ncols;
    }
    uint32_t nu = o->nu, ord = TALLOC(nu ? nu : 1, uint32_t, 4), lenpos[130];
    if (ord == SP_NONE)
        return -1;
    memset(lenpos, 0, sizeof lenpos);
    for (uint32_t k = 0; k < nu; k++)
        lenpos[TP(o->u_off, struct sp_pfx)[k].len + 1]++;
    for (int l = 1; l < 130; l++)
        lenpos[l] += lenpos[l - 1];
    for (uint32_t k = 0; k < nu; k++)
        TP(ord, uint32_t)[lenpos[TP(o->u_off, struct sp_pfx)[k].len]++] = k;
    for (uint32_t k = 0; k < nu; k++) {
        uint32_t i = TP(ord, uint32_t)[k];
        struct sp_pfx u = TP(o->u_off, struct sp_pfx)[i];
        if (trie_paint(B, om->trie_off[u.fam == 4 ? 0 : 1], &u, (3 + i) * om->ncols))
            return -1;
    }
    return 0;
}

/* Phase 8, cells: the table row by row down the prefix tree (a row starts as its parent's).
 * A cell holds the first matching rule's byte offset in the blob, which grows with its global
 * index (file order within the op), so the least offset wins and the match returns the cell
 * as it is. None is 0, which the unsigned "cell - 1 > pos - 1" takes for the greatest (an
 * offset is never 0: the header comes first). */
static int cells(struct opb *o)
{
    struct bld *B = o->B;
    struct sp_opm *om = o->om;
    for (uint32_t t = 0; t < o->nt; t++)
        trule_at(o, t)->pos = B->p->recs_off + MP(om->ridx_off, uint32_t)[trule_at(o, t)->pos] *
                                                   (uint32_t)sizeof(struct sp_rec);
    om->table_off = sp__arena_alloc(&B->M, o->cells * sizeof(uint32_t), 64);
    if (om->table_off == SP_NONE)
        return -1;
    uint32_t ncols = om->ncols, npc = om->npc;
    for (uint64_t c = 0; c < o->nclass; c++) {
        uint32_t *row = MP(om->table_off, uint32_t) + c * ncols;
        uint32_t parent = TP(o->par_off, uint32_t)[c];
        if (parent == SP_NONE)
            memset(row, 0, ncols * sizeof(uint32_t));
        else
            memcpy(row, MP(om->table_off, uint32_t) + (uint64_t)parent * ncols, ncols * sizeof(uint32_t));
        uint32_t from = TP(o->start_off, uint32_t)[c], to = TP(o->start_off, uint32_t)[c + 1];
        for (uint32_t j = from; j < to; j++) {
            const struct trule *tr = trule_at(o, TP(o->items_off, uint32_t)[j]);
            for (uint32_t f = 0; f < om->nftc; f++) {
                if (!(tr->ftcm >> f & 1))
                    continue;
                uint32_t *cell = row + f * npc;
                if (tr->pcl_n == ALL_PORTS) {
                    for (uint32_t k = 0; k < npc; k++)
                        if (cell[k] - 1u > tr->pos - 1u)
                            cell[k] = tr->pos;
                } else {
                    const uint32_t *l = TP(tr->pcl_off, uint32_t);
                    for (uint32_t k = 0; k < tr->pcl_n; k++)
                        if (cell[l[k]] - 1u > tr->pos - 1u)
                            cell[l[k]] = tr->pos;
                }
            }
        }
    }
    return 0;
}

int sp__build_op(struct bld *B, int op, const struct filt *F, struct sp_opm *om)
{
    const struct sp_policy *p = B->p;
    if (!p->op_rules[op])
        return 0; /* nothing to scan the records for */
    if (F->compiled && cond_list(B, op, F, om))
        return -1;
    size_t tmark = B->T.used;
    struct opb o = {.B = B, .F = F, .om = om, .op = (enum sp_op)op, .d = sp__data(p)};
    int64_t n = collect(&o);
    int r = n <= 0 ? (int)n : 0;
    if (n > 0) {
        ft_classes(&o);
        r = sp__port_classes(&o) || addr_classes(&o) ? -1 : 0;
        if (r == 0 && geometry(&o) == 0)
            r = pairs(&o) || tries(&o) || cells(&o) ? -1 : 0;
    }
    B->T.used = tmark;
    return r;
}
