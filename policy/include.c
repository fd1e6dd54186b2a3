/* policy/include.c: reading policy files: the top file and each include (a file, or a
 * directory's files matching a pattern, read with getdents64 and taken in name order), with
 * the checks a privileged process makes, include cycles and depth, and the record of every
 * source read (its identity and hash) by which a reload or the cache sees a change. Each
 * file's text goes to sp__parse_buffer (load.c), whose include lines come back here: the one
 * recursion of the loader. Raw open/read/mmap: no malloc, no stdio, no lock. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "load_int.h"

static const char *err_text(int e)
{
    const char *s = strerrordesc_np(e); /* static text: no locale, no allocation */
    return s ? s : "unknown error";
}

/* Sizes the arenas for a top file of len bytes: a rule line is rarely shorter than 32 bytes
 * and keeps less than twice its length in data. Only address space: an overestimate costs
 * nothing, and the arenas still grow past it. */
void sp__size_for_input(struct sp_ld *L, size_t len)
{
    if (L->depth > 0 || len <= SP_SCR_FILE)
        return;
    sp__arena_reserve(&L->recs, len / 32 * sizeof(struct sp_rec));
    sp__arena_reserve(&L->data, len * 2);
}

static int has_glob(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '*' || s[i] == '?' || s[i] == '[')
            return 1;
    return 0;
}

/* The offset in data of the path at name (in data) made absolute: the working directory
 * joined to a relative one, symbolic links kept, so that a source is found again from any
 * directory. Offsets only: an allocation may move data. */
static uint32_t absolute(struct sp_ld *L, uint32_t name)
{
    if (L->data.base[name] == '/')
        return name;
    if (L->cwd_off == SP_NONE) {
        char cwd[4096];
        if (!getcwd(cwd, sizeof cwd) || cwd[0] != '/')
            return name;
        size_t n = sp__strlen(cwd);
        uint32_t o = sp__arena_alloc(&L->data, n + 1, 1);
        if (o == SP_NONE)
            return name;
        memcpy(L->data.base + o, cwd, n + 1);
        L->cwd_off = o;
    }
    size_t cn = sp__strlen(L->data.base + L->cwd_off), pn = sp__strlen(L->data.base + name);
    uint32_t o = sp__arena_alloc(&L->data, cn + 1 + pn + 1, 1);
    if (o == SP_NONE)
        return name;
    char *s = L->data.base + o;
    memcpy(s, L->data.base + L->cwd_off, cn);
    s[cn] = '/';
    memcpy(s + cn + 1, L->data.base + name, pn + 1);
    return o;
}

/* Remembers a file or directory read (its path at name in data), with its identity (and a
 * file's content hash), for sp_policy_map's staleness test. */
static void note_source(struct sp_ld *L, uint32_t name, const struct stat *sb, uint64_t hash)
{
    uint32_t path_off = absolute(L, name);
    uint32_t o = sp__arena_alloc(&L->src, sizeof(struct sp_src), 8);
    if (o == SP_NONE)
        return;
    int64_t cs = (int64_t)sb->st_ctim.tv_sec, cns = (int64_t)sb->st_ctim.tv_nsec;
    int racy = !S_ISDIR(sb->st_mode) && (cs > L->t0_sec || (cs == L->t0_sec && cns >= L->t0_nsec));
    *SP_AT(&L->src, o, struct sp_src) = (struct sp_src){
        (uint64_t)sb->st_dev, (uint64_t)sb->st_ino, (uint64_t)sb->st_size,
        (int64_t)sb->st_mtim.tv_sec, (int64_t)sb->st_mtim.tv_nsec, path_off,
        S_ISDIR(sb->st_mode) ? 1u : 0u, cs, cns, hash, racy ? 1u : 0u, 0};
}

/* "refused in a privileged process: WHY" about path, when sb is not to be trusted. */
static int refuse_untrusted(struct sp_ld *L, const char *path, const struct stat *sb)
{
    const char *why = L->priv ? sp__untrusted(sb, L->euid) : NULL;
    if (why)
        sp__report_file(L, "cannot read", path, ": refused in a privileged process: ", why);
    return why != NULL;
}

/* Reads and parses one file. path is NUL-terminated; errors about it are reported at the
 * current line (the include), or without a line for the top file. */
void sp__load_file(struct sp_ld *L, const char *path)
{
    struct stat sb;
    /* Non-blocking (a FIFO or a terminal is refused, not waited on, and nothing is read from
     * it); a privileged process follows no symbolic link at the end of the path. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (L->priv ? O_NOFOLLOW : 0));
    if (fd < 0) {
        if (errno == ELOOP && L->priv)
            sp__report_file(L, "cannot read", path,
                        ": refused in a privileged process: a symbolic link", "");
        else
            sp__report_file(L, "cannot open", path, ": ", err_text(errno));
        return;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        sp__close(fd);
        sp__report_file(L, "cannot read", path, ": not a regular file", "");
        return;
    }
    if (refuse_untrusted(L, path, &sb)) {
        sp__close(fd);
        return;
    }
    if ((unsigned long long)sb.st_size > SP_MAX_FILE) {
        sp__close(fd);
        sp__report_file(L, "cannot read", path, ": too large (the limit is 16 MiB)", "");
        return;
    }
    for (int i = 0; i < L->depth; i++) {
        if (L->dev[i] == sb.st_dev && L->ino[i] == sb.st_ino) {
            sp__close(fd);
            sp__report_file(L, "include cycle:", path, " is already being read", "");
            return;
        }
    }
    if (L->depth > SP_MAX_DEPTH) {
        sp__close(fd);
        sp__report_file(L, "includes nested too deeply (the limit is 16):", path, "", "");
        return;
    }
    size_t size = (size_t)sb.st_size, got = 0;
    size_t maplen = size ? size : 1;
    int own = L->filebuf_busy || size > SP_SCR_FILE; /* else the scratch's file buffer */
    char *buf = own ? mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                    : L->scratch + SP_SCR_LEN - SP_SCR_FILE;
    if (!own)
        L->filebuf_busy = 1;
    if (buf == MAP_FAILED) {
        sp__close(fd);
        sp__report_file(L, "out of memory reading", path, "", "");
        return;
    }
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    sp__close(fd);
    sp__size_for_input(L, got);
    size_t n = sp__strlen(path);
    uint32_t name = sp__arena_alloc(&L->data, n + 1, 1);
    if (name != SP_NONE) {
        memcpy(L->data.base + name, path, n + 1);
        note_source(L, name, &sb, sp__checksum(buf, got));
        /* Save the including line's context; the new file's lines replace it. */
        const char *of = L->file, *ot = L->line_text;
        uint32_t ooff = L->file_off;
        unsigned ol = L->line, olen = L->line_len, ocol = L->inc_col;
        L->dev[L->depth] = sb.st_dev;
        L->ino[L->depth] = sb.st_ino;
        L->depth++;
        L->file_off = name;
        L->file = L->data.base + name;
        sp__parse_buffer(L, buf, got);
        L->depth--;
        L->file = of;
        L->file_off = ooff;
        L->line = ol;
        L->line_text = ot;
        L->line_len = olen;
        L->inc_col = ocol;
    }
    if (own)
        munmap(buf, maplen);
    else
        L->filebuf_busy = 0;
}

struct name_ent {
    uint32_t off, len;
};

static int name_cmp(const void *a, const void *b, void *ctx)
{
    const struct name_ent *x = a, *y = b;
    const char *base = ctx;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(base + x->off, base + y->off, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* include DIR/GLOB: the matching regular files, in name order. */
static void include_glob(struct sp_ld *L, uint32_t dir_off, uint32_t dlen, uint32_t pat_off,
                         size_t plen)
{
    int fd = open(L->tmp.base + dir_off, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
                                             (L->priv ? O_NOFOLLOW : 0));
    if (fd < 0) {
        if (errno == ELOOP && L->priv) {
            sp__report_file(L, "cannot read directory", L->tmp.base + dir_off,
                        ": refused in a privileged process: a symbolic link", "");
            return;
        }
        /* A missing conf.d is normal. It is recorded as missing (the identity a vanished
         * source gets, see sp_policy_sources_id), so that a reload sees it appear again. */
        size_t mn = sp__strlen(L->tmp.base + dir_off);
        uint32_t mname = errno == ENOENT || errno == ENOTDIR
                             ? sp__arena_alloc(&L->data, mn + 1, 1) : SP_NONE;
        if (mname == SP_NONE)
            return;
        memcpy(L->data.base + mname, L->tmp.base + dir_off, mn + 1);
        uint32_t path_off = absolute(L, mname);
        uint32_t o = sp__arena_alloc(&L->src, sizeof(struct sp_src), 8);
        if (o != SP_NONE)
            *SP_AT(&L->src, o, struct sp_src) = (struct sp_src){
                SP_SRC_MISSING, SP_SRC_MISSING, SP_SRC_MISSING, -1, -1, path_off, 1u, 0, 0, 0, 0, 0};
        return;
    }
    struct stat dsb;
    size_t dn = sp__strlen(L->tmp.base + dir_off);
    uint32_t dname = sp__arena_alloc(&L->data, dn + 1, 1);
    int dok = fstat(fd, &dsb) == 0;
    if (dok && L->priv && sp__untrusted(&dsb, L->euid)) {
        sp__close(fd);
        sp__report_file(L, "cannot read directory", L->tmp.base + dir_off,
                    ": refused in a privileged process: ", sp__untrusted(&dsb, L->euid));
        return;
    }
    if (dok && dname != SP_NONE) {
        memcpy(L->data.base + dname, L->tmp.base + dir_off, dn + 1);
        /* a file added or removed changes its mtime */
        note_source(L, dname, &dsb, 0);
    }
    uint32_t names_off = SP_NONE, nnames = 0, cap = 0;
    uint32_t dbuf = sp__arena_alloc(&L->tmp, 8192, 8);
    for (int rounds = 0; dbuf != SP_NONE && rounds < 4096; rounds++) {
        long r = syscall(SYS_getdents64, fd, L->tmp.base + dbuf, 8192);
        if (r <= 0)
            break;
        for (long pos = 0; pos < r;) {
            struct dirent64 *d = (struct dirent64 *)(void *)(L->tmp.base + dbuf + pos);
            size_t nl = sp__strlen(d->d_name);
            const char *pat = L->tmp.base + pat_off;
            pos += d->d_reclen;
            if ((d->d_name[0] == '.' && pat[0] != '.') || !sp__glob(pat, plen, d->d_name, nl))
                continue;
            if (nnames == cap) { /* grow the name table by copying it */
                uint32_t ncap = cap ? cap * 2 : 64;
                uint32_t no = sp__arena_alloc(&L->tmp, ncap * sizeof(struct name_ent), 8);
                if (no == SP_NONE)
                    break;
                if (cap)
                    memcpy(L->tmp.base + no, L->tmp.base + names_off,
                           cap * sizeof(struct name_ent));
                names_off = no;
                cap = ncap;
            }
            d = (struct dirent64 *)(void *)(L->tmp.base + dbuf + pos - d->d_reclen);
            uint32_t so = sp__arena_alloc(&L->tmp, nl + 1, 1);
            if (so == SP_NONE)
                break;
            memcpy(L->tmp.base + so, d->d_name, nl + 1);
            struct name_ent *ne = SP_AT(&L->tmp, names_off, struct name_ent);
            ne[nnames++] = (struct name_ent){so, (uint32_t)nl};
        }
    }
    sp__close(fd);
    if (!nnames)
        return;
    sp__sort(L->tmp.base + names_off, nnames, sizeof(struct name_ent), name_cmp, L->tmp.base);
    for (uint32_t i = 0; i < nnames && !L->gave_up; i++) {
        struct name_ent ne = SP_AT(&L->tmp, names_off, struct name_ent)[i];
        size_t mark = L->tmp.used;
        uint32_t p = sp__arena_alloc(&L->tmp, dlen + 1 + ne.len + 1, 1);
        if (p == SP_NONE)
            return;
        char *s = L->tmp.base + p;
        memcpy(s, L->tmp.base + dir_off, dlen);
        s[dlen] = '/';
        memcpy(s + dlen + 1, L->tmp.base + ne.off, ne.len + 1);
        struct stat sb;
        /* privileged: a symbolic link is not followed, and load_file says so */
        if (L->priv ? lstat(s, &sb) == 0 && (S_ISREG(sb.st_mode) || S_ISLNK(sb.st_mode))
                    : stat(s, &sb) == 0 && S_ISREG(sb.st_mode))
            sp__load_file(L, s);
        L->tmp.used = mark;
    }
}

void sp__parse_include(struct sp_ld *L)
{
    if (!sp__want_words(L, 2, 2, ": a file or a pattern such as /etc/sockpolicy.d/*.conf"))
        return;
    if (L->opts && L->opts->no_includes) {
        sp__report(L, 0, L->w[0].col, "include is disabled here", NULL, 0, "");
        return;
    }
    const struct sp_word *w = &L->w[1];
    const char *cur = L->file_off != SP_NONE ? L->data.base + L->file_off : "";
    size_t dirlen = 0; /* of the including file's directory, for a relative path */
    if (w->s[0] != '/')
        for (size_t i = 0; cur[i]; i++)
            if (cur[i] == '/')
                dirlen = i + 1;
    size_t mark = L->tmp.used;
    uint32_t p = sp__arena_alloc(&L->tmp, dirlen + w->n + 1, 1);
    if (p == SP_NONE)
        return;
    char *s = L->tmp.base + p;
    memcpy(s, cur, dirlen);
    memcpy(s + dirlen, w->s, w->n);
    s[dirlen + w->n] = 0;
    size_t total = dirlen + w->n, slash = 0;
    for (size_t i = 0; i < total; i++)
        if (s[i] == '/')
            slash = i;
    if (has_glob(s, slash)) {
        sp__report(L, 0, w->col, "wildcards are allowed only in the last component of ", w->s,
                   w->n, "");
    } else if (has_glob(s + slash, total - slash)) {
        /* Split DIR and GLOB at the last slash ("/x/a*" gives "/x" and "a*"; "/a*" gives "/"
         * and "a*"), joined again as DIR[0..dlen) + "/" + name. */
        uint32_t po = sp__arena_alloc(&L->tmp, total - slash + 1, 1);
        if (po != SP_NONE) {
            s = L->tmp.base + p;
            memcpy(L->tmp.base + po, s + slash + 1, total - slash);
            L->inc_col = w->col;
            if (slash == 0) {
                s[1] = 0;
                include_glob(L, p, 0, po, total - slash - 1);
            } else {
                s[slash] = 0;
                include_glob(L, p, (uint32_t)slash, po, total - slash - 1);
            }
        }
    } else {
        L->inc_col = w->col;
        sp__load_file(L, s);
    }
    L->tmp.used = mark;
}
