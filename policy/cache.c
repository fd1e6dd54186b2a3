/* policy/cache.c: compiled policies in files. sp_policy_save() writes the compiled blob (it is
 * position independent) behind a header; sp_policy_map() maps it back, after checking that it
 * is whole (size, checksum), of this build's layout, and fresh (every source file and scanned
 * directory still has the identity it had when it was compiled: sources.c). Then only the
 * rule records' two pointers are rebuilt. No malloc, no stdio, no lock: the shim may map it
 * inside a hook. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h> /* rename() only: a system call, no streams */
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <stdint.h>
#include <unistd.h>

#include "load_int.h"
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
    c->settings.log_file_trust = SP_LOGFILE_UNCHECKED; /* the mapping process vets it */
    struct sp_src *src = (struct sp_src *)(void *)((char *)c + c->data_off + c->src_off);
    for (uint32_t i = 0; i < c->nsrc; i++)
        if (src[i].racy && src[i].path_off < c->data_len)
            sp__settle_racy(&src[i], (const char *)c + c->data_off + src[i].path_off);
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
        if (sp__close(fd) != 0)
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

/* sev 0: an error (sp_policy_map); 1: a warning, and the text is read instead (the cache). */
static struct sp_policy *refuse(const char *path, int sev, sp_diag_fn diag, void *ctx, int err,
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
    if (sev)
        sp__puts(&b, "; reading the text instead");
    struct sp_diag d = {sev, path, 0, 0, msg, NULL, 0};
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

/* Maps the compiled policy at path; when src is not NULL, only if it was compiled from src
 * (and a missing path is then no news: NULL, ENOENT, nothing reported). Reports at sev. */
static struct sp_policy *map_bound(const char *path, const char *src, int sev, sp_diag_fn diag,
                                   void *ctx)
{
    int saved = errno;
    struct stat sb;
    struct cache_hdr h;
    int priv = sp__privileged();
    /* Non-blocking: a FIFO is refused, not waited on. Not through a symbolic link: a compiled
     * policy is used at its own path only (a link could lend it to another text). */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT && src) {
        errno = ENOENT;
        return NULL;
    }
    if (fd < 0 && errno == ELOOP)
        return refuse(path, sev, diag, ctx, ELOOP, "a symbolic link", NULL);
    if (fd < 0)
        return refuse(path, sev, diag, ctx, errno, "cannot open", strerrordesc_np(errno));
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        sp__close(fd);
        return refuse(path, sev, diag, ctx, EBADMSG, "not a regular file", NULL);
    }
    if ((sb.st_mode & (S_IWGRP | S_IWOTH)) || (sb.st_uid != 0 && sb.st_uid != geteuid())) {
        sp__close(fd);
        return refuse(path, sev, diag, ctx, EPERM, "writable by others, or owned by another user", NULL);
    }
    uint64_t fsize = (uint64_t)sb.st_size;
    ssize_t got = fsize >= CACHE_HDR ? pread(fd, &h, sizeof h, 0) : 0;
    if (got != (ssize_t)sizeof h || memcmp(h.magic, CACHE_MAGIC, 8) != 0) {
        sp__close(fd);
        return refuse(path, sev, diag, ctx, EBADMSG, "not a compiled policy", NULL);
    }
    uint64_t check = h.hdr_check;
    hdr_seal(&h);
    if (h.hdr_check != check || h.version != CACHE_VERSION || h.hdr_size != CACHE_HDR ||
        h.layout != layout_id()) {
        sp__close(fd);
        return refuse(path, sev, diag, ctx, EBADMSG, "damaged header, or written by another version", NULL);
    }
    if (h.blob_size != fsize - CACHE_HDR || h.blob_size < sizeof(struct sp_policy) ||
        h.blob_size > 0xffffffffu) {
        sp__close(fd);
        return refuse(path, sev, diag, ctx, EBADMSG, "truncated or extended", NULL);
    }
    char *m = mmap((void *)(uintptr_t)h.base, fsize, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    sp__close(fd);
    if (m == MAP_FAILED)
        return refuse(path, sev, diag, ctx, ENOMEM, "cannot map it", NULL);
    struct sp_policy *p = (struct sp_policy *)(void *)(m + CACHE_HDR);
    const char *stale = NULL, *why = NULL;
    int err = 0;
    if (sp__checksum(p, h.blob_size) != h.checksum || !blob_sane(p, h.blob_size))
        err = EBADMSG;
    else if (src && !sp__compiled_from(p, src))
        err = EXDEV;
    else
        stale = sp__stale_source(p, priv, &why, &err);
    if (err == EXDEV) {
        const char *d = sp__data(p);
        const struct sp_src *s0 = (const void *)(d + p->src_off);
        refuse(path, sev, diag, ctx, err, "compiled from another file",
               p->nsrc && s0->path_off < p->data_len && memchr(d + s0->path_off, 0, p->data_len - s0->path_off)
                   ? d + s0->path_off : "not from a file");
    } else if (err == EBADMSG) {
        refuse(path, sev, diag, ctx, err, "damaged (checksum)", NULL);
    } else if (stale) {
        char what[640];
        struct sp_sbuf b = {what, 0, sizeof what};
        sp__puts(&b, stale);
        sp__puts(&b, err == EPERM ? ": refused in a privileged process: " : " ");
        sp__puts(&b, why);
        refuse(path, sev, diag, ctx, err, err == EPERM ? "a source is not trusted" : "stale", what);
    }
    if (err) {
        munmap(m, fsize);
        errno = err;
        return NULL;
    }
    if ((uint64_t)(uintptr_t)m != h.base)
        sp__relocate(p);
    p->map_base = m;
    p->map_len = fsize;
    struct sp_settings *st = &p->settings;
    st->log_file_trust = SP_LOGFILE_UNCHECKED;
    if (priv && st->log_target == SP_LOGTO_FILE && memchr(st->log_file, 0, sizeof st->log_file)) {
        char vwhy[160];
        st->log_file_trust = sp__vet_log_file(st->log_file, geteuid(), vwhy, sizeof vwhy);
    }
    errno = saved;
    return p;
}

struct sp_policy *sp_policy_map(const char *path, sp_diag_fn diag, void *ctx)
{
    return map_bound(path, NULL, 0, diag, ctx);
}

struct sp_policy *sp__map_cache_of(const char *path, sp_diag_fn diag, void *ctx)
{
    char buf[4096 + 8];
    size_t n = sp__strlen(path);
    if (n > 4096) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    memcpy(buf, path, n);
    memcpy(buf + n, ".spc", 5);
    return map_bound(buf, path, 1, diag, ctx);
}

struct sp_policy *sp_policy_map_compiled(const char *path, sp_diag_fn diag, void *ctx)
{
    return sp__map_cache_of(path, diag, ctx);
}

