/* policy/settings.c: the setting lines (log, log-to, log-format, strict, log-summary). Each
 * checks its words, reports what is wrong, and records where it was first given, so that a
 * second one is reported as a duplicate. No malloc, no stdio. */
#include <string.h>

#include "load_int.h"

/* A setting whose value is one word of a list. */
struct choice {
    const char *what; /* "log level", for "unknown log level 'x'" */
    const char *list; /* "off, failures, all or debug": what is expected */
    const char *const *names;
    int n;
};

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

int sp__want_words(struct sp_ld *L, unsigned min, unsigned max, const char *what)
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

/* The index in c->names of the value (the second of at most max words), or -1 after
 * reporting what was missing, extra or unknown. */
static int choose(struct sp_ld *L, unsigned max, const struct choice *c)
{
    char pre[32], post[80];
    struct sp_sbuf b = {post, 0, sizeof post};
    sp__puts(&b, ": ");
    sp__puts(&b, c->list);
    if (!sp__want_words(L, 2, max, post))
        return -1;
    int i = sp__word_find(&L->w[1], c->names, c->n);
    if (i < 0) {
        struct sp_sbuf pb = {pre, 0, sizeof pre};
        sp__puts(&pb, "unknown ");
        sp__puts(&pb, c->what);
        sp__puts(&pb, " ");
        b.len = 0;
        sp__puts(&b, " (expected ");
        sp__puts(&b, c->list);
        sp__puts(&b, ")");
        sp__report(L, 0, L->w[1].col, pre, L->w[1].s, L->w[1].n, post);
    }
    return i;
}

/* strict and log-summary: 1 for on (or the name alone), 0 for off, -1 after reporting. */
static int on_off(struct sp_ld *L, const char *name)
{
    static const char *const f[] = {"off", "on"};
    int v = 1;
    if (!sp__want_words(L, 1, 2, ""))
        return -1;
    if (L->nw == 2 && (v = sp__word_find(&L->w[1], f, 2)) < 0) {
        char pre[64];
        struct sp_sbuf b = {pre, 0, sizeof pre};
        sp__puts(&b, "expected on or off after '");
        sp__puts(&b, name);
        sp__puts(&b, "', not ");
        sp__report(L, 0, L->w[1].col, pre, L->w[1].s, L->w[1].n, "");
    }
    return v;
}

/* log-to file PATH: the path, checked (and vetted in a privileged process); 0 or -1. */
static int log_file(struct sp_ld *L)
{
    if (L->nw < 3) {
        sp__report(L, 0, L->w[1].col + L->w[1].n, "'log-to file' needs a path", NULL, 0, "");
        return -1;
    }
    const struct sp_word *p = &L->w[2];
    if (p->s[0] != '/') {
        sp__report(L, 0, p->col, "the log file ", p->s, p->n, " must be an absolute path");
        return -1;
    }
    if (p->n >= sizeof L->st.log_file) {
        sp__report(L, 0, p->col, "the log file path is too long (at most 255 bytes)", NULL, 0,
                   "");
        return -1;
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
    return 0;
}

/* log-to's value: the index of the target, or -1 after reporting. */
static int log_to(struct sp_ld *L)
{
    static const char *const tg[] = {"stderr", "syslog", "journald", "file"};
    static const struct choice target = {"log target", "stderr, syslog, journald or file PATH",
                                         tg, 4};
    int i = choose(L, 3, &target);
    if (i == 3)
        return log_file(L) < 0 ? -1 : i;
    if (i >= 0 && L->nw > 2) {
        sp__report(L, 0, L->w[2].col, "unexpected ", L->w[2].s, L->w[2].n,
                   " at the end of the setting");
        return -1;
    }
    if (i >= 0) {
        L->st.log_file[0] = 0;
        L->st.log_file_trust = SP_LOGFILE_UNCHECKED;
    }
    return i;
}

int sp__parse_setting(struct sp_ld *L)
{
    /* in the order of SP_SET_*: the index is the setting's */
    static const char *const kw[] = {"log", "log-to", "log-format", "strict", "log-summary"};
    static const char *const lv[] = {"off", "failures", "all", "debug"};
    static const char *const fm[] = {"text", "json"};
    static const struct choice level = {"log level", "off, failures, all or debug", lv, 4};
    static const struct choice format = {"log format", "text or json", fm, 2};
    int k = sp__word_find(&L->w[0], kw, SP_SET_COUNT), v;
    switch (k) {
    case SP_SET_LOG: v = choose(L, 2, &level); break;
    case SP_SET_LOGTO: v = log_to(L); break;
    case SP_SET_LOGFMT: v = choose(L, 2, &format); break;
    case SP_SET_STRICT:
    case SP_SET_SUMMARY: v = on_off(L, kw[k]); break;
    default: return 0;
    }
    if (v < 0)
        return 1;
    note_setting(L, k, kw[k]);
    switch (k) {
    case SP_SET_LOG: L->st.log_level = (enum sp_log_level)v; break;
    case SP_SET_LOGTO: L->st.log_target = (enum sp_log_target)(v + 1); break;
    case SP_SET_LOGFMT: L->st.log_format = (enum sp_log_format)v; break;
    case SP_SET_STRICT: L->st.strict = v; break;
    default: L->st.log_summary = v; break;
    }
    return 1;
}
