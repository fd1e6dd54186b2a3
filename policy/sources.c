/* policy/sources.c: what a compiled policy was read from, and whether it still is: the
 * checksum, a file's content hash, the identity (device, inode, size, times) of each source,
 * settling a source read in the tick it changed in, the staleness test the cache makes
 * before trusting a compiled policy, and the sources' identity a reload compares. No
 * malloc, no stdio, no lock. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "load_int.h"

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
void sp__settle_racy(struct sp_src *s, const char *path)
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

/* Whether every source still holds what it was compiled from: its identity proves it (ctime
 * moves with every write), or, when it cannot (the identity moved, or the file had changed
 * in the tick it was read in), its bytes' checksum. A directory: its identity (its mtime
 * moves when a name is added or removed). Privileged: each is trusted as the text would be.
 * NULL, or the path at fault with *why and *err set. */
const char *sp__stale_source(const struct sp_policy *p, int priv, const char **why, int *err)
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
int sp__compiled_from(const struct sp_policy *p, const char *src)
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

