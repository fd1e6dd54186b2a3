/* policy/policy_int.h: what the files of policy/ share and nobody else sees. The compiled
 * policy is one mmap'd blob: a header (struct sp_policy), the rule records, then a data area
 * (strings, prefixes, ranges) addressed by offsets, so that the blob can be copied or mapped
 * from a file unchanged. The only pointers are sp_rule.file/.text, rebuilt from offsets by
 * sp__relocate(), and the process-local matcher. */
#ifndef SOCKPOLICY_POLICY_INT_H
#define SOCKPOLICY_POLICY_INT_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"

typedef unsigned __int128 sp_u128;

#define SP_MAGIC 0x73706f6cU /* "spol" */
#define SP_NONE 0xffffffffU
#define SP_MAX_LINE 4096     /* longest line the parser reads */
#define SP_MAX_WORDS 64      /* words on a line */
#define SP_MAX_DEPTH 16      /* include nesting */
#define SP_MAX_FILE (16u << 20)

/* A growable mmap'd arena addressed by offsets (it moves when it grows). */
struct sp_arena {
    char *base;
    size_t used, cap;
    size_t pop; /* populated up to here (see sp__arena_alloc) */
    int carved; /* a slice of its owner's mapping (sp__arena_carve), not a mapping of its own */
    int failed; /* an allocation failed: errno was ENOMEM */
};
int sp__arena_init(struct sp_arena *a, size_t cap);
/* Offset of n fresh zeroed bytes aligned to align, or SP_NONE (a->failed set). */
uint32_t sp__arena_alloc(struct sp_arena *a, size_t n, size_t align);
/* Makes room for n bytes in a now (address space only: pages are touched as they are used),
 * sparing the doublings of a growing arena. A hint: a failure is not reported. errno kept. */
void sp__arena_reserve(struct sp_arena *a, size_t n);
/* Unmaps a's memory, unless it is still a slice of its owner's mapping (the owner unmaps that). */
void sp__arena_free(struct sp_arena *a);
/* Makes a an arena over base[0..cap), a slice of a mapping the caller owns and unmaps: one
 * mmap for several arenas. When it outgrows the slice it moves to a mapping of its own. */
void sp__arena_carve(struct sp_arena *a, char *base, size_t cap);
/* Moves the first n bytes of a to dst and frees a. From SP_MOVE_MIN bytes on, with dst page
 * aligned and room there up to the next page boundary, whole pages are moved (mremap: no
 * copy, no fault; the bytes past n are the arena's zeros); smaller, they are copied. */
#define SP_MOVE_MIN (64u << 10)
void sp__arena_move(struct sp_arena *a, char *dst, size_t n);
#define SP_PAGE_UP(n) (((n) + 4095) & ~(size_t)4095)
#define SP_AT(a, off, T) ((T *)(void *)((a)->base + (off)))

/* An address prefix; IPv4 lives in the low 32 bits (fam 4), IPv6 uses all 128 (fam 6). */
struct sp_pfx {
    sp_u128 addr;
    uint8_t fam, len;
};
/* An inclusive range of ports or uids. */
struct sp_range {
    uint32_t lo, hi;
};

/* Family x type combinations: bit fi * 3 + ti. */
enum { SP_FI_INET, SP_FI_INET6, SP_FI_UNIX, SP_FI_OTHER, SP_FI_COUNT };
enum { SP_TI_STREAM, SP_TI_DGRAM, SP_TI_OTHER, SP_TI_COUNT };
#define SP_FT_COUNT (SP_FI_COUNT * SP_TI_COUNT)
#define SP_FT_ALL ((1u << SP_FT_COUNT) - 1)

/* The matches of one rule, compiled. Offsets are into the data area. Negated address and port
 * lists are stored complemented, so a set is always "the call's value is in it". */
struct sp_cond {
    uint16_t ftmask;
    uint8_t has_addr, has_port, has_path, has_prog, has_uid;
    uint8_t path_neg, prog_neg, uid_neg;
    uint32_t pfx_off, npfx;   /* struct sp_pfx[], IPv4 first, each family canonical */
    uint32_t port_off, nport; /* struct sp_range[], sorted, disjoint */
    uint32_t uid_off, nuid;
    uint32_t path_off, path_len, prog_off, prog_len;
    uint32_t file_off, text_off; /* NUL-terminated strings */
};

struct sp_rec {
    struct sp_rule pub;
    struct sp_cond c;
};

struct sp_matcher;

/* A file the policy was read from (or a directory an include pattern scanned): a mapped
 * compiled policy is stale when any of these changed. In the data area. */
struct sp_src {
    uint64_t dev, ino, size;
    int64_t mtim_sec, mtim_nsec;
    uint32_t path_off, is_dir; /* path_off: an absolute path (cwd joined when read relative) */
    int64_t ctim_sec, ctim_nsec; /* a file's content cannot change without changing ctime... */
    uint64_t hash;               /* ...except in the tick it was read in: then this, of its bytes */
    uint32_t racy, pad;          /* changed in the tick it was read in: check hash when mapped */
};
/* dev, ino and size of a source recorded as missing (an include directory that was not
 * there), mtim -1: what sp_policy_sources_id gives a source it cannot stat. */
#define SP_SRC_MISSING (~0ULL)

/* Per process, matched rules with prog/uid matches that hold for this process are kept in a
 * short list per op and tried after the compiled table (see match.c); more than this and
 * specialise builds a matcher for the process instead. */
#define SP_ACT_MAX 8

struct sp_policy {
    uint32_t magic, version;
    size_t size; /* bytes of the blob */
    struct sp_settings settings;
    uint32_t nrules, recs_off, data_off, data_len;
    uint32_t op_rules[SP_OP_COUNT];
    uint32_t match_off;       /* the compiled matcher (struct sp_matcher) in the blob */
    uint32_t nsrc, src_off;   /* struct sp_src[] in the data area */
    /* Process-local, not part of the position-independent image (zero in a saved one): */
    const struct sp_matcher *m; /* the matcher in use: the compiled one, or own */
    struct sp_matcher *own;     /* a matcher built for this process (many prog/uid rules) */
    size_t own_size;
    void *map_base;             /* mapped from a compiled file: the whole mapping */
    size_t map_len;
    uint16_t slowf[SP_OP_COUNT]; /* bit per family (0..11, 11 other): match's cold path */
    uint8_t has[SP_OP_COUNT];    /* a rule for op may match in this process */
    uint32_t nact[SP_OP_COUNT];
    uint32_t act[SP_OP_COUNT][SP_ACT_MAX]; /* this process's prog/uid rules, in file order */
};
#define SP_POLICY_LOCAL_OFF offsetof(struct sp_policy, m)

static inline const struct sp_rec *sp__recs(const struct sp_policy *p)
{
    return (const struct sp_rec *)(const void *)((const char *)p + p->recs_off);
}
static inline const char *sp__data(const struct sp_policy *p)
{
    return (const char *)p + p->data_off;
}

/* Rebuilds the pointers of the rule records from their offsets. */
void sp__relocate(struct sp_policy *p);
/* Compiles the matcher of the rules without prog/uid matches into the blob (which grows and
 * may move). Returns the blob, or NULL with errno ENOMEM (p is then freed). borrowed: p lies
 * in memory the caller unmaps; it is copied, never unmapped here. */
struct sp_policy *sp__compile(struct sp_policy *p, int borrowed);
/* 64-bit checksum of n bytes (a fast hash against accidental corruption, not an attacker). */
uint64_t sp__checksum(const void *buf, size_t n);

/* The sources of a compiled policy (sources.c). Reads a source recorded as racy (changed in
 * the tick it was read in) again once that tick is over, and clears racy when its bytes and
 * identity are still the same. */
void sp__settle_racy(struct sp_src *s, const char *path);
/* NULL when every source still holds what p was compiled from, else the path at fault with
 * *why (the reason) and *err (ESTALE, or EPERM: privileged and not trusted) set. */
const char *sp__stale_source(const struct sp_policy *p, int priv, const char **why, int *err);
/* Whether p was compiled from the file at src (the same path made absolute, or the same
 * device and inode). */
int sp__compiled_from(const struct sp_policy *p, const char *src);

/* close(2) as a raw system call: inside libsockpolicy.so a plain close() binds to the shim's
 * own exported close hook. Returns and sets errno as close(2). */
int sp__close(int fd);

/* Text helpers (no locale, no allocation). */
struct sp_sbuf {
    char *p;
    size_t len, cap;
};
void sp__puts(struct sp_sbuf *b, const char *s);
void sp__putn(struct sp_sbuf *b, const char *s, size_t n);
void sp__putu(struct sp_sbuf *b, uint64_t v);
size_t sp__strlen(const char *s);
/* Whether a[0..alen) is the string b. Inline: the keyword lookups call it for every name. */
static inline int sp__streq(const char *a, size_t alen, const char *b)
{
    if (!alen || a[0] != b[0])
        return !alen && !b[0];
    size_t i = 1;
    for (; i < alen; i++)
        if (b[i] != a[i])
            return 0;
    return b[i] == 0;
}
/* Parses decimal digits s[0..n) into *v (at most max). 0, or -1 when empty, not all digits,
 * or larger than max. */
int sp__parse_u64(const char *s, size_t n, uint64_t max, uint64_t *v);

/* Glob: * ? [...] [!...] and \ escapes. 1 when s[0..n) matches pat[0..plen). */
int sp__glob(const char *pat, size_t plen, const char *s, size_t n);

/* Addresses (addr.c). Parses one address or prefix; returns NULL, or a static message. */
const char *sp__parse_prefix(const char *s, size_t n, struct sp_pfx *out, int *host_bits);
/* Sorts, de-nests and merges pfx[0..n) of one family in place into the canonical (maximal
 * aligned blocks) form; returns the new count. */
size_t sp__pfx_canon(struct sp_pfx *pfx, size_t n);
/* Writes the complement of canonical pfx[0..n) (family fam) to out (room for 129 * (n + 1));
 * returns the count. */
size_t sp__pfx_complement(const struct sp_pfx *pfx, size_t n, int fam, struct sp_pfx *out);
sp_u128 sp__pfx_mask(int fam, int len);
int sp__pfx_contains(const struct sp_pfx *outer, const struct sp_pfx *inner);
/* Whether canonical list a (n) contains every prefix of b (m). */
int sp__pfx_subset(const struct sp_pfx *b, size_t m, const struct sp_pfx *a, size_t n);
size_t sp__range_canon(struct sp_range *r, size_t n);
size_t sp__range_complement(const struct sp_range *r, size_t n, uint32_t max,
                            struct sp_range *out);
int sp__range_subset(const struct sp_range *b, size_t m, const struct sp_range *a, size_t n);
int sp__range_has(const struct sp_range *r, size_t n, uint32_t v);

/* Heap sort of n elements of size sz with cmp(a, b, ctx). */
void sp__sort(void *base, size_t n, size_t sz, int (*cmp)(const void *, const void *, void *),
              void *ctx);

/* Stable merge sort; scratch holds n * sz bytes. */
void sp__msort(void *base, size_t n, size_t sz, int (*cmp)(const void *, const void *, void *),
               void *ctx, void *scratch);

/* Names (names.c). */
enum sp_optid {
    SP_O_KEEPALIVE, SP_O_KEEPIDLE, SP_O_KEEPINTVL, SP_O_KEEPCNT, SP_O_NODELAY, SP_O_TFO,
    SP_O_TFO_QUEUE, SP_O_USER_TIMEOUT, SP_O_SYNCNT, SP_O_REUSEADDR, SP_O_REUSEPORT,
    SP_O_V6ONLY, SP_O_NONBLOCK, SP_O_MARK, SP_O_TOS, SP_O_RCVBUF, SP_O_SNDBUF, SP_O_LINGER,
    SP_O_CONGESTION, SP_O_BINDDEV, SP_O_CONNECT_TIMEOUT, SP_O_PIN, SP_O_ERRNO, SP_O_RATE,
    SP_O_BY, SP_O_COUNT
};
/* The option named s[0..n), or -1. */
int sp__opt_lookup(const char *s, size_t n);
const char *sp__opt_name(int id);
/* The ops (bit per enum sp_op) for which an option means something. */
unsigned sp__opt_ops(int id);

/* Matching (match.c): evaluates one rule's call matches (not prog/uid) against a decoded
 * query; used by the linear fallback and for AF_UNIX path rules. */
struct sp_qkey {
    int ft;          /* fi * 3 + ti */
    int has_ip, has_port, has_path;
    struct sp_pfx ip; /* len = 32 or 128 */
    uint32_t port;
    const char *path;
    size_t path_len;
};
int sp__cond_match(const struct sp_policy *p, const struct sp_cond *c, const struct sp_qkey *k);
void sp__qkey(const struct sp_query *q, struct sp_qkey *k);

/* Internal load options, for the fuzzer (includes would read the fuzzer's file system). */
struct sp_load_opts {
    int no_includes;
    unsigned flags; /* SP_LOAD_* */
};
/* PATH.spc mapped when it is intact, fresh and compiled from PATH itself, else NULL (errno
 * says why; when PATH.spc exists, one warning through diag, which may be NULL, says why). */
struct sp_policy *sp__map_cache_of(const char *path, sp_diag_fn diag, void *ctx);
struct sp_policy *sp__load_mem_opts(const char *name, const char *buf, size_t len,
                                    sp_diag_fn diag, void *ctx, const struct sp_load_opts *o);
/* The matcher falls back to a linear scan when an op's class table would hold more cells
 * than this (tests lower it to exercise the fallback). */
extern size_t sp__table_limit;

/* The language's words for operations (SP_OP_COUNT of them, then "any") and actions (from
 * SP_ACT_SET on): names.c, the one table of each. */
#define SP_ACT_COUNT (SP_ACT_DELAY - SP_ACT_SET + 1)
extern const char *const sp__op_words[SP_OP_COUNT + 1];
extern const char *const sp__action_words[SP_ACT_COUNT];

#endif
