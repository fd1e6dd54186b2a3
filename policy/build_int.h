/* policy/build_int.h: what the matcher's builder (build.c, the driver) and its per-op table
 * builder (build_op.c) share: the two arenas, the rule filter, the arena shorthands. */
#ifndef SOCKPOLICY_BUILD_INT_H
#define SOCKPOLICY_BUILD_INT_H

#include "match_int.h"

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


#define TALLOC(n, T_, al) sp__arena_alloc(&B->T, (n) * sizeof(T_), al)
#define TP(off, T_) SP_AT(&B->T, off, T_)
#define MP(off, T_) SP_AT(&B->M, off, T_)

/* A 64-bit mixer (splitmix64's finaliser) for the builder's hash tables and signatures. */
static inline uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}


/* Whether rule condition c's prog and uid matches hold for this process. */
static inline int process_ok(const struct sp_policy *p, const struct sp_cond *c, const char *prog,
                      size_t plen, uid_t uid)
{
    const char *d = sp__data(p);
    if (c->has_prog && sp__glob(d + c->prog_off, c->prog_len, prog, plen) == c->prog_neg)
        return 0;
    if (c->has_uid && sp__range_has((const void *)(d + c->uid_off), c->nuid, (uint32_t)uid) == c->uid_neg)
        return 0;
    return 1;
}


/* Builds op's part of the matcher (match_int.h) into *om from the rules F keeps: the table of
 * (address class, family-type class, port class) -> first matching rule, or MODE_LINEAR when
 * the table would exceed sp__table_limit cells. Scratch in B->T is given back. Returns 0, or
 * -1 when an arena could not grow (errno untouched: the caller reports ENOMEM). */
int sp__build_op(struct bld *B, int op, const struct filt *F, struct sp_opm *om);

/* One op's table build (build_op.c, build_port.c). */
#define ALL_PORTS SP_NONE

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

/* One op's build: what the phases hand each other. Offsets are into B->T (scratch) unless
 * they say M. */
struct opb {
    struct bld *B;
    const struct filt *F;
    struct sp_opm *om;
    enum sp_op op;
    const char *d;                        /* the policy's data: port ranges, prefixes */
    uint32_t nt, tr_off;                  /* the table rules (no unix path): struct trule[nt] */
    /* Port sets: rules with the same port list share one set. */
    uint32_t nset, nev;                   /* sets, and their boundary events (2 per range) */
    uint32_t pset_off, srule_off, sh_off; /* rule -> set, set -> a rule, set -> signature */
    uint32_t runs_off, runcls_off, nruns; /* (start port, class) runs over 0..65535 */
    /* Address classes: 0 no address, 1 IPv4 outside every prefix, 2 the same for IPv6, then
     * 3 + k for the k-th distinct prefix in (family, address, length) order. */
    uint32_t total, nu;                   /* prefixes collected, distinct ones */
    uint32_t u_off, clsof_off;            /* the distinct prefixes; collected prefix -> class */
    uint64_t nclass, cells;
    uint32_t par_off, start_off, items_off; /* class -> parent; pairs bucketed by class */
};

static inline struct trule *trule_at(const struct opb *o, uint32_t t)
{
    return &SP_AT(&o->B->T, o->tr_off, struct trule)[t];
}

/* Phase 3 of an op's build (build_port.c): port classes. Sets om's port table, npc and
 * pc_none and each table rule's class list. Returns 0, or -1 when an arena failed. */
int sp__port_classes(struct opb *o);

#endif
