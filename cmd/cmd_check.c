/* cmd/cmd_check.c: `sockpolicy check [-q] FILE...`: loads each policy as the shim would and
 * prints every error and warning like a compiler. Exit 1 when any file has an error. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

#define SHOW_MAX 512 /* bytes of a line shown under a diagnostic */

void cmd_print_diag(void *ctx, const struct sp_diag *d)
{
    struct cmd_diag_count *cnt = ctx;
    const char *sev = d->severity == 0 ? "error" : "warning";
    if (cnt) {
        if (d->severity == 0)
            cnt->errors++;
        else
            cnt->warnings++;
        if (cnt->quiet)
            return;
    }
    if (d->line == 0) {
        fprintf(stderr, "%s: %s: %s\n", d->file, sev, d->msg);
        return;
    }
    if (d->col)
        fprintf(stderr, "%s:%u:%u: %s: %s\n", d->file, d->line, d->col, sev, d->msg);
    else
        fprintf(stderr, "%s:%u: %s: %s\n", d->file, d->line, sev, d->msg);
    if (!d->line_text)
        return;
    unsigned n = d->line_len < SHOW_MAX ? d->line_len : SHOW_MAX;
    char shown[SHOW_MAX + 1];
    for (unsigned i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)d->line_text[i];
        shown[i] = (ch < 0x20 && ch != '\t') || ch == 0x7f ? '?' : (char)ch;
    }
    shown[n] = 0;
    fprintf(stderr, "    %s%s\n", shown, d->line_len > n ? " [...]" : "");
    if (d->col == 0 || d->col - 1 > n)
        return;
    char caret[SHOW_MAX + 2];
    unsigned k = 0;
    for (; k + 1 < d->col; k++)
        caret[k] = k < n && shown[k] == '\t' ? '\t' : ' ';
    caret[k++] = '^';
    caret[k] = 0;
    fprintf(stderr, "    %s\n", caret);
}

void cmd_note_compiled(const char *path, struct cmd_diag_count *cnt)
{
    /* FILE.spc refused says so (a warning); a missing one is no news */
    sp_policy_free(sp_policy_map_compiled(path, cmd_print_diag, cnt));
}

static void check_usage(FILE *f)
{
    fprintf(f, "usage: sockpolicy check [-q] FILE...\n"
               "Checks policy files (and what they include) as the library would load them.\n"
               "Prints every problem as FILE:LINE:COL: error|warning: MESSAGE, the line and a\n"
               "caret under the column; a FILE.spc the library would refuse is a warning.\n"
               "  -q, --quiet  print nothing; the exit status tells\n"
               "exit status: 0 valid (warnings allowed), 1 errors, 2 usage error\n");
}

int cmd_check(int argc, char **argv)
{
    struct cmd_diag_count cnt = {0, 0, 0};
    int i = 1, files = 0, bad = 0;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        if (!strcmp(argv[i], "--")) {
            i++;
            break;
        } else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
            cnt.quiet = 1;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            check_usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "sockpolicy check: unknown option '%s'\n", argv[i]);
            check_usage(stderr);
            return 2;
        }
    }
    for (; i < argc; i++, files++) {
        unsigned before = cnt.errors;
        struct sp_policy *p = sp_policy_load(argv[i], cmd_print_diag, &cnt);
        if (!p || cnt.errors != before)
            bad = 1;
        sp_policy_free(p);
        cmd_note_compiled(argv[i], &cnt);
    }
    if (!files) {
        fprintf(stderr, "sockpolicy check: no policy file given\n");
        check_usage(stderr);
        return 2;
    }
    return bad ? 1 : 0;
}
