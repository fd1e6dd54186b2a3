/* policy/build.c: sp_policy_specialise(), which builds the matcher described in match.c for
 * one process, and the compile that builds the shared one (sp__compile). Everything lives in
 * two mmap arenas: M (the matcher, kept) and T (scratch). Arenas move when they grow, so
 * pointers into them are taken again after each allocation. One op's table is build_op.c's. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "build_int.h"

size_t sp__table_limit = 4u << 20;

/* Frees B's arenas and their first mapping. */
static void matcher_free(struct bld *B)
{
    sp__arena_free(&B->M);
    sp__arena_free(&B->T);
    if (B->region)
        munmap(B->region, BLD_M + BLD_T);
    B->region = NULL;
}

/* Starts a matcher in B->M: the header at offset 0 and the shared all-zero port table.
 * carve: M and T start as slices of one mapping (the compile, which copies M out); else each
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
        if (sp__build_op(B, op, F, &om) != 0 || B->M.failed)
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
