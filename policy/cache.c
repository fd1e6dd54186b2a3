/* policy/cache.c: compiled policies in files. sp_policy_save() writes the compiled blob (it is
 * position independent) behind a header; sp_policy_map() maps it back, after checking that it
 * is whole (size, checksum), of this build's layout, and fresh (every source file and scanned
 * directory still has the identity it had when it was compiled). Then only the rule records'
 * two pointers are rebuilt. No malloc, no stdio, no lock: the shim may map it inside a hook. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h> /* rename() only: a system call, no streams */
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <stdint.h>
#include <unistd.h>

#include "match_int.h"

#define CACHE_MAGIC "SPCOMP1\n"
#define CACHE_VERSION SP_COMPILED_FORMAT /* policy.h */
#define CACHE_HDR 4096u /* the blob starts on its own page */

struct cache_hdr {
    char magic[8];
    uint32_t version, hdr_size;
    uint64_t layout;    /* the sizes of the blob's structures: another build's is refused */
    uint64_t blob_size;
    uint64_t checksum;  /* of the blob */
    uint64_t base;      /* the address the records' pointers were written for */
    uint64_t hdr_check; /* of the fields above */
};

/* Where a compiled policy asks to be mapped: mapped there, its rule records' pointers are
 * already right and are not rewritten (no copy-on-write of the records' pages). Elsewhere it
 * is relocated. An unused part of the x86-64 address space (also outside ASan's shadow); a
 * kernel that cannot honour the hint places it elsewhere. */
static uint64_t preferred_base(uint64_t seed, size_t size)
{
#if defined(__x86_64__)
    if (size < (1ull << 32))
        return 0x200000000000ull + ((seed >> 12) & 0xffffull) * (1ull << 28);
#endif
    (void)seed;
    (void)size;
    return 0;
}

static uint64_t layout_id(void)
{
    uint64_t v[] = {sizeof(struct sp_policy), sizeof(struct sp_rec), sizeof(struct sp_cond),
                    sizeof(struct sp_rule), sizeof(struct bio_optset), sizeof(struct sp_matcher),
                    sizeof(struct sp_opm), sizeof(struct sp_pfx), sizeof(struct sp_src),
                    SP_OP_COUNT, SP_FT_COUNT, SP_MAGIC};
    return sp__checksum(v, sizeof v);
}

static inline uint64_t lane(uint64_t h, uint64_t w)
{
    h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
    return h ^ (h >> 32);
}

/* Two words into a lane: a bijection of the lane and of each word, so that one changed word
 * always changes the sum; three operations per 16 bytes. */
static inline uint64_t lane2(uint64_t h, uint64_t w0, uint64_t w1)
{
    return (h ^ w0) * 0x9e3779b97f4a7c15ULL + w1;
}

uint64_t sp__checksum(const void *buf, size_t n)
{
    const unsigned char *b = buf;
    uint64_t h0 = n, h1 = 0x243f6a8885a308d3ULL, h2 = 0x13198a2e03707344ULL,
             h3 = 0xa4093822299f31d0ULL;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) { /* four independent lanes */
        uint64_t w[8];
        memcpy(w, b + i, 64);
        h0 = lane2(h0, w[0], w[1]);
        h1 = lane2(h1, w[2], w[3]);
        h2 = lane2(h2, w[4], w[5]);
        h3 = lane2(h3, w[6], w[7]);
    }
    for (; i < n; i++)
        h0 = lane(h0, b[i] | 0x100u);
    uint64_t h = lane(lane(lane(lane(0, h0), h1), h2), h3);
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    return h ^ (h >> 32);
}

static void hdr_seal(struct cache_hdr *h)
{
    h->hdr_check = sp__checksum(h, offsetof(struct cache_hdr, hdr_check));
}

static int write_all(int fd, const void *buf, size_t n)
{
    const char *s = buf;
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

int sp_policy_save(const struct sp_policy *p, const char *path)
{
    int saved = errno;
    if (!p || p->magic != SP_MAGIC || !p->match_off || !path) {
        errno = EINVAL;
        return -1;
    }
    /* A clean copy: the process-local part zeroed, the records' pointers cleared. */
    size_t mlen = CACHE_HDR + p->size;
    char *m = mmap(NULL, mlen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return -1;
    struct sp_policy *c = (struct sp_policy *)(void *)(m + CACHE_HDR);
    memcpy(c, p, p->size);
    memset((char *)c + SP_POLICY_LOCAL_OFF, 0, sizeof *c - SP_POLICY_LOCAL_OFF);
    struct cache_hdr *h = (struct cache_hdr *)(void *)m;
    h->base = preferred_base(sp__checksum(c, c->size < 65536 ? c->size : 65536) ^ (uint64_t)getpid(),
                             mlen);
    struct sp_rec *r = (struct sp_rec *)(void *)((char *)c + c->recs_off);
    const char *d = (const char *)(uintptr_t)(h->base + CACHE_HDR + c->data_off);
    for (uint32_t i = 0; i < c->nrules; i++) {
        r[i].pub.file = h->base ? d + r[i].c.file_off : NULL;
        r[i].pub.text = h->base ? d + r[i].c.text_off : NULL;
    }
    memcpy(h->magic, CACHE_MAGIC, 8);
    h->version = CACHE_VERSION;
    h->hdr_size = CACHE_HDR;
    h->layout = layout_id();
    h->blob_size = p->size;
    h->checksum = sp__checksum(c, p->size);
    hdr_seal(h);

    /* PATH.tmp.PID, then renamed over PATH: a reader sees the old file or the new one. */
    size_t n = sp__strlen(path);
    char tmp[4096 + 32];
    struct sp_sbuf b = {tmp, 0, sizeof tmp};
    if (n > 4096) {
        munmap(m, mlen);
        errno = ENAMETOOLONG;
        return -1;
    }
    sp__puts(&b, path);
    sp__puts(&b, ".tmp.");
    sp__putu(&b, (uint64_t)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    int rc = -1;
    if (fd >= 0) {
        rc = write_all(fd, m, mlen);
        if (rc == 0)
            rc = fchmod(fd, 0644); /* whatever the umask: the shim reads it as any user */
        if (close(fd) != 0)
            rc = -1;
        if (rc == 0)
            rc = rename(tmp, path);
        if (rc != 0) {
            int e = errno;
            unlink(tmp);
            errno = e;
        }
    }
    int e = errno;
    munmap(m, mlen);
    errno = rc == 0 ? saved : e;
    return rc;
}

static struct sp_policy *refuse(const char *path, sp_diag_fn diag, void *ctx, int err,
                                const char *why, const char *what)
{
    char msg[640];
    struct sp_sbuf b = {msg, 0, sizeof msg};
    sp__puts(&b, "compiled policy refused: ");
    sp__puts(&b, why);
    if (what) {
        sp__puts(&b, " (");
        sp__puts(&b, what);
        sp__puts(&b, ")");
    }
    struct sp_diag d = {0, path, 0, 0, msg, NULL, 0};
    if (diag)
        diag(ctx, &d);
    errno = err;
    return NULL;
}

/* Offsets and counts of the blob within its size: a checksum guards against accidents, this
 * against reading outside the mapping if the two ever disagree. */
static int blob_sane(const struct sp_policy *p, uint64_t size)
{
    if (p->magic != SP_MAGIC || p->version != 1 || p->size != size)
        return 0;
    if (p->recs_off > size || (uint64_t)p->nrules * sizeof(struct sp_rec) > size - p->recs_off)
        return 0;
    if (p->data_off > size || p->data_len > size - p->data_off || !p->data_len)
        return 0;
    if (!p->match_off || p->match_off % 64 || (uint64_t)p->match_off + sizeof(struct sp_matcher) > size)
        return 0;
    if (p->src_off > p->data_len || (uint64_t)p->nsrc * sizeof(struct sp_src) > p->data_len - p->src_off)
        return 0;
    const struct sp_rec *r = sp__recs(p);
    for (uint32_t i = 0; i < p->nrules; i++)
        if (r[i].c.file_off >= p->data_len || r[i].c.text_off >= p->data_len ||
            (unsigned)r[i].pub.op >= SP_OP_COUNT)
            return 0;
    return 1;
}

/* Whether every source still has the identity it was compiled from. */
static const char *stale_source(const struct sp_policy *p)
{
    const char *d = sp__data(p);
    const struct sp_src *s = (const void *)(d + p->src_off);
    for (uint32_t i = 0; i < p->nsrc; i++) {
        struct stat sb;
        const char *path = d + s[i].path_off;
        if (s[i].path_off >= p->data_len || !memchr(path, 0, p->data_len - s[i].path_off))
            return "?";
        if (s[i].dev == SP_SRC_MISSING && s[i].ino == SP_SRC_MISSING) {
            if (stat(path, &sb) == 0)
                return path; /* recorded missing, there now */
            continue;
        }
        if (stat(path, &sb) != 0 || (uint64_t)sb.st_dev != s[i].dev ||
            (uint64_t)sb.st_ino != s[i].ino || (uint64_t)sb.st_size != s[i].size ||
            (int64_t)sb.st_mtim.tv_sec != s[i].mtim_sec ||
            (int64_t)sb.st_mtim.tv_nsec != s[i].mtim_nsec || (S_ISDIR(sb.st_mode) != 0) != (s[i].is_dir != 0))
            return path;
    }
    return NULL;
}

static uint64_t id_mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdULL;
}

uint64_t sp_policy_sources_id(const struct sp_policy *p, int now)
{
    int saved = errno;
    const char *d = sp__data(p);
    const struct sp_src *s = (const void *)(d + p->src_off);
    uint64_t h = 0x736f7572636573ULL + p->nsrc;
    for (uint32_t i = 0; i < p->nsrc; i++) {
        uint64_t dev = s[i].dev, ino = s[i].ino, size = s[i].size;
        int64_t sec = s[i].mtim_sec, nsec = s[i].mtim_nsec;
        if (now) {
            struct stat sb;
            const char *path = d + s[i].path_off;
            if (s[i].path_off >= p->data_len || !memchr(path, 0, p->data_len - s[i].path_off) ||
                stat(path, &sb) != 0) {
                dev = ino = size = ~0ULL; /* vanished: never equal to a recorded identity */
                sec = nsec = -1;
            } else {
                dev = (uint64_t)sb.st_dev;
                ino = (uint64_t)sb.st_ino;
                size = (uint64_t)sb.st_size;
                sec = (int64_t)sb.st_mtim.tv_sec;
                nsec = (int64_t)sb.st_mtim.tv_nsec;
            }
        }
        h = id_mix(id_mix(id_mix(id_mix(id_mix(h, dev), ino), size), (uint64_t)sec), (uint64_t)nsec);
    }
    errno = saved;
    return h;
}

struct sp_policy *sp_policy_map(const char *path, sp_diag_fn diag, void *ctx)
{
    int saved = errno;
    struct stat sb;
    struct cache_hdr h;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return refuse(path, diag, ctx, errno, "cannot open", strerrordesc_np(errno));
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return refuse(path, diag, ctx, EBADMSG, "not a regular file", NULL);
    }
    if ((sb.st_mode & (S_IWGRP | S_IWOTH)) || (sb.st_uid != 0 && sb.st_uid != geteuid())) {
        close(fd);
        return refuse(path, diag, ctx, EPERM, "writable by others, or owned by another user", NULL);
    }
    uint64_t fsize = (uint64_t)sb.st_size;
    ssize_t got = fsize >= CACHE_HDR ? pread(fd, &h, sizeof h, 0) : 0;
    if (got != (ssize_t)sizeof h || memcmp(h.magic, CACHE_MAGIC, 8) != 0) {
        close(fd);
        return refuse(path, diag, ctx, EBADMSG, "not a compiled policy", NULL);
    }
    uint64_t check = h.hdr_check;
    hdr_seal(&h);
    if (h.hdr_check != check || h.version != CACHE_VERSION || h.hdr_size != CACHE_HDR ||
        h.layout != layout_id()) {
        close(fd);
        return refuse(path, diag, ctx, EBADMSG, "damaged header, or written by another version", NULL);
    }
    if (h.blob_size != fsize - CACHE_HDR || h.blob_size < sizeof(struct sp_policy) ||
        h.blob_size > 0xffffffffu) {
        close(fd);
        return refuse(path, diag, ctx, EBADMSG, "truncated or extended", NULL);
    }
    char *m = mmap((void *)(uintptr_t)h.base, fsize, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return refuse(path, diag, ctx, ENOMEM, "cannot map it", NULL);
    struct sp_policy *p = (struct sp_policy *)(void *)(m + CACHE_HDR);
    const char *stale = NULL;
    int err = 0;
    if (sp__checksum(p, h.blob_size) != h.checksum || !blob_sane(p, h.blob_size))
        err = EBADMSG;
    else if ((stale = stale_source(p)) != NULL)
        err = ESTALE;
    if (err) {
        char what[512];
        struct sp_sbuf b = {what, 0, sizeof what};
        if (stale) {
            sp__puts(&b, stale);
            sp__puts(&b, " changed since it was compiled");
        }
        refuse(path, diag, ctx, err, err == ESTALE ? "stale" : "damaged (checksum)",
               stale ? what : NULL);
        munmap(m, fsize);
        errno = err;
        return NULL;
    }
    if ((uint64_t)(uintptr_t)m != h.base)
        sp__relocate(p);
    p->map_base = m;
    p->map_len = fsize;
    errno = saved;
    return p;
}

struct sp_policy *sp__map_cache_of(const char *path)
{
    char buf[4096 + 8];
    size_t n = sp__strlen(path);
    if (n > 4096) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    memcpy(buf, path, n);
    memcpy(buf + n, ".spc", 5);
    return sp_policy_map(buf, NULL, NULL);
}

/* A copy of p's blob as it would be had it been read from the same text anywhere, at any
 * time: the process-local part, the records' pointers and the sources' identities zeroed. */
static char *canonical(const struct sp_policy *p)
{
    char *m = mmap(NULL, p->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    memcpy(m, p, p->size);
    struct sp_policy *c = (struct sp_policy *)(void *)m;
    memset(m + SP_POLICY_LOCAL_OFF, 0, sizeof *c - SP_POLICY_LOCAL_OFF);
    struct sp_rec *r = (struct sp_rec *)(void *)(m + c->recs_off);
    for (uint32_t i = 0; i < c->nrules; i++)
        r[i].pub.file = r[i].pub.text = NULL;
    struct sp_src *s = (struct sp_src *)(void *)(m + c->data_off + c->src_off);
    for (uint32_t i = 0; i < c->nsrc; i++) {
        s[i].dev = s[i].ino = s[i].size = 0;
        s[i].mtim_sec = s[i].mtim_nsec = 0;
    }
    return m;
}

int sp_policy_same(const struct sp_policy *a, const struct sp_policy *b)
{
    if (!a || !b || a->magic != SP_MAGIC || b->magic != SP_MAGIC || a->size != b->size ||
        memcmp(a, b, SP_POLICY_LOCAL_OFF) != 0)
        return 0;
    int saved = errno;
    char *ca = canonical(a), *cb = canonical(b);
    int same = ca && cb && memcmp(ca, cb, a->size) == 0;
    if (ca)
        munmap(ca, a->size);
    if (cb)
        munmap(cb, b->size);
    errno = saved;
    return same;
}
