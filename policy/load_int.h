/* policy/load_int.h: the loader's state, shared by its parts, each below the one before:
 * load.c (the driver: lines, words, the blob), include.c (files and includes), settings.c
 * (the setting lines), rule.c and option.c (one rule line), shadow.c (rules an earlier rule
 * covers), report.c (the diagnostics). include.c and load.c call each other: an include line
 * reads a file whose lines are parsed in turn. */
#ifndef SOCKPOLICY_LOAD_INT_H
#define SOCKPOLICY_LOAD_INT_H

#include <sys/stat.h>
#include <sys/types.h>

#include "policy_int.h"

struct sp_word {
    const char *s;
    uint32_t n, col;
};

/* The index of w among names[0..n), or -1. */
static inline int sp__word_find(const struct sp_word *w, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (sp__streq(w->s, w->n, names[i]))
            return i;
    return -1;
}

enum { SP_SET_LOG, SP_SET_LOGTO, SP_SET_LOGFMT, SP_SET_STRICT, SP_SET_SUMMARY, SP_SET_COUNT };

/* One mapping holds the loader's first arenas and the buffer of a small top file. */
#define SP_SCR_ARENA (64u << 10)
#define SP_SCR_SRC 4096u
#define SP_SCR_FILE (64u << 10)
#define SP_SCR_LEN (3 * SP_SCR_ARENA + SP_SCR_SRC + SP_SCR_FILE)

struct sp_ld {
    struct sp_arena recs, data, tmp, idx;
    char *scratch;   /* the mapping (SP_SCR_LEN bytes) the arenas start in */
    int filebuf_busy; /* its file buffer holds a file being read */
    sp_diag_fn diag;
    void *ctx;
    unsigned nerr, nwarn;
    int gave_up;
    const struct sp_load_opts *opts;
    unsigned flags;         /* SP_LOAD_* */
    /* Who reads: a privileged process (AT_SECURE or euid 0) reads only what root or its own
     * user alone can write, and follows no symbolic link; under AT_SECURE the messages quote
     * no text of the policy (it may be root's, and the user reads the messages). */
    int priv, secure;
    uid_t euid;
    int64_t t0_sec, t0_nsec; /* CLOCK_REALTIME_COARSE when the load began: a source whose
                                ctime is not older may still change unseen (sp_src.racy) */
    uint32_t cwd_off;        /* the working directory in data, for relative paths (or SP_NONE) */
    struct sp_arena src;    /* struct sp_src[]: the files and directories read */
    struct sp_settings st;
    uint32_t set_file[SP_SET_COUNT], set_line[SP_SET_COUNT]; /* first given at (0: never) */
    uint32_t def_file[SP_OP_COUNT], def_line[SP_OP_COUNT];
    /* The line being read. */
    const char *file;  /* its name (a NUL-terminated copy in data at file_off) */
    uint32_t file_off;
    unsigned line;
    const char *line_text;
    unsigned line_len;
    unsigned inc_col; /* column of the path on the include line being served */
    struct sp_word w[SP_MAX_WORDS];
    unsigned nw;
    /* Files being read, for include cycles. */
    int depth;
    dev_t dev[SP_MAX_DEPTH + 1];
    ino_t ino[SP_MAX_DEPTH + 1];
    /* The shadow index (shadow.c). */
    uint32_t heads_off, broad_off[SP_OP_COUNT][16]; /* address-less rules by FEAT_ needs */
    uint64_t idx_lens[2][3]; /* prefix lengths indexed, IPv4 and IPv6 */
    char msg[640];
};

/* Reports a diagnostic at col of the current line: pre 'word' post (word may be NULL). */
void sp__report(struct sp_ld *L, int sev, unsigned col, const char *pre, const char *word,
                size_t wn, const char *post);
/* The same with a message already in L->msg. */
void sp__report_msg(struct sp_ld *L, int sev, unsigned col);
/* The same with a number: pre V post. */
void sp__report_num(struct sp_ld *L, int sev, unsigned col, const char *pre, uint64_t v,
                    const char *post);
/* An error about a file: pre 'path' post post2 at the include line, or pre post post2
 * without a line when path is the top file. */
void sp__report_file(struct sp_ld *L, const char *pre, const char *path, const char *post,
                     const char *post2);

/* Parses the lines of buf (a file's text, or a policy in memory) into L (load.c). */
void sp__parse_buffer(struct sp_ld *L, const char *buf, size_t len);
/* Reads and parses the file at path (NUL-terminated); errors about it are reported at the
 * current line (the include), or without a line for the top file (include.c). */
void sp__load_file(struct sp_ld *L, const char *path);
/* Parses "include PATH-OR-PATTERN" (include.c). */
void sp__parse_include(struct sp_ld *L);
/* Reserves the arenas for a top file of len bytes (address space only). */
void sp__size_for_input(struct sp_ld *L, size_t len);

/* Parses a setting line (log, log-to, log-format, strict, log-summary): 1 when w[0] named
 * one (errors reported), 0 when it is no setting (settings.c). */
int sp__parse_setting(struct sp_ld *L);
/* Whether the line has min to max words; 0 after reporting the missing value (pre 'w0'
 * what) or the first extra word. */
int sp__want_words(struct sp_ld *L, unsigned min, unsigned max, const char *what);

/* Parses the rule on the current line (words in L->w) and appends its records. */
void sp__parse_rule(struct sp_ld *L);
/* Parses "default OP pass|deny [errno=E]". */
void sp__parse_default(struct sp_ld *L);
/* Parses the option word w into r (r->action set): 0, -1 after reporting an error, or -2
 * when w names no option. op is SP_OP_COUNT for "any". seen collects option ids. */
int sp__parse_option(struct sp_ld *L, struct sp_rule *r, int op, const struct sp_word *w,
                     uint32_t *seen);
/* Parses an errno= value; 0 and a report when unknown. */
int sp__parse_errno_value(struct sp_ld *L, const char *v, size_t n, unsigned col);

/* Trust (policy/trust.c). Whether this process is privileged: AT_SECURE, or euid 0. */
int sp__privileged(void);
/* Why a privileged process must not trust the file or directory sb describes: NULL when root
 * or euid owns it and neither group nor others may write it, else a reason ("writable by
 * group or others", "owned by another user") for "refused in a privileged process: ...". */
const char *sp__untrusted(const struct stat *sb, uid_t euid);

/* What a privileged process finds of a `log-to file` path (SP_LOGFILE_VETTED or _REFUSED,
 * see policy.h); when refused, why holds " is refused in a privileged process: REASON". */
int sp__vet_log_file(const char *path, uid_t euid, char *why, size_t size);

/* Shadow warnings: prepares the index; checks (and warns about) then indexes new records
 * [first, first + n) of one source rule. */
int sp__shadow_init(struct sp_ld *L);
void sp__shadow_add(struct sp_ld *L, uint32_t first, uint32_t n);

#endif
