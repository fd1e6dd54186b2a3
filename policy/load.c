/* policy/load.c: reading policy files (raw open/read, includes scanned with getdents64),
 * splitting lines into words, the settings, diagnostics, and assembling the compiled blob.
 * No malloc, no stdio, no lock: this may run inside a hooked call. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "load_int.h"

#define SP_MAX_ERRORS 200

/* A word a quoted one was joined by ("bad value 'x' for 'y'"): dropped with what it joined. */
static int dangling(const char *w, size_t n, char next)
{
    static const char *const joins[] = {"for", "after", "of", "not", "in", "to", "with"};
    if (next != 0 && next != ':' && next != ',' && next != ')' && next != '(')
        return 0;
    for (size_t i = 0; i < sizeof joins / sizeof *joins; i++)
        if (sp__streq(w, n, joins[i]))
            return 1;
    return 0;
}

/* Under AT_SECURE the message keeps its shape but loses what it quoted of the policy (words
 * and paths are quoted '...'): the policy may be root's alone, its reader any user. */
static void withhold_text(char *m)
{
    char *w = m;
    for (const char *r = m; *r;) {
        const char *e = NULL; /* a quote that opens: at the start or after a blank or ( */
        if (*r == '\'' && (r == m || r[-1] == ' ' || r[-1] == '('))
            for (e = strchr(r + 1, '\''); e && e[1] && !strchr(" :),?;.", e[1]);)
                e = strchr(e + 1, '\''); /* and closes: at the end or before punctuation */
        if (e) {
            r = e + 1;
            continue;
        }
        *w++ = *r++;
    }
    *w = 0;
    char *dym = strstr(m, " (did you mean ?)");
    if (dym)
        memmove(dym, dym + 17, strlen(dym + 17) + 1);
    for (int round = 0; round < 4; round++) {
        /* words left joining nothing, then blanks and commas left over */
        w = m;
        for (const char *r = m; *r;) {
            size_t n = 0;
            while (r[n] && r[n] != ' ' && r[n] != ':' && r[n] != ',' && r[n] != ')' && r[n] != '(')
                n++;
            const char *after = r + n;
            while (*after == ' ')
                after++;
            if (n && (r == m || r[-1] == ' ') && dangling(r, n, *after)) {
                r += n;
                continue;
            }
            if (!n)
                n = 1;
            memmove(w, r, n);
            w += n;
            r += n;
        }
        *w = 0;
        w = m;
        for (const char *r = m; *r; r++) {
            if ((*r == ' ' || *r == ':' || *r == ',') && w == m)
                continue; /* nothing before it */
            if (*r == ' ' && (r[1] == ' ' || r[1] == ':' || r[1] == ',' || r[1] == ')' || !r[1]))
                continue;
            if (*r == ',' && (r[1] == ',' || r[1] == ')' || !r[1] || (r[1] == ' ' && !r[2])))
                continue;
            *w++ = *r;
        }
        *w = 0;
    }
    if (!*m)
        strcpy(m, "error");
}

void sp__report_msg(struct sp_ld *L, int sev, unsigned col)
{
    if (sev == 0)
        L->nerr++;
    else
        L->nwarn++;
    if (L->gave_up)
        return;
    const char *file = L->file_off != SP_NONE ? L->data.base + L->file_off : L->file;
    struct sp_diag d = {sev, file, L->line, col, L->msg, L->line_text, L->line_len};
    if (L->secure) {
        withhold_text(L->msg);
        d.line_text = NULL;
        d.line_len = 0;
    }
    if (L->diag)
        L->diag(L->ctx, &d);
    if (L->nerr >= SP_MAX_ERRORS) {
        L->gave_up = 1;
        struct sp_diag g = {0, file, L->line, 0, "too many errors; giving up", NULL, 0};
        if (L->diag)
            L->diag(L->ctx, &g);
    }
}

void sp__report(struct sp_ld *L, int sev, unsigned col, const char *pre, const char *word,
                size_t wn, const char *post)
{
    struct sp_sbuf b = {L->msg, 0, sizeof L->msg};
    sp__puts(&b, pre);
    if (word) {
        sp__putn(&b, "'", 1);
        if (wn > 64) {
            sp__putn(&b, word, 60);
            sp__puts(&b, "...");
        } else {
            sp__putn(&b, word, wn);
        }
        sp__putn(&b, "'", 1);
    }
    sp__puts(&b, post);
    sp__report_msg(L, sev, col);
}

/* A report about a file: at the include line, or without a line for the top file. */
static void report_file(struct sp_ld *L, const char *pre, const char *path, const char *post,
                        const char *post2)
{
    int top = L->depth == 0 && L->file_off == SP_NONE;
    struct sp_sbuf b = {L->msg, 0, sizeof L->msg};
    sp__puts(&b, pre);
    if (!top) {
        sp__puts(&b, " '");
        sp__puts(&b, path);
        sp__puts(&b, "'");
    }
    sp__puts(&b, post);
    sp__puts(&b, post2);
    if (top) {
        L->file = path;
        L->line = 0;
        L->line_text = NULL;
        L->line_len = 0;
        sp__report_msg(L, 0, 0);
        L->file = NULL;
    } else {
        sp__report_msg(L, 0, L->inc_col);
    }
}

static const char *err_text(int e)
{
    const char *s = strerrordesc_np(e); /* static text: no locale, no allocation */
    return s ? s : "unknown error";
}

/* ---- settings ---- */

static int pick(const struct sp_word *w, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (sp__streq(w->s, w->n, names[i]))
            return i;
    return -1;
}

static void note_setting(struct sp_ld *L, int which, const char *name)
{
    if (which != SP_SET_STRICT)
        L->st.log_said = 1;
    if (L->set_line[which]) {
        struct sp_sbuf b = {L->msg, 0, sizeof L->msg};
        sp__puts(&b, "duplicate setting '");
        sp__puts(&b, name);
        sp__puts(&b, "' (first given at ");
        sp__puts(&b, L->data.base + L->set_file[which]);
        sp__puts(&b, ":");
        sp__putu(&b, L->set_line[which]);
        sp__puts(&b, "); the last one counts");
        sp__report_msg(L, 1, L->w[0].col);
    } else {
        L->set_file[which] = L->file_off;
        L->set_line[which] = L->line;
    }
}

static int want_words(struct sp_ld *L, unsigned min, unsigned max, const char *what)
{
    if (L->nw < min) {
        const struct sp_word *last = &L->w[L->nw - 1];
        sp__report(L, 0, last->col + last->n, "missing value after ", L->w[0].s, L->w[0].n,
                   what);
        return 0;
    }
    if (L->nw > max) {
        sp__report(L, 0, L->w[max].col, "unexpected ", L->w[max].s, L->w[max].n,
                   " at the end of the setting");
        return 0;
    }
    return 1;
}

static void parse_log(struct sp_ld *L)
{
    static const char *const lv[] = {"off", "failures", "all", "debug"};
    if (!want_words(L, 2, 2, ": off, failures, all or debug"))
        return;
    int i = pick(&L->w[1], lv, 4);
    if (i < 0) {
        sp__report(L, 0, L->w[1].col, "unknown log level ", L->w[1].s, L->w[1].n,
                   " (expected off, failures, all or debug)");
        return;
    }
    note_setting(L, SP_SET_LOG, "log");
    L->st.log_level = (enum sp_log_level)i;
}

static void parse_log_to(struct sp_ld *L)
{
    static const char *const tg[] = {"stderr", "syslog", "journald", "file"};
    if (!want_words(L, 2, 3, ": stderr, syslog, journald or file PATH"))
        return;
    int i = pick(&L->w[1], tg, 4);
    if (i < 0) {
        sp__report(L, 0, L->w[1].col, "unknown log target ", L->w[1].s, L->w[1].n,
                   " (expected stderr, syslog, journald or file PATH)");
        return;
    }
    if (i == 3) {
        if (L->nw < 3) {
            sp__report(L, 0, L->w[1].col + L->w[1].n, "'log-to file' needs a path", NULL, 0, "");
            return;
        }
        const struct sp_word *p = &L->w[2];
        if (p->s[0] != '/') {
            sp__report(L, 0, p->col, "the log file ", p->s, p->n, " must be an absolute path");
            return;
        }
        if (p->n >= sizeof L->st.log_file) {
            sp__report(L, 0, p->col, "the log file path is too long (at most 255 bytes)", NULL,
                       0, "");
            return;
        }
        memcpy(L->st.log_file, p->s, p->n);
        L->st.log_file[p->n] = 0;
        L->st.log_file_trust = SP_LOGFILE_UNCHECKED;
        if (L->priv) {
            char why[160];
            L->st.log_file_trust = sp__vet_log_file(L->st.log_file, L->euid, why, sizeof why);
            if (L->st.log_file_trust == SP_LOGFILE_REFUSED)
                sp__report(L, 1, p->col, "the log file ", p->s, p->n, why);
        }
    } else if (L->nw > 2) {
        sp__report(L, 0, L->w[2].col, "unexpected ", L->w[2].s, L->w[2].n,
                   " at the end of the setting");
        return;
    } else {
        L->st.log_file[0] = 0;
        L->st.log_file_trust = SP_LOGFILE_UNCHECKED;
    }
    note_setting(L, SP_SET_LOGTO, "log-to");
    L->st.log_target = (enum sp_log_target)(i + 1);
}

static void parse_log_format(struct sp_ld *L)
{
    static const char *const f[] = {"text", "json"};
    if (!want_words(L, 2, 2, ": text or json"))
        return;
    int i = pick(&L->w[1], f, 2);
    if (i < 0) {
        sp__report(L, 0, L->w[1].col, "unknown log format ", L->w[1].s, L->w[1].n,
                   " (expected text or json)");
        return;
    }
    note_setting(L, SP_SET_LOGFMT, "log-format");
    L->st.log_format = (enum sp_log_format)i;
}

static void parse_strict(struct sp_ld *L)
{
    static const char *const f[] = {"off", "on"};
    int v = 1;
    if (!want_words(L, 1, 2, ""))
        return;
    if (L->nw == 2 && (v = pick(&L->w[1], f, 2)) < 0) {
        sp__report(L, 0, L->w[1].col, "expected on or off after 'strict', not ", L->w[1].s,
                   L->w[1].n, "");
        return;
    }
    note_setting(L, SP_SET_STRICT, "strict");
    L->st.strict = v;
}

static void parse_log_summary(struct sp_ld *L)
{
    static const char *const f[] = {"off", "on"};
    int v = 1;
    if (!want_words(L, 1, 2, ""))
        return;
    if (L->nw == 2 && (v = pick(&L->w[1], f, 2)) < 0) {
        sp__report(L, 0, L->w[1].col, "expected on or off after 'log-summary', not ", L->w[1].s,
                   L->w[1].n, "");
        return;
    }
    note_setting(L, SP_SET_SUMMARY, "log-summary");
    L->st.log_summary = v;
}

/* ---- files ---- */

static void parse_buffer(struct sp_ld *L, const char *buf, size_t len);

/* Sizes the arenas for a top file of len bytes: a rule line is rarely shorter than 32 bytes
 * and keeps less than twice its length in data. Only address space: an overestimate costs
 * nothing, and the arenas still grow past it. */
static void size_for_input(struct sp_ld *L, size_t len)
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
        report_file(L, "cannot read", path, ": refused in a privileged process: ", why);
    return why != NULL;
}

/* Reads and parses one file. path is NUL-terminated; errors about it are reported at the
 * current line (the include), or without a line for the top file. */
static void load_file(struct sp_ld *L, const char *path)
{
    struct stat sb;
    /* Non-blocking (a FIFO or a terminal is refused, not waited on, and nothing is read from
     * it); a privileged process follows no symbolic link at the end of the path. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (L->priv ? O_NOFOLLOW : 0));
    if (fd < 0) {
        if (errno == ELOOP && L->priv)
            report_file(L, "cannot read", path,
                        ": refused in a privileged process: a symbolic link", "");
        else
            report_file(L, "cannot open", path, ": ", err_text(errno));
        return;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        report_file(L, "cannot read", path, ": not a regular file", "");
        return;
    }
    if (refuse_untrusted(L, path, &sb)) {
        close(fd);
        return;
    }
    if ((unsigned long long)sb.st_size > SP_MAX_FILE) {
        close(fd);
        report_file(L, "cannot read", path, ": too large (the limit is 16 MiB)", "");
        return;
    }
    for (int i = 0; i < L->depth; i++) {
        if (L->dev[i] == sb.st_dev && L->ino[i] == sb.st_ino) {
            close(fd);
            report_file(L, "include cycle:", path, " is already being read", "");
            return;
        }
    }
    if (L->depth > SP_MAX_DEPTH) {
        close(fd);
        report_file(L, "includes nested too deeply (the limit is 16):", path, "", "");
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
        close(fd);
        report_file(L, "out of memory reading", path, "", "");
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
    close(fd);
    size_for_input(L, got);
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
        parse_buffer(L, buf, got);
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
            report_file(L, "cannot read directory", L->tmp.base + dir_off,
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
        close(fd);
        report_file(L, "cannot read directory", L->tmp.base + dir_off,
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
    close(fd);
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
            load_file(L, s);
        L->tmp.used = mark;
    }
}

static void parse_include(struct sp_ld *L)
{
    if (!want_words(L, 2, 2, ": a file or a pattern such as /etc/sockpolicy.d/*.conf"))
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
        load_file(L, s);
    }
    L->tmp.used = mark;
}

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
    static const char *const kw[] = {"log", "log-to", "log-format", "include", "strict",
                                     "default", "log-summary"};
    if (L->nw == 0)
        return;
    switch (pick(&L->w[0], kw, 7)) {
    case 0: parse_log(L); break;
    case 1: parse_log_to(L); break;
    case 2: parse_log_format(L); break;
    case 3: parse_include(L); break;
    case 4: parse_strict(L); break;
    case 5: sp__parse_default(L); break;
    case 6: parse_log_summary(L); break;
    default: sp__parse_rule(L); break;
    }
}

static void parse_buffer(struct sp_ld *L, const char *buf, size_t len)
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
            struct sp_sbuf b = {L->msg, 0, sizeof L->msg};
            sp__puts(&b, "binary file: NUL byte at offset ");
            sp__putu(&b, end);
            sp__puts(&b, "; not a policy");
            sp__report_msg(L, 0, col);
            return;
        }
        pos += n + 1;
        if (n > SP_MAX_LINE) {
            struct sp_sbuf b = {L->msg, 0, sizeof L->msg};
            sp__puts(&b, "line too long (");
            sp__putu(&b, n);
            sp__puts(&b, " bytes; the limit is 4096)");
            sp__report_msg(L, 0, 1);
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

void sp__relocate(struct sp_policy *p)
{
    struct sp_rec *r = (struct sp_rec *)(void *)((char *)p + p->recs_off);
    const char *d = sp__data(p);
    for (uint32_t i = 0; i < p->nrules; i++) {
        r[i].pub.file = d + r[i].c.file_off;
        r[i].pub.text = d + r[i].c.text_off;
    }
}

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
    L->file_off = SP_NONE;
    L->cwd_off = SP_NONE;
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
    struct sp_ld L;
    int saved = errno;
    if (flags & SP_LOAD_CACHE) {
        struct sp_policy *c = sp__map_cache_of(path, diag, ctx);
        if (c) {
            errno = saved;
            return c;
        }
        errno = saved;
    }
    if (start(&L, diag, ctx, NULL, flags))
        return NULL;
    load_file(&L, path);
    struct sp_policy *p = finish(&L);
    if (p)
        errno = saved;
    return p;
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
        size_for_input(&L, len);
        parse_buffer(&L, buf, len);
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
    load_file(&L, path);
    *st = L.st; /* finish() leaves the settings as they were read */
    struct sp_policy *p = finish(&L);
    if (p)
        errno = saved;
    return p;
}
