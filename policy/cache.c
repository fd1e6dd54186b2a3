/* policy/cache.c: compiled policies in files. sp_policy_save() writes the compiled blob (it is
 * position independent) behind a header; sp_policy_map() maps it back, after checking that it
 * is whole (size, checksum), of this build's layout, and fresh (every source file and scanned
 * directory still has the identity it had when it was compiled). Then only the rule records'
 * two pointers are rebuilt. No malloc, no stdio, no lock: the shim may map it inside a hook. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h> /* rename() only: a system call, no streams */
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <stdint.h>
#include <time.h>
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

/* ---- trust: the rules a privileged process reads by ---- */

int sp__privileged(void)
{
    return getauxval(AT_SECURE) != 0 || geteuid() == 0;
}

const char *sp__untrusted(const struct stat *sb, uid_t euid)
{
    if (sb->st_uid != 0 && sb->st_uid != euid)
        return "owned by another user (neither root nor the effective user)";
    if (sb->st_mode & (S_IWGRP | S_IWOTH))
        return "writable by group or others";
    return NULL;
}

static int vet_refused(char *why, size_t size, const char *a, const char *b)
{
    struct sp_sbuf w = {why, 0, size};
    sp__puts(&w, " is refused in a privileged process: ");
    sp__puts(&w, a);
    sp__puts(&w, b);
    return SP_LOGFILE_REFUSED;
}

/* The nearest existing directory of dir (shortened in place): where the log file, or the
 * first of its missing directories, would be made. 0 with errno when none can be found. */
static int ancestor(char *dir, struct stat *db)
{
    for (;;) {
        if (stat(dir, db) == 0)
            return 1;
        size_t n = sp__strlen(dir);
        if (errno != ENOENT || n <= 1)
            return 0;
        while (n > 1 && dir[n - 1] != '/')
            n--;
        dir[n > 1 ? n - 1 : 1] = 0;
    }
}

int sp__vet_log_file(const char *path, uid_t euid, char *why, size_t size)
{
    int saved = errno;
    struct stat sb, db;
    char dir[256];
    size_t n = sp__strlen(path), slash = 0;
    int rc = SP_LOGFILE_VETTED;
    if (n >= sizeof dir || path[0] != '/')
        return vet_refused(why, size, "not an absolute path", "");
    for (size_t i = 0; i < n; i++)
        if (path[i] == '/')
            slash = i;
    memcpy(dir, path, slash ? slash : 1);
    dir[slash ? slash : 1] = 0;
    int exists = lstat(path, &sb) == 0;
    const char *u;
    if (!exists && errno != ENOENT)
        rc = vet_refused(why, size, strerrordesc_np(errno), "");
    else if (exists && S_ISLNK(sb.st_mode))
        rc = vet_refused(why, size, "a symbolic link", "");
    else if (exists && !S_ISREG(sb.st_mode) && !S_ISFIFO(sb.st_mode))
        rc = vet_refused(why, size, "not a regular file or FIFO", "");
    else if (exists && (u = sp__untrusted(&sb, euid)) != NULL)
        rc = vet_refused(why, size, u, "");
    else if (!ancestor(dir, &db))
        rc = vet_refused(why, size, "its directory: ", strerrordesc_np(errno));
    else if (db.st_uid != 0 && db.st_uid != euid)
        rc = vet_refused(why, size, "its directory is owned by another user", "");
    else if ((db.st_mode & (S_IWGRP | S_IWOTH)) && !(exists && (db.st_mode & S_ISVTX)))
        rc = vet_refused(why, size, "its directory is writable by group or others",
                         exists ? "" : " (another user could put a file or link there first)");
    errno = saved;
    return rc;
}

/* The checksum of the file at path now, if it is a regular file of size bytes (0 and -1
 * else); follows no symbolic link when nofollow. */
static int content_hash(const char *path, uint64_t size, int nofollow, uint64_t *hash,
                        struct stat *after)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (nofollow ? O_NOFOLLOW : 0));
    if (fd < 0)
        return -1;
    struct stat sb;
    int rc = -1;
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == size &&
        size <= SP_MAX_FILE) {
        size_t len = size ? (size_t)size : 1, got = 0;
        char *buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (buf != MAP_FAILED) {
            while (got < size) {
                ssize_t r = read(fd, buf + got, (size_t)size - got);
                if (r < 0 && errno == EINTR)
                    continue;
                if (r <= 0)
                    break;
                got += (size_t)r;
            }
            if (got == size && fstat(fd, after) == 0) {
                *hash = sp__checksum(buf, got);
                rc = 0;
            }
            munmap(buf, len);
        }
    }
    sp__close(fd);
    return rc;
}

static int same_identity(const struct sp_src *s, const struct stat *sb)
{
    return (uint64_t)sb->st_dev == s->dev && (uint64_t)sb->st_ino == s->ino &&
           (uint64_t)sb->st_size == s->size && (int64_t)sb->st_mtim.tv_sec == s->mtim_sec &&
           (int64_t)sb->st_mtim.tv_nsec == s->mtim_nsec &&
           (S_ISDIR(sb->st_mode) != 0) == (s->is_dir != 0) &&
           (s->is_dir || ((int64_t)sb->st_ctim.tv_sec == s->ctim_sec &&
                          (int64_t)sb->st_ctim.tv_nsec == s->ctim_nsec));
}

/* A source read in the tick it last changed in (racy) may have changed again unseen since;
 * once that tick is over (waiting for it, briefly, if need be), reading it again settles it:
 * the same bytes and the same identity now mean that any later change moves its ctime. */
static void settle_racy(struct sp_src *s, const char *path)
{
    for (int i = 0; i < 100; i++) { /* at most about 100 ms */
        struct timespec now;
        if (clock_gettime(CLOCK_REALTIME_COARSE, &now) != 0)
            return;
        if ((int64_t)now.tv_sec > s->ctim_sec ||
            ((int64_t)now.tv_sec == s->ctim_sec && (int64_t)now.tv_nsec > s->ctim_nsec))
            break;
        if (i == 99)
            return;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    uint64_t h;
    struct stat sb;
    if (content_hash(path, s->size, 0, &h, &sb) == 0 && h == s->hash && same_identity(s, &sb))
        s->racy = 0;
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
            settle_racy(&src[i], (const char *)c + c->data_off + src[i].path_off);
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

/* Whether every source still holds what it was compiled from: its identity proves it (ctime
 * moves with every write), or, when it cannot (the identity moved, or the file had changed
 * in the tick it was read in), its bytes' checksum. A directory: its identity (its mtime
 * moves when a name is added or removed). Privileged: each is trusted as the text would be.
 * NULL, or the path at fault with *why and *err set. */
static const char *stale_source(const struct sp_policy *p, int priv, const char **why, int *err)
{
    const char *d = sp__data(p);
    const struct sp_src *s = (const void *)(d + p->src_off);
    uid_t euid = geteuid();
    for (uint32_t i = 0; i < p->nsrc; i++) {
        struct stat sb;
        const char *path = d + s[i].path_off;
        *err = ESTALE;
        *why = "changed since it was compiled";
        if (s[i].path_off >= p->data_len || !memchr(path, 0, p->data_len - s[i].path_off))
            return "?";
        if (s[i].dev == SP_SRC_MISSING && s[i].ino == SP_SRC_MISSING) {
            if (stat(path, &sb) == 0)
                return path; /* recorded missing, there now */
            continue;
        }
        if ((priv ? lstat(path, &sb) : stat(path, &sb)) != 0)
            return path;
        if (priv && (*why = sp__untrusted(&sb, euid)) != NULL) {
            *err = EPERM;
            return path;
        }
        *why = "changed since it was compiled";
        if (same_identity(&s[i], &sb) && !s[i].racy)
            continue;
        uint64_t h;
        struct stat after;
        if (s[i].is_dir || !S_ISREG(sb.st_mode) ||
            content_hash(path, s[i].size, priv, &h, &after) != 0 || h != s[i].hash)
            return path;
    }
    *err = 0;
    return NULL;
}

/* path made absolute (the working directory joined, as the loader records sources) in buf. */
static const char *absolute(const char *path, char *buf, size_t size)
{
    if (path[0] == '/' || !getcwd(buf, size - 1))
        return path;
    struct sp_sbuf b = {buf, sp__strlen(buf), size};
    sp__puts(&b, "/");
    sp__puts(&b, path);
    return b.len < size - 1 ? buf : path;
}

/* Whether p was compiled from the file at src: its first source is that path, or the same
 * file (device and inode) under another name. */
static int compiled_from(const struct sp_policy *p, const char *src)
{
    const char *d = sp__data(p);
    const struct sp_src *s = (const void *)(d + p->src_off);
    if (!p->nsrc || s[0].is_dir || s[0].path_off >= p->data_len ||
        !memchr(d + s[0].path_off, 0, p->data_len - s[0].path_off))
        return 0;
    char buf[4096 + 8];
    struct stat sb;
    return !strcmp(absolute(src, buf, sizeof buf), d + s[0].path_off) ||
           (stat(src, &sb) == 0 && (uint64_t)sb.st_dev == s[0].dev && (uint64_t)sb.st_ino == s[0].ino);
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
    else if (src && !compiled_from(p, src))
        err = EXDEV;
    else
        stale = stale_source(p, priv, &why, &err);
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
        s[i].mtim_sec = s[i].mtim_nsec = s[i].ctim_sec = s[i].ctim_nsec = 0;
        s[i].racy = 0;
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
