/* policy/report.c: the loader's diagnostics: a message at a column of the line being read, or
 * about a file; under AT_SECURE without the text it quoted of the policy; at most 200 errors.
 * Below every other part of the loader (rule.c, option.c, shadow.c, settings.c, include.c and
 * load.c all report through here). No malloc, no stdio. */
#include <string.h>

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

void sp__report_num(struct sp_ld *L, int sev, unsigned col, const char *pre, uint64_t v,
                    const char *post)
{
    struct sp_sbuf b = {L->msg, 0, sizeof L->msg};
    sp__puts(&b, pre);
    sp__putu(&b, v);
    sp__puts(&b, post);
    sp__report_msg(L, sev, col);
}

void sp__report_file(struct sp_ld *L, const char *pre, const char *path, const char *post,
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
