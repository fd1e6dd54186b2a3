/* policy/build_port.c: phase 3 of an op's table build (build_op.c): the port classes. Ports
 * that the same rules cover form one class (found by a sweep over range boundaries carrying a
 * sum of rule signatures), looked up through a two-level table; each rule gets its list of
 * classes. */
#include <string.h>

#include "build_int.h"

struct pev { /* a port boundary */
    uint32_t port;
    uint64_t delta;
};

struct sigent {
    uint64_t sig;
    uint32_t cls, used;
};

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

/* Phase 3a, port sets: rules with the same port list share a set, whose boundary events and
 * list of classes serve all of them. pset[t] is t's set, srule[s] a rule holding set s, sh[s]
 * the sum of its rules' signatures. */
static int port_sets(struct opb *o)
{
    struct bld *B = o->B;
    uint32_t nt = o->nt, hsz = 16;
    while (hsz < 2 * nt)
        hsz *= 2;
    uint32_t ht = TALLOC(hsz, uint32_t, 4);
    o->pset_off = TALLOC(nt, uint32_t, 4);
    o->srule_off = TALLOC(nt, uint32_t, 4);
    o->sh_off = TALLOC(nt, uint64_t, 8);
    if (B->T.failed)
        return -1;
    memset(TP(ht, uint32_t), 0, hsz * sizeof(uint32_t));
    o->nset = o->nev = 0;
    for (uint32_t t = 0; t < nt; t++) {
        const struct tcond *c = &trule_at(o, t)->c;
        if (!c->has_port)
            continue;
        const struct sp_range *r = (const void *)(o->d + c->port_off);
        uint64_t hv = mix(c->nport);
        for (uint32_t j = 0; j < c->nport; j++)
            hv = mix(hv ^ ((uint64_t)r[j].lo << 32 | r[j].hi));
        uint32_t slot = (uint32_t)hv & (hsz - 1), id;
        for (;;) {
            uint32_t e = TP(ht, uint32_t)[slot];
            if (!e) {
                id = o->nset++;
                TP(ht, uint32_t)[slot] = id + 1;
                TP(o->srule_off, uint32_t)[id] = t;
                TP(o->sh_off, uint64_t)[id] = 0;
                o->nev += 2 * c->nport;
                break;
            }
            const struct tcond *oc = &trule_at(o, TP(o->srule_off, uint32_t)[e - 1])->c;
            if (oc->nport == c->nport &&
                !memcmp(o->d + oc->port_off, r, c->nport * sizeof(struct sp_range))) {
                id = e - 1;
                break;
            }
            slot = (slot + 1) & (hsz - 1);
        }
        TP(o->pset_off, uint32_t)[t] = id;
        TP(o->sh_off, uint64_t)[id] += mix(t);
    }
    return 0;
}

/* Phase 3b, port sweep: the boundary events (port, +sum at a range's start, -sum past its
 * end), sorted, then one sweep over the ports: the running sum is the signature of the rules
 * covering a port, and each distinct signature a class. Leaves the runs in o and the port
 * table in om; returns the number of classes, or -1. */
static int64_t port_sweep(struct opb *o)
{
    struct bld *B = o->B;
    uint32_t nev = o->nev;
    uint32_t ev = TALLOC(nev, struct pev, 8);
    o->runs_off = TALLOC(nev + 2, uint32_t, 4);
    o->runcls_off = TALLOC(nev + 2, uint32_t, 4);
    if (B->T.failed)
        return -1;
    uint32_t k = 0;
    for (uint32_t q = 0; q < o->nset; q++) {
        const struct tcond *c = &trule_at(o, TP(o->srule_off, uint32_t)[q])->c;
        const struct sp_range *r = (const void *)(o->d + c->port_off);
        uint64_t h = TP(o->sh_off, uint64_t)[q];
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
    /* No allocation below: the arena's pointers hold for the whole sweep. */
    const struct pev *evp = TP(ev, struct pev);
    struct sigent *s = TP(map, struct sigent);
    uint32_t *runs = TP(o->runs_off, uint32_t), *runcls = TP(o->runcls_off, uint32_t);
    uint64_t acc = 0;
    uint32_t npc = 0, e = 0, port = 0, nruns = 0;
    while (port < 65536) {
        while (e < nev && evp[e].port <= port)
            acc += evp[e++].delta;
        uint32_t next = e < nev ? evp[e].port : 65536;
        if (next > 65536)
            next = 65536;
        uint32_t slot = (uint32_t)mix(acc) & (mapn - 1);
        while (s[slot].used && s[slot].sig != acc)
            slot = (slot + 1) & (mapn - 1);
        if (!s[slot].used)
            s[slot] = (struct sigent){acc, npc++, 1};
        uint32_t cls = s[slot].cls;
        if (!nruns || runcls[nruns - 1] != cls) {
            runs[nruns] = port;
            runcls[nruns++] = cls;
        }
        port = next;
    }
    o->nruns = nruns;
    if (port_table(B, o->om, o->runs_off, o->runcls_off, nruns, npc))
        return -1;
    return npc;
}

/* Phase 3c, port lists: each port set's classes, deduplicated with a stamp per class; the
 * set's rules share the list. */
static int port_lists(struct opb *o, uint32_t npc)
{
    struct bld *B = o->B;
    uint32_t nruns = o->nruns;
    uint32_t stamp = TALLOC(npc, uint32_t, 4), spcl = TALLOC(2 * (size_t)o->nset + 1, uint32_t, 4);
    if (stamp == SP_NONE || spcl == SP_NONE)
        return -1;
    memset(TP(stamp, uint32_t), 0, npc * sizeof(uint32_t));
    for (uint32_t q = 0; q < o->nset; q++) {
        const struct tcond *c = &trule_at(o, TP(o->srule_off, uint32_t)[q])->c;
        const struct sp_range *r = (const void *)(o->d + c->port_off);
        uint32_t list = (uint32_t)B->T.used, cnt = 0;
        for (uint32_t x = 0; x < c->nport; x++) {
            uint32_t lo = 0, hi = nruns; /* last run starting at or before r[x].lo */
            while (hi - lo > 1) {
                uint32_t mid = (lo + hi) / 2;
                if (TP(o->runs_off, uint32_t)[mid] <= r[x].lo)
                    lo = mid;
                else
                    hi = mid;
            }
            for (uint32_t j = lo; j < nruns && TP(o->runs_off, uint32_t)[j] <= r[x].hi; j++) {
                uint32_t pcx = TP(o->runcls_off, uint32_t)[j];
                if (TP(stamp, uint32_t)[pcx] == q + 1)
                    continue;
                TP(stamp, uint32_t)[pcx] = q + 1;
                uint32_t at = TALLOC(1, uint32_t, 4);
                if (at == SP_NONE)
                    return -1;
                if (!cnt)
                    list = at;
                TP(at, uint32_t)[0] = pcx;
                cnt++;
            }
        }
        TP(spcl, uint32_t)[2 * q] = list;
        TP(spcl, uint32_t)[2 * q + 1] = cnt;
    }
    for (uint32_t t = 0; t < o->nt; t++) {
        struct trule *tr = trule_at(o, t);
        if (!tr->c.has_port)
            continue;
        uint32_t q = TP(o->pset_off, uint32_t)[t];
        tr->pcl_off = TP(spcl, uint32_t)[2 * q];
        tr->pcl_n = TP(spcl, uint32_t)[2 * q + 1];
    }
    return 0;
}

/* Phase 3, port classes: one class per run of ports the same rules cover, plus pc_none (the
 * call has no port); an op without port rules has one class and the shared zero table. */
int sp__port_classes(struct opb *o)
{
    struct bld *B = o->B;
    struct sp_opm *om = o->om;
    int any_port = 0;
    for (uint32_t t = 0; t < o->nt; t++) {
        trule_at(o, t)->pcl_n = ALL_PORTS;
        any_port |= trule_at(o, t)->c.has_port;
    }
    om->ptab_off = SP_AT(&B->M, 0, struct sp_matcher)->zero_ptab_off;
    if (!any_port) {
        om->npc = 1;
        om->pc_none = 0;
        return 0;
    }
    if (port_sets(o))
        return -1;
    int64_t npc = port_sweep(o);
    if (npc < 0)
        return -1;
    om->pc_none = (uint32_t)npc;
    om->npc = (uint32_t)npc + 1;
    return port_lists(o, (uint32_t)npc + 1);
}
