/* policy/load.c: the loader's driver: a policy from a file (or the cache) or from memory, its
 * lines split into words and handed to the settings (settings.c), include (include.c),
 * default and rule parsers (rule.c), and the compiled blob assembled from what they
 * appended. No malloc, no stdio, no lock: this may run inside a hooked call. */
#include <errno.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "load_int.h"

/* ---- lines ---- */

/* Eight bytes at a time (SWAR): the lowest flagged byte of these masks is exact, the ones
 * above it may not be, so only the first is used, or the bytes are looked at one by one. */
#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull
static inline uint64_t load8(const char *s)
{
    uint64_t x;
    memcpy(&x, s, 8);
    return x;
}
static inline uint64_t zero_bytes(uint64_t x)
{
    return (x - ONES) & ~x & HIGHS;
}

/* The first blank (space or tab) in s[i..n), or n. */
static unsigned next_blank(const char *s, unsigned i, unsigned n)
{
    for (; i + 8 <= n; i += 8) {
        uint64_t x = load8(s + i);
        uint64_t m = zero_bytes(x ^ (ONES * ' ')) | zero_bytes(x ^ (ONES * '\t'));
        if (m)
            return i + (unsigned)__builtin_ctzll(m) / 8;
    }
    while (i < n && s[i] != ' ' && s[i] != '\t')
        i++;
    return i;
}

/* 1 + the position of the first control character (below 0x20 but tab, or 0x7f), 0 if none. */
static unsigned first_control(const char *s, unsigned n)
{
    unsigned i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x = load8(s + i);
        /* a byte below 0x20 (bytes from 0x80 up are let through by ~x), or 0x7f */
        if (!(((x - ONES * 0x20) & ~x & HIGHS) | zero_bytes(x ^ (ONES * 0x7f))))
            continue;
        for (unsigned j = i; j < i + 8; j++) {
            unsigned char c = (unsigned char)s[j];
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                return j + 1;
        }
    }
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return i + 1;
    }
    return 0;
}

static void parse_words(struct sp_ld *L, const char *s, unsigned n)
{
    L->nw = 0;
    for (unsigned i = 0; i < n;) {
        if (s[i] == ' ' || s[i] == '\t') {
            i++;
            continue;
        }
        if (s[i] == '#')
            break;
        unsigned st = i;
        i = next_blank(s, i, n);
        if (L->nw == SP_MAX_WORDS) {
            sp__report(L, 0, st + 1, "too many words on one line (the limit is 64)", NULL, 0,
                       "");
            L->nw = 0;
            return;
        }
        L->w[L->nw++] = (struct sp_word){s + st, i - st, st + 1};
    }
}

static void parse_line(struct sp_ld *L)
{
    if (L->nw == 0 || sp__parse_setting(L))
        return;
    if (sp__streq(L->w[0].s, L->w[0].n, "include"))
        sp__parse_include(L);
    else if (sp__streq(L->w[0].s, L->w[0].n, "default"))
        sp__parse_default(L);
    else
        sp__parse_rule(L);
}

void sp__parse_buffer(struct sp_ld *L, const char *buf, size_t len)
{
    const char *nul = memchr(buf, 0, len);
    size_t end = nul ? (size_t)(nul - buf) : len;
    int crlf_warned = 0;
    unsigned line = 0;
    size_t pos = 0;
    if (len >= 3 && (unsigned char)buf[0] == 0xef && (unsigned char)buf[1] == 0xbb &&
        (unsigned char)buf[2] == 0xbf)
        pos = 3; /* a UTF-8 byte order mark */
    while (pos < len && !L->gave_up) {
        const char *s = buf + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - s) : len - pos;
        line++;
        L->line = line;
        L->line_text = s;
        L->line_len = n > SP_MAX_LINE ? SP_MAX_LINE : (unsigned)n;
        if (nul && pos + n > end) {
            unsigned col = (unsigned)(end - pos) + 1;
            L->line_len = col - 1 > SP_MAX_LINE ? SP_MAX_LINE : col - 1;
            sp__report_num(L, 0, col, "binary file: NUL byte at offset ", end, "; not a policy");
            return;
        }
        pos += n + 1;
        if (n > SP_MAX_LINE) {
            sp__report_num(L, 0, 1, "line too long (", n, " bytes; the limit is 4096)");
            continue;
        }
        if (n && s[n - 1] == '\r') {
            n--;
            L->line_len = (unsigned)n;
            if (!crlf_warned++)
                sp__report(L, 1, (unsigned)n + 1,
                           "CRLF line ends: the carriage returns are ignored", NULL, 0, "");
        }
        unsigned bad = first_control(s, (unsigned)n);
        if (bad) {
            static const char hex[] = "0123456789abcdef";
            unsigned char c = (unsigned char)s[bad - 1];
            char x[5] = {'0', 'x', hex[c >> 4], hex[c & 15], 0};
            struct sp_sbuf b = {L->msg, 0, sizeof L->msg};
            sp__puts(&b, "control character ");
            sp__puts(&b, x);
            sp__puts(&b, " in the line");
            sp__report_msg(L, 0, bad);
            continue;
        }
        parse_words(L, s, (unsigned)n);
        parse_line(L);
    }
}

/* ---- the blob ---- */

static struct sp_policy *finish(struct sp_ld *L)
{
    struct sp_policy *p = NULL;
    int borrowed = 0; /* p is in L->scratch */
    uint32_t nsrc = (uint32_t)(L->src.used / sizeof(struct sp_src)), src_off = 0;
    if (nsrc && !L->nerr) {
        src_off = sp__arena_alloc(&L->data, L->src.used, 8);
        if (src_off != SP_NONE)
            memcpy(L->data.base + src_off, L->src.base, L->src.used);
    }
    int fail = L->nerr || L->recs.failed || L->data.failed || L->src.failed;
    if (!fail) {
        /* Small: header, records and data 64-byte aligned, copied into a populated mapping.
         * Large: each part on its own pages, which are moved there rather than copied. */
        int big = L->recs.used + L->data.used >= SP_MOVE_MIN;
        size_t al = big ? 4096 : 64;
        size_t hdr = (sizeof(struct sp_policy) + al - 1) & ~(al - 1);
        size_t recs = (L->recs.used + al - 1) & ~(al - 1);
        size_t size = hdr + recs + L->data.used;
        void *m;
        if (!big && size <= SP_SCR_FILE && !L->filebuf_busy) {
            /* Tiny: assembled in the scratch's file buffer (no file is being read now),
             * which sp__compile copies into the final mapping. */
            m = L->scratch + SP_SCR_LEN - SP_SCR_FILE;
            memset(m, 0, size);
            borrowed = 1;
        } else {
            m = mmap(NULL, big ? SP_PAGE_UP(size) : size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | (big ? 0 : MAP_POPULATE), -1, 0);
        }
        if (m != MAP_FAILED) {
            p = m;
            p->magic = SP_MAGIC;
            p->version = 1;
            p->size = size;
            p->settings = L->st;
            p->recs_off = (uint32_t)hdr;
            p->nrules = (uint32_t)(L->recs.used / sizeof(struct sp_rec));
            p->data_off = (uint32_t)(hdr + recs);
            p->data_len = (uint32_t)L->data.used;
            sp__arena_move(&L->recs, (char *)p + hdr, L->recs.used);
            sp__arena_move(&L->data, (char *)p + p->data_off, L->data.used);
            const struct sp_rec *r = sp__recs(p);
            for (uint32_t i = 0; i < p->nrules; i++)
                p->op_rules[r[i].pub.op]++;
            p->nsrc = nsrc;
            p->src_off = src_off;
            sp__relocate(p);
        }
    }
    sp__arena_free(&L->src);
    sp__arena_free(&L->recs);
    sp__arena_free(&L->data);
    sp__arena_free(&L->tmp);
    sp__arena_free(&L->idx);
    if (!p) {
        munmap(L->scratch, SP_SCR_LEN);
        errno = fail && !L->recs.failed && !L->data.failed ? EINVAL : ENOMEM;
        return NULL;
    }
    p = sp__compile(p, borrowed);
    int e = errno;
    munmap(L->scratch, SP_SCR_LEN);
    errno = e;
    return p;
}

static int start(struct sp_ld *L, sp_diag_fn diag, void *ctx, const struct sp_load_opts *o,
                 unsigned flags)
{
    memset(L, 0, sizeof *L);
    L->flags = flags;
    L->diag = diag;
    L->ctx = ctx;
    L->opts = o;
    L->file_off = L->cwd_off = SP_NONE;
    L->priv = sp__privileged();
    L->secure = getauxval(AT_SECURE) != 0;
    L->euid = geteuid();
    struct timespec t0;
    if (clock_gettime(CLOCK_REALTIME_COARSE, &t0) != 0)
        t0.tv_sec = t0.tv_nsec = 0; /* every source then counts as racy: checked by content */
    L->t0_sec = (int64_t)t0.tv_sec;
    L->t0_nsec = (int64_t)t0.tv_nsec;
    L->st.log_level = SP_LOG_FAILURES;
    for (int i = 0; i < SP_OP_COUNT; i++) {
        L->st.default_action[i] = SP_ACT_PASS;
        L->st.default_errno[i] = EACCES;
    }
    /* One mmap for the arenas' first 64 KiB each and a small file's buffer: fixed costs are
     * syscalls, and each munmap of touched pages flushes the TLB. */
    char *m = mmap(NULL, SP_SCR_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        errno = ENOMEM;
        return -1;
    }
    L->scratch = m;
    sp__arena_carve(&L->recs, m, SP_SCR_ARENA);
    sp__arena_carve(&L->data, m + SP_SCR_ARENA, SP_SCR_ARENA);
    sp__arena_carve(&L->tmp, m + 2 * SP_SCR_ARENA, SP_SCR_ARENA);
    sp__arena_carve(&L->src, m + 3 * SP_SCR_ARENA, SP_SCR_SRC);
    if (sp__shadow_init(L)) {
        munmap(m, SP_SCR_LEN);
        errno = ENOMEM;
        return -1;
    }
    sp__arena_alloc(&L->data, 1, 1); /* offset 0 is the empty string */
    return 0;
}

struct sp_policy *sp_policy_load(const char *path, sp_diag_fn diag, void *ctx)
{
    return sp_policy_load_ex(path, 0, diag, ctx);
}

struct sp_policy *sp_policy_load_ex(const char *path, unsigned flags, sp_diag_fn diag, void *ctx)
{
    struct sp_settings st; /* the settings are in the policy too */
    return sp_policy_load_st(path, flags, diag, ctx, &st);
}

struct sp_policy *sp__load_mem_opts(const char *name, const char *buf, size_t len,
                                    sp_diag_fn diag, void *ctx, const struct sp_load_opts *o)
{
    struct sp_ld L;
    int saved = errno;
    if (start(&L, diag, ctx, o, o ? o->flags : 0))
        return NULL;
    size_t n = sp__strlen(name);
    uint32_t off = sp__arena_alloc(&L.data, n + 1, 1);
    if (off != SP_NONE) {
        memcpy(L.data.base + off, name, n + 1);
        L.file_off = off;
        L.file = L.data.base + off;
        L.depth = 0;
        sp__size_for_input(&L, len);
        sp__parse_buffer(&L, buf, len);
    }
    struct sp_policy *p = finish(&L);
    if (p)
        errno = saved;
    return p;
}

struct sp_policy *sp_policy_load_mem(const char *name, const char *buf, size_t len,
                                     sp_diag_fn diag, void *ctx)
{
    return sp__load_mem_opts(name, buf, len, diag, ctx, NULL);
}

struct sp_policy *sp_policy_load_st(const char *path, unsigned flags, sp_diag_fn diag, void *ctx,
                                    struct sp_settings *st)
{
    struct sp_ld L;
    int saved = errno;
    if (flags & SP_LOAD_CACHE) {
        struct sp_policy *c = sp__map_cache_of(path, diag, ctx);
        if (c) {
            *st = *sp_policy_settings(c);
            errno = saved;
            return c;
        }
        errno = saved;
    }
    if (start(&L, diag, ctx, NULL, flags)) {
        memset(st, 0, sizeof *st);
        return NULL;
    }
    sp__load_file(&L, path);
    *st = L.st; /* finish() leaves the settings as they were read */
    struct sp_policy *p = finish(&L);
    if (p)
        errno = saved;
    return p;
}
