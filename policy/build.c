/* policy/build.c: sp_policy_specialise(), which builds the matcher described in match.c for
 * one process. Everything lives in two mmap arenas: M (the matcher, kept) and T (scratch).
 * Arenas move when they grow, so pointers into them are taken again after each allocation. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "match_int.h"

size_t sp__table_limit = 4u << 20;

#define ALL_PORTS SP_NONE

struct bld {
    const struct sp_policy *p;
    struct sp_arena M, T;
    char *region; /* the mapping M and T start in (BLD_M + BLD_T bytes), or NULL */
};
#define BLD_M (64u << 10)
#define BLD_T (256u << 10)

/* Which rules go into a matcher: compiled, those without prog/uid matches (the others are
 * listed per op with their predicate); for one process, those whose prog/uid hold. */
struct filt {
    int compiled;
    uint32_t predid_off; /* compiled: T offset of uint32[nrules], the predicate of a rule */
    const char *prog;
    size_t plen;
    uid_t uid;
};

struct tcond { /* what the table's passes read of a rule's matches */
    uint16_t ftmask;
    uint8_t has_addr, has_port;
    uint32_t pfx_off, npfx, port_off, nport;
};

struct trule {   /* a rule that goes into the table */
    struct tcond c; /* a copy: the passes below read it in order, not across 232-byte records */
    uint32_t pos; /* in the op's list, then its record's offset in the blob (the cells) */
    uint16_t ftcm; /* family-type classes it matches */
    uint32_t pcl_off, pcl_n; /* its port classes in T, or pcl_n = ALL_PORTS */
};

struct pev { /* a port boundary */
    uint32_t port;
    uint64_t delta;
};

struct sigent {
    uint64_t sig;
    uint32_t cls, used;
};

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

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static int process_ok(const struct sp_policy *p, const struct sp_cond *c, const char *prog,
                      size_t plen, uid_t uid)
{
    const char *d = sp__data(p);
    if (c->has_prog && sp__glob(d + c->prog_off, c->prog_len, prog, plen) == c->prog_neg)
        return 0;
    if (c->has_uid && sp__range_has((const void *)(d + c->uid_off), c->nuid, (uint32_t)uid) == c->uid_neg)
        return 0;
    return 1;
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

#define TALLOC(n, T_, al) sp__arena_alloc(&B->T, (n) * sizeof(T_), al)
#define TP(off, T_) SP_AT(&B->T, off, T_)
#define MP(off, T_) SP_AT(&B->M, off, T_)

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

/* The two-level port table (match_int.h) of the runs (start port, class; increasing starts,
 * the first at 0) into om->ptab_off: a block of one class is shared by every high byte whose
 * 256 ports all have that class; the others get a block of their own. */
static int port_table(struct bld *B, struct sp_opm *om, uint32_t runs_off, uint32_t runcls_off,
                      uint32_t nruns, uint32_t npc)
{
    uint32_t uni = TALLOC(npc, uint32_t, 4); /* class -> its uniform block, 0 none yet */
    uint32_t top = sp__arena_alloc(&B->M, 256 * sizeof(uint32_t), 64);
    if (uni == SP_NONE || top == SP_NONE)
        return -1;
    memset(TP(uni, uint32_t), 0, npc * sizeof(uint32_t));
    om->ptab_off = top;
    uint32_t j = 0; /* the run holding port hi * 256 */
    for (uint32_t hi = 0; hi < 256; hi++) {
        uint32_t lo = hi * 256, end = lo + 256;
        while (j + 1 < nruns && TP(runs_off, uint32_t)[j + 1] <= lo)
            j++;
        uint32_t cls = TP(runcls_off, uint32_t)[j], blk;
        int uniform = j + 1 >= nruns || TP(runs_off, uint32_t)[j + 1] >= end;
        if (uniform && TP(uni, uint32_t)[cls]) {
            blk = TP(uni, uint32_t)[cls];
        } else {
            blk = sp__arena_alloc(&B->M, 256 * sizeof(uint16_t), 64);
            if (blk == SP_NONE)
                return -1;
            uint16_t *b = MP(blk, uint16_t);
            if (uniform) {
                TP(uni, uint32_t)[cls] = blk;
                for (uint32_t k = 0; k < 256; k++)
                    b[k] = (uint16_t)cls;
            } else {
                uint32_t r = j;
                for (uint32_t port = lo; port < end; port++) {
                    while (r + 1 < nruns && TP(runs_off, uint32_t)[r + 1] <= port)
                        r++;
                    b[port - lo] = (uint16_t)TP(runcls_off, uint32_t)[r];
                }
            }
        }
        MP(top, uint32_t)[hi] = (blk - top) / (uint32_t)sizeof(uint16_t);
    }
    return 0;
}

static int build_op(struct bld *B, int op, const struct filt *F, struct sp_opm *om)
{
    const struct sp_policy *p = B->p;
    const struct sp_rec *recs = sp__recs(p);
    const char *d = sp__data(p);
    size_t tmark = B->T.used;
    uint32_t n = 0, nt = 0, np = 0;

    if (!p->op_rules[op])
        return 0; /* nothing to scan the records for */
    if (F->compiled && cond_list(B, op, F, om))
        return -1;
    for (uint32_t i = 0; i < p->nrules; i++)
        if (recs[i].pub.op == (enum sp_op)op && keep(p, &recs[i].c, F)) {
            n++;
            recs[i].c.has_path ? np++ : nt++;
        }
    om->nrules = n;
    if (!n)
        return 0;
    om->ridx_off = sp__arena_alloc(&B->M, n * sizeof(uint32_t), 4);
    om->path_off = sp__arena_alloc(&B->M, (np ? np : 1) * sizeof(uint32_t), 4);
    uint32_t tr_off = TALLOC(nt ? nt : 1, struct trule, 8);
    if (B->M.failed || B->T.failed)
        return -1;
    om->npath = np;
    {
        uint32_t k = 0, kt = 0, kp = 0;
        for (uint32_t i = 0; i < p->nrules; i++) {
            if (recs[i].pub.op != (enum sp_op)op || !keep(p, &recs[i].c, F))
                continue;
            MP(om->ridx_off, uint32_t)[k] = i;
            if (recs[i].c.has_path)
                MP(om->path_off, uint32_t)[kp++] = i;
            else {
                const struct sp_cond *rc = &recs[i].c;
                TP(tr_off, struct trule)[kt].c = (struct tcond){rc->ftmask, rc->has_addr,
                                                                rc->has_port, rc->pfx_off,
                                                                rc->npfx, rc->port_off, rc->nport};
                TP(tr_off, struct trule)[kt++].pos = k;
            }
            k++;
        }
    }
#define RULE_C(t) ((const struct tcond *)&TP(tr_off, struct trule)[t].c)

    /* Family x type classes. */
    uint64_t fsig[SP_FT_COUNT] = {0};
    for (uint32_t t = 0; t < nt; t++) {
        uint64_t h = mix(t);
        for (unsigned m = RULE_C(t)->ftmask; m; m &= m - 1)
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
    for (uint32_t t = 0; t < nt; t++) {
        uint16_t m = 0;
        for (unsigned fm = RULE_C(t)->ftmask; fm; fm &= fm - 1)
            m |= (uint16_t)(1u << om->ftc[__builtin_ctz(fm)]);
        TP(tr_off, struct trule)[t].ftcm = m;
    }

    /* Port classes. */
    int any_port = 0;
    for (uint32_t t = 0; t < nt; t++) {
        TP(tr_off, struct trule)[t].pcl_n = ALL_PORTS;
        any_port |= RULE_C(t)->has_port;
    }
    uint32_t runs_off = 0, runcls_off = 0, nruns = 0;
    om->ptab_off = SP_AT(&B->M, 0, struct sp_matcher)->zero_ptab_off;
    if (!any_port) {
        om->npc = 1;
        om->pc_none = 0;
    } else {
        /* Rules with the same port list share a set: the set's boundary events and its list
         * of classes serve all of them. pset[t] is t's set, srule[s] a rule holding set s,
         * sh[s] the sum of its rules' signatures. */
        uint32_t hsz = 16;
        while (hsz < 2 * nt)
            hsz *= 2;
        uint32_t ht = TALLOC(hsz, uint32_t, 4), pset = TALLOC(nt, uint32_t, 4);
        uint32_t srule = TALLOC(nt, uint32_t, 4), sh = TALLOC(nt, uint64_t, 8);
        if (B->T.failed)
            return -1;
        memset(TP(ht, uint32_t), 0, hsz * sizeof(uint32_t));
        uint32_t nset = 0, nev = 0;
        for (uint32_t t = 0; t < nt; t++) {
            const struct tcond *c = RULE_C(t);
            if (!c->has_port)
                continue;
            const struct sp_range *r = (const void *)(d + c->port_off);
            uint64_t hv = mix(c->nport);
            for (uint32_t j = 0; j < c->nport; j++)
                hv = mix(hv ^ ((uint64_t)r[j].lo << 32 | r[j].hi));
            uint32_t slot = (uint32_t)hv & (hsz - 1), id;
            for (;;) {
                uint32_t e = TP(ht, uint32_t)[slot];
                if (!e) {
                    id = nset++;
                    TP(ht, uint32_t)[slot] = id + 1;
                    TP(srule, uint32_t)[id] = t;
                    TP(sh, uint64_t)[id] = 0;
                    nev += 2 * c->nport;
                    break;
                }
                const struct tcond *o = RULE_C(TP(srule, uint32_t)[e - 1]);
                if (o->nport == c->nport &&
                    !memcmp(d + o->port_off, r, c->nport * sizeof(struct sp_range))) {
                    id = e - 1;
                    break;
                }
                slot = (slot + 1) & (hsz - 1);
            }
            TP(pset, uint32_t)[t] = id;
            TP(sh, uint64_t)[id] += mix(t);
        }
        /* Boundary events (port, +sum at a range's start, -sum past its end), sorted, then one
         * sweep over the ports: the running sum is the signature of the rules covering a port. */
        uint32_t ev = TALLOC(nev, struct pev, 8);
        runs_off = TALLOC(nev + 2, uint32_t, 4);
        runcls_off = TALLOC(nev + 2, uint32_t, 4);
        if (B->T.failed)
            return -1;
        uint32_t k = 0;
        for (uint32_t q = 0; q < nset; q++) {
            const struct tcond *c = RULE_C(TP(srule, uint32_t)[q]);
            const struct sp_range *r = (const void *)(d + c->port_off);
            uint64_t h = TP(sh, uint64_t)[q];
            for (uint32_t j = 0; j < c->nport; j++) {
                TP(ev, struct pev)[k++] = (struct pev){r[j].lo, h};
                TP(ev, struct pev)[k++] = (struct pev){r[j].hi + 1, 0 - h};
            }
        }
        uint32_t evs = TALLOC(nev ? nev : 1, struct pev, 8);
        if (evs == SP_NONE)
            return -1;
        { /* a radix sort by port (stable; low byte, then 0..256 above it): linear */
            struct pev *in = TP(ev, struct pev), *out = TP(evs, struct pev);
            for (int shift = 0; shift <= 8; shift += 8) {
                uint32_t c[258], sum = 0;
                memset(c, 0, sizeof c);
                for (uint32_t i = 0; i < nev; i++)
                    c[(in[i].port >> shift) & (shift ? 511 : 255)]++;
                for (uint32_t v = 0; v < 258; v++) {
                    uint32_t x = c[v];
                    c[v] = sum;
                    sum += x;
                }
                for (uint32_t i = 0; i < nev; i++)
                    out[c[(in[i].port >> shift) & (shift ? 511 : 255)]++] = in[i];
                struct pev *t = in;
                in = out;
                out = t;
            }
            /* two passes: the sorted events are back in ev */
        }
        /* The signatures' hash table: at most one class per distinct boundary, plus one. */
        uint32_t nb = 0, mapn = 64;
        for (uint32_t i = 0; i < nev; i++)
            nb += !i || TP(ev, struct pev)[i].port != TP(ev, struct pev)[i - 1].port;
        while (mapn < 2 * (nb + 2))
            mapn *= 2;
        uint32_t map = TALLOC(mapn, struct sigent, 8);
        if (map == SP_NONE)
            return -1;
        memset(TP(map, struct sigent), 0, mapn * sizeof(struct sigent));
        uint64_t acc = 0;
        uint32_t npc = 0, e = 0, port = 0;
        while (port < 65536) {
            while (e < nev && TP(ev, struct pev)[e].port <= port)
                acc += TP(ev, struct pev)[e++].delta;
            uint32_t next = e < nev ? TP(ev, struct pev)[e].port : 65536;
            if (next > 65536)
                next = 65536;
            uint32_t slot = (uint32_t)mix(acc) & (mapn - 1);
            struct sigent *s = TP(map, struct sigent);
            while (s[slot].used && s[slot].sig != acc)
                slot = (slot + 1) & (mapn - 1);
            if (!s[slot].used)
                s[slot] = (struct sigent){acc, npc++, 1};
            uint32_t cls = s[slot].cls;
            if (!nruns || TP(runcls_off, uint32_t)[nruns - 1] != cls) {
                TP(runs_off, uint32_t)[nruns] = port;
                TP(runcls_off, uint32_t)[nruns++] = cls;
            }
            port = next;
        }
        if (port_table(B, om, runs_off, runcls_off, nruns, npc))
            return -1;
        om->pc_none = npc++;
        om->npc = npc;
        /* Each port set's classes, deduplicated with a stamp per class; its rules share them. */
        uint32_t stamp = TALLOC(npc, uint32_t, 4), spcl = TALLOC(2 * (size_t)nset + 1, uint32_t, 4);
        if (stamp == SP_NONE || spcl == SP_NONE)
            return -1;
        memset(TP(stamp, uint32_t), 0, npc * sizeof(uint32_t));
        for (uint32_t q = 0; q < nset; q++) {
            const struct tcond *c = RULE_C(TP(srule, uint32_t)[q]);
            const struct sp_range *r = (const void *)(d + c->port_off);
            uint32_t list = (uint32_t)B->T.used, cnt = 0;
            for (uint32_t x = 0; x < c->nport; x++) {
                uint32_t lo = 0, hi = nruns; /* last run starting at or before r[x].lo */
                while (hi - lo > 1) {
                    uint32_t mid = (lo + hi) / 2;
                    if (TP(runs_off, uint32_t)[mid] <= r[x].lo)
                        lo = mid;
                    else
                        hi = mid;
                }
                for (uint32_t j = lo; j < nruns && TP(runs_off, uint32_t)[j] <= r[x].hi; j++) {
                    uint32_t pcx = TP(runcls_off, uint32_t)[j];
                    if (TP(stamp, uint32_t)[pcx] == q + 1)
                        continue;
                    TP(stamp, uint32_t)[pcx] = q + 1;
                    uint32_t o = TALLOC(1, uint32_t, 4);
                    if (o == SP_NONE)
                        return -1;
                    if (!cnt)
                        list = o;
                    TP(o, uint32_t)[0] = pcx;
                    cnt++;
                }
            }
            TP(spcl, uint32_t)[2 * q] = list;
            TP(spcl, uint32_t)[2 * q + 1] = cnt;
        }
        for (uint32_t t = 0; t < nt; t++) {
            if (!RULE_C(t)->has_port)
                continue;
            uint32_t q = TP(pset, uint32_t)[t];
            TP(tr_off, struct trule)[t].pcl_off = TP(spcl, uint32_t)[2 * q];
            TP(tr_off, struct trule)[t].pcl_n = TP(spcl, uint32_t)[2 * q + 1];
        }
    }

    /* Address classes: 0 no address, 1 IPv4 outside every prefix, 2 the same for IPv6, then
     * one per distinct prefix in (family, address, length) order, parents before children. */
    uint32_t total = 0;
    for (uint32_t t = 0; t < nt; t++)
        if (RULE_C(t)->has_addr)
            total += RULE_C(t)->npfx;
    uint32_t u_off = TALLOC(total ? total : 1, struct sp_pfx, 16);
    if (u_off == SP_NONE)
        return -1;
    {
        uint32_t k = 0;
        for (uint32_t t = 0; t < nt; t++) {
            const struct tcond *c = RULE_C(t);
            if (c->has_addr)
                for (uint32_t j = 0; j < c->npfx; j++)
                    TP(u_off, struct sp_pfx)[k++] = ((const struct sp_pfx *)(const void *)(d + c->pfx_off))[j];
        }
    }
    /* Sort indices (not the 32-byte prefixes), then number the distinct ones: clsof[k] is the
     * class of the k-th prefix collected, in the order the pairs below walk them again. */
    uint32_t ix = TALLOC(total ? total : 1, uint32_t, 4), ix2 = TALLOC(total ? total : 1, uint32_t, 4);
    uint32_t clsof = TALLOC(total ? total : 1, uint32_t, 4);
    uint32_t us = TALLOC(total ? total : 1, struct sp_pfx, 16);
    int fast = total < (1u << 24);
    uint32_t kw = fast ? TALLOC(2 * (size_t)total + 1, uint64_t, 8) : 0;
    if (B->T.failed)
        return -1;
    uint32_t *six;
    if (fast) {
        six = sort_pfx_fast(TP(u_off, struct sp_pfx), TP(ix, uint32_t), TP(ix2, uint32_t), total,
                            TP(kw, uint64_t), TP(kw, uint64_t) + total);
    } else {
        for (uint32_t k = 0; k < total; k++)
            TP(ix, uint32_t)[k] = k;
        six = sort_pfx_idx(TP(u_off, struct sp_pfx), TP(ix, uint32_t), TP(ix2, uint32_t), total);
    }
    uint32_t nu = 0;
    {
        const struct sp_pfx *src = TP(u_off, struct sp_pfx);
        struct sp_pfx *u = TP(us, struct sp_pfx);
        for (uint32_t k = 0; k < total; k++) {
            const struct sp_pfx *x = &src[six[k]];
            if (!nu || pfx_cmp(&u[nu - 1], x) != 0)
                u[nu++] = *x;
            TP(clsof, uint32_t)[six[k]] = 3 + nu - 1;
        }
    }
    u_off = us;
    uint64_t nclass = 3 + (uint64_t)nu;
    uint64_t cells = nclass * om->nftc * om->npc;
    if (cells > sp__table_limit) {
        om->mode = MODE_LINEAR;
        B->T.used = tmark;
        return 0;
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

    /* Parents, and the pairs (class, table rule) bucketed by class. */
    uint32_t par = TALLOC(nclass, uint32_t, 4), stk = TALLOC(nu + 1, uint32_t, 4);
    uint32_t cnt = TALLOC(nclass + 1, uint32_t, 4);
    if (B->T.failed)
        return -1;
    memset(TP(cnt, uint32_t), 0, (nclass + 1) * sizeof(uint32_t));
    TP(par, uint32_t)[0] = TP(par, uint32_t)[1] = TP(par, uint32_t)[2] = SP_NONE;
    {
        uint32_t sp = 0;
        for (uint32_t k = 0; k < nu; k++) {
            const struct sp_pfx *u = TP(u_off, struct sp_pfx);
            while (sp && !sp__pfx_contains(&u[TP(stk, uint32_t)[sp - 1]], &u[k]))
                sp--;
            TP(par, uint32_t)[3 + k] = sp ? 3 + TP(stk, uint32_t)[sp - 1] : (u[k].fam == 4 ? 1 : 2);
            TP(stk, uint32_t)[sp++] = k;
        }
    }
    uint32_t npairs = 0;
    for (int pass = 0; pass < 2; pass++) {
        uint32_t items = 0;
        if (pass == 1) {
            uint32_t sum = 0; /* counts -> start offsets (cnt[nclass] becomes the total) */
            for (uint64_t c = 0; c <= nclass; c++) {
                uint32_t v = TP(cnt, uint32_t)[c];
                TP(cnt, uint32_t)[c] = sum;
                sum += v;
            }
            items = TALLOC(npairs ? npairs : 1, uint32_t, 4);
            if (items == SP_NONE)
                return -1;
        }
        uint32_t seen = 0; /* prefixes walked, in collection order */
        for (uint32_t t = 0; t < nt; t++) {
            const struct tcond *c = RULE_C(t);
            uint32_t k = 0, nk = c->has_addr ? c->npfx : 3;
            for (; k < nk; k++) {
                uint32_t cls = k;
                if (c->has_addr)
                    cls = TP(clsof, uint32_t)[seen++];
                if (pass == 0) {
                    TP(cnt, uint32_t)[cls]++;
                    npairs++;
                } else {
                    TP(items, uint32_t)[TP(cnt, uint32_t)[cls]++] = t;
                }
            }
        }
        if (pass == 1) { /* cnt[c] now ends class c: shift back into starts */
            for (uint64_t c = nclass; c > 0; c--)
                TP(cnt, uint32_t)[c] = TP(cnt, uint32_t)[c - 1];
            TP(cnt, uint32_t)[0] = 0;
            npairs = items; /* reuse: the items offset */
        }
    }
    uint32_t items = npairs;

    /* The tries. */
    for (int f = 0; f < 2; f++) {
        om->trie_off[f] = sp__arena_alloc(&B->M, 256 * sizeof(uint32_t), 64);
        if (om->trie_off[f] == SP_NONE)
            return -1;
        for (int i = 0; i < 256; i++)
            MP(om->trie_off[f], uint32_t)[i] = (uint32_t)(1 + f) * om->ncols;
    }
    /* Paint shorter prefixes first: a counting sort by length. */
    uint32_t ord = TALLOC(nu ? nu : 1, uint32_t, 4), lenpos[130];
    if (ord == SP_NONE)
        return -1;
    memset(lenpos, 0, sizeof lenpos);
    for (uint32_t k = 0; k < nu; k++)
        lenpos[TP(u_off, struct sp_pfx)[k].len + 1]++;
    for (int l = 1; l < 130; l++)
        lenpos[l] += lenpos[l - 1];
    for (uint32_t k = 0; k < nu; k++)
        TP(ord, uint32_t)[lenpos[TP(u_off, struct sp_pfx)[k].len]++] = k;
    for (uint32_t k = 0; k < nu; k++) {
        uint32_t i = TP(ord, uint32_t)[k];
        struct sp_pfx u = TP(u_off, struct sp_pfx)[i];
        if (trie_paint(B, om->trie_off[u.fam == 4 ? 0 : 1], &u, (3 + i) * om->ncols))
            return -1;
    }

    /* The cells hold the rule's byte offset in the blob, which grows with its global index
     * (file order within the op): the first rule is the least offset, and the match returns
     * the cell as it is. None is 0, which the unsigned "cell - 1 > pos - 1" takes for the
     * greatest (an offset is never 0: the header comes first). */
    for (uint32_t t = 0; t < nt; t++)
        TP(tr_off, struct trule)[t].pos =
            p->recs_off + MP(om->ridx_off, uint32_t)[TP(tr_off, struct trule)[t].pos] *
                              (uint32_t)sizeof(struct sp_rec);

    /* The table, row by row down the prefix tree. */
    om->table_off = sp__arena_alloc(&B->M, cells * sizeof(uint32_t), 64);
    if (om->table_off == SP_NONE)
        return -1;
    uint32_t ncols = om->ncols, npc = om->npc;
    for (uint64_t c = 0; c < nclass; c++) {
        uint32_t *row = MP(om->table_off, uint32_t) + c * ncols;
        uint32_t parent = TP(par, uint32_t)[c];
        if (parent == SP_NONE)
            memset(row, 0, ncols * sizeof(uint32_t));
        else
            memcpy(row, MP(om->table_off, uint32_t) + (uint64_t)parent * ncols, ncols * sizeof(uint32_t));
        uint32_t from = TP(cnt, uint32_t)[c], to = TP(cnt, uint32_t)[c + 1];
        for (uint32_t j = from; j < to; j++) {
            const struct trule *tr = &TP(tr_off, struct trule)[TP(items, uint32_t)[j]];
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
    B->T.used = tmark;
    return 0;
}

/* Starts a matcher in B->M: the header at offset 0 and the shared all-zero port table. */
/* Frees B's arenas and their first mapping. */
static void matcher_free(struct bld *B)
{
    sp__arena_free(&B->M);
    sp__arena_free(&B->T);
    if (B->region)
        munmap(B->region, BLD_M + BLD_T);
    B->region = NULL;
}

/* carve: M and T start as slices of one mapping (the compile, which copies M out); else each
 * is a mapping of its own (a process's own matcher keeps M as it is). */
static int matcher_start(struct bld *B, int carve)
{
    B->region = NULL;
    if (carve) {
        char *r = mmap(NULL, BLD_M + BLD_T, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);
        if (r == MAP_FAILED)
            return -1;
        B->region = r;
        sp__arena_carve(&B->M, r, BLD_M);
        sp__arena_carve(&B->T, r + BLD_M, BLD_T);
    } else if (sp__arena_init(&B->M, BLD_M) || sp__arena_init(&B->T, BLD_T)) {
        sp__arena_free(&B->M);
        return -1;
    }
    uint32_t hdr = sp__arena_alloc(&B->M, sizeof(struct sp_matcher), 64);
    /* The shared all-zero port table: top[256] all pointing at one zero block just after it. */
    uint32_t zero = sp__arena_alloc(&B->M, 256 * sizeof(uint32_t) + 256 * sizeof(uint16_t), 64);
    if (hdr != 0 || zero == SP_NONE) {
        matcher_free(B);
        return -1;
    }
    SP_AT(&B->M, hdr, struct sp_matcher)->zero_ptab_off = zero;
    for (int i = 0; i < 256; i++) /* fresh memory is zero: the block needs no writing */
        SP_AT(&B->M, zero, uint32_t)[i] = 256 * sizeof(uint32_t) / sizeof(uint16_t);
    return 0;
}

static int matcher_ops(struct bld *B, const struct filt *F)
{
    for (int op = 0; op < SP_OP_COUNT; op++) {
        struct sp_opm om;
        memset(&om, 0, sizeof om);
        if (build_op(B, op, F, &om) != 0 || B->M.failed)
            return -1;
        SP_AT(&B->M, 0, struct sp_matcher)->op[op] = om;
    }
    SP_AT(&B->M, 0, struct sp_matcher)->size = B->M.used;
    return 0;
}

static uint64_t pred_hash(const struct sp_policy *p, const struct sp_cond *c)
{
    const char *d = sp__data(p);
    uint64_t h = mix((uint64_t)c->has_prog << 3 | c->prog_neg << 2 | c->has_uid << 1 | c->uid_neg);
    if (c->has_prog)
        for (uint32_t i = 0; i < c->prog_len; i++)
            h = mix(h ^ (unsigned char)d[c->prog_off + i]);
    if (c->has_uid)
        for (uint32_t i = 0; i < c->nuid; i++) {
            const struct sp_range *r = (const void *)(d + c->uid_off);
            h = mix(h ^ ((uint64_t)r[i].lo << 32 | r[i].hi));
        }
    return h;
}

static int pred_same(const struct sp_policy *p, const struct sp_cond *a, const struct sp_cond *b)
{
    const char *d = sp__data(p);
    if (a->has_prog != b->has_prog || a->has_uid != b->has_uid)
        return 0;
    if (a->has_prog && (a->prog_neg != b->prog_neg || a->prog_len != b->prog_len ||
                        memcmp(d + a->prog_off, d + b->prog_off, a->prog_len)))
        return 0;
    if (a->has_uid && (a->uid_neg != b->uid_neg || a->nuid != b->nuid ||
                       memcmp(d + a->uid_off, d + b->uid_off, a->nuid * sizeof(struct sp_range))))
        return 0;
    return 1;
}

/* The distinct prog/uid predicates: pred[] in M (a rule holding each), predid[] in T. */
static int compile_preds(struct bld *B, struct filt *F)
{
    const struct sp_policy *p = B->p;
    const struct sp_rec *recs = sp__recs(p);
    uint32_t ncond = 0, npred = 0;
    for (uint32_t i = 0; i < p->nrules; i++)
        ncond += recs[i].c.has_prog || recs[i].c.has_uid;
    F->predid_off = TALLOC(p->nrules ? p->nrules : 1, uint32_t, 4);
    uint32_t hsize = 16;
    while (hsize < 2 * ncond)
        hsize *= 2;
    uint32_t ht = TALLOC(hsize, uint32_t, 4); /* pred id + 1, 0 empty */
    uint32_t pred = sp__arena_alloc(&B->M, (ncond ? ncond : 1) * sizeof(uint32_t), 4);
    if (B->T.failed || B->M.failed)
        return -1;
    memset(TP(ht, uint32_t), 0, hsize * sizeof(uint32_t));
    for (uint32_t i = 0; i < p->nrules; i++) {
        const struct sp_cond *c = &recs[i].c;
        if (!c->has_prog && !c->has_uid)
            continue;
        uint32_t slot = (uint32_t)pred_hash(p, c) & (hsize - 1), id;
        for (;;) {
            uint32_t e = TP(ht, uint32_t)[slot];
            if (!e) {
                id = npred++;
                TP(ht, uint32_t)[slot] = id + 1;
                MP(pred, uint32_t)[id] = i;
                break;
            }
            if (pred_same(p, &recs[MP(pred, uint32_t)[e - 1]].c, c)) {
                id = e - 1;
                break;
            }
            slot = (slot + 1) & (hsize - 1);
        }
        TP(F->predid_off, uint32_t)[i] = id;
    }
    SP_AT(&B->M, 0, struct sp_matcher)->npred = npred;
    SP_AT(&B->M, 0, struct sp_matcher)->pred_off = pred;
    return 0;
}

/* Moves len bytes of whole pages from src to dst (page aligned, mapped): by mremap, or copied
 * when that fails. src is unmapped either way. */
static void move_pages(char *src, size_t len, char *dst)
{
    if (!len || mremap(src, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, dst) != MAP_FAILED)
        return;
    memcpy(dst, src, len);
    munmap(src, len);
}

struct sp_policy *sp__compile(struct sp_policy *p, int borrowed)
{
    struct bld B;
    struct filt F = {1, 0, NULL, 0, 0};
    B.p = p;
    if (matcher_start(&B, 1)) {
        if (!borrowed)
            munmap(p, p->size);
        errno = ENOMEM;
        return NULL;
    }
    int bad = compile_preds(&B, &F) || matcher_ops(&B, &F);
    /* Small: a fresh populated mapping, both copied (cheaper than faulting a grown one page by
     * page). Large: the blob's pages and then the matcher's are moved into a fresh mapping. */
    int big = B.M.used >= SP_MOVE_MIN && !borrowed;
    size_t at = big ? SP_PAGE_UP(p->size) : (p->size + 63) & ~(size_t)63, size = at + B.M.used;
    void *np = bad ? MAP_FAILED
                   : mmap(NULL, big ? SP_PAGE_UP(size) : size, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | (big ? 0 : MAP_POPULATE), -1, 0);
    if (np == MAP_FAILED) {
        matcher_free(&B);
        if (!borrowed)
            munmap(p, p->size);
        errno = ENOMEM;
        return NULL;
    }
    if (big) {
        /* A large blob's header, records and data are separate mappings (load.c moved them
         * there); each moves by itself. A small one is one mapping. */
        size_t cut[4] = {0, p->recs_off, p->data_off, SP_PAGE_UP(p->size)}, n = 4;
        if ((p->recs_off | p->data_off) & 4095) {
            cut[1] = cut[3];
            n = 2;
        }
        for (size_t i = 0; i + 1 < n; i++)
            move_pages((char *)p + cut[i], cut[i + 1] - cut[i], (char *)np + cut[i]);
    } else {
        memcpy(np, p, p->size);
        if (!borrowed)
            munmap(p, p->size);
    }
    p = np;
    sp__arena_move(&B.M, (char *)p + at, B.M.used);
    matcher_free(&B);
    p->match_off = (uint32_t)at;
    p->size = size;
    sp__relocate(p);
    return p;
}

static void free_own(struct sp_policy *p)
{
    if (p->own)
        munmap(p->own, p->own_size);
    p->own = NULL;
    p->own_size = 0;
    p->m = NULL;
}

/* The matcher for this process when too many prog/uid rules hold for it. */
static int specialise_own(struct sp_policy *p, const char *prog, size_t plen, uid_t uid)
{
    struct bld B;
    struct filt F = {0, 0, prog, plen, uid};
    B.p = p;
    if (matcher_start(&B, 0))
        return -1;
    int bad = matcher_ops(&B, &F);
    sp__arena_free(&B.T);
    if (bad) {
        sp__arena_free(&B.M);
        return -1;
    }
    mprotect(B.M.base, B.M.cap, PROT_READ);
    p->own = (struct sp_matcher *)(void *)B.M.base;
    p->own_size = B.M.cap;
    p->m = p->own;
    for (int op = 0; op < SP_OP_COUNT; op++) {
        p->has[op] = p->m->op[op].nrules != 0;
        p->slowf[op] = p->m->op[op].npath ? 1u << AF_UNIX : 0;
    }
    return 0;
}

/* Cost: one evaluation per distinct prog/uid predicate and a bit test per prog/uid rule; the
 * compiled table is shared as it is. Only a process for which more than SP_ACT_MAX prog/uid
 * rules of one op hold gets a matcher of its own (the cost of a compile). */
int sp_policy_specialise(struct sp_policy *p, const char *prog, uid_t uid)
{
    int saved = errno;
    if (!p || p->magic != SP_MAGIC || !p->match_off) {
        errno = EINVAL;
        return -1;
    }
    if (!prog)
        prog = "";
    free_own(p);
    const struct sp_matcher *cm = (const void *)((const char *)p + p->match_off);
    const struct sp_rec *recs = sp__recs(p);
    size_t plen = sp__strlen(prog);
    uint64_t stackbits[64], *bits = stackbits;
    size_t words = (cm->npred + 63) / 64, maplen = 0;
    if (words > 64) {
        maplen = words * 8;
        bits = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (bits == MAP_FAILED) {
            errno = ENOMEM;
            return -1;
        }
    } else {
        memset(stackbits, 0, sizeof stackbits);
    }
    const uint32_t *pred = (const void *)((const char *)cm + cm->pred_off);
    for (uint32_t i = 0; i < cm->npred; i++)
        if (process_ok(p, &recs[pred[i]].c, prog, plen, uid))
            bits[i / 64] |= 1ull << (i % 64);
    int overflow = 0;
    for (int op = 0; op < SP_OP_COUNT; op++) {
        const struct sp_opm *om = &cm->op[op];
        const uint32_t *cond = (const void *)((const char *)cm + om->cond_off);
        const uint32_t *cpred = (const void *)((const char *)cm + om->cond_pred_off);
        uint32_t k = 0;
        for (uint32_t i = 0; i < om->ncond && !overflow; i++) {
            if (!(bits[cpred[i] / 64] >> (cpred[i] % 64) & 1))
                continue;
            if (k == SP_ACT_MAX)
                overflow = 1;
            else
                p->act[op][k++] = cond[i];
        }
        p->nact[op] = k;
        p->has[op] = om->nrules != 0 || k != 0;
        p->slowf[op] = (uint16_t)((k ? 0xffffu : 0) | (om->npath ? 1u << AF_UNIX : 0));
    }
    if (maplen)
        munmap(bits, maplen);
    if (!overflow) {
        p->m = cm;
        errno = saved;
        return 0;
    }
    memset(p->nact, 0, sizeof p->nact);
    if (specialise_own(p, prog, plen, uid)) {
        errno = ENOMEM;
        return -1;
    }
    errno = saved;
    return 0;
}

void sp_policy_free(struct sp_policy *p)
{
    int saved = errno;
    if (p && p->magic == SP_MAGIC) {
        free_own(p);
        if (p->map_base)
            munmap(p->map_base, p->map_len);
        else
            munmap(p, p->size);
    }
    errno = saved;
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
