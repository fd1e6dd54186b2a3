/* policy/match_int.h: the layout of the per-process matcher, shared by build.c (which makes
 * it) and match.c (which reads it). One mmap'd region addressed by offsets. */
#ifndef SOCKPOLICY_MATCH_INT_H
#define SOCKPOLICY_MATCH_INT_H

#include "policy_int.h"

#define CHILD 0x80000000u
#define MODE_NONE 0 /* no rule for the op */
#define MODE_TABLE 1
#define MODE_LINEAR 2

/* Families 0..AF_INET6 and "other"; types 0..SOCK_DGRAM and "other". A trie leaf is a class
 * times ncols (its row), a table cell a rule's byte offset in the blob (0 for none). */
#define SP_FAM_SLOTS 12
#define SP_TYPE_SLOTS 4

struct sp_opm {
    uint32_t nrules, ridx_off; /* op's rules for this process: global indices */
    uint32_t mode;
    uint8_t ftc[SP_FT_COUNT];
    uint32_t ftcol[SP_FT_COUNT]; /* ftc[i] * npc: the column of a family-type class */
    /* The same by the call's own values: [family (SP_FAM_SLOTS - 1: any other)][type]. */
    uint32_t ftcol2[SP_FAM_SLOTS * SP_TYPE_SLOTS];
    uint32_t nftc, npc, pc_none, ncols;
    /* Port classes, two levels: uint32 top[256] at ptab_off, indexed by the port's high byte,
     * holds the start (in uint16 units from ptab_off) of a uint16 block[256] indexed by the low
     * byte. Blocks are shared when equal (a block of one class is kept once per class); an op
     * without port rules points at the matcher's shared all-zero table (1.5 KiB). */
    uint32_t ptab_off;
    uint32_t trie_off[2];
    uint32_t table_off;
    uint32_t npath, path_off; /* global indices of the AF_UNIX path rules, in order */
    /* Compiled matcher only: the op's rules with prog/uid matches (left out of the table),
     * global indices in file order, and each one's predicate (an index into pred). */
    uint32_t ncond, cond_off, cond_pred_off;
};

struct sp_matcher {
    size_t size;
    uint32_t zero_ptab_off; /* the shared all-zero two-level port table */
    uint32_t npred, pred_off; /* distinct prog/uid predicates: a rule index holding each */
    struct sp_opm op[SP_OP_COUNT];
};

#endif
