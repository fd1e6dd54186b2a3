/* cmd/cmd_compile.c: `sockpolicy compile [-q] FILE [-o OUT]`: loads FILE as `check` does
 * (every error and warning printed), then writes the compiled policy to OUT (FILE.spc by
 * default), which the library maps instead of parsing FILE while FILE and its includes are
 * unchanged (sp_policy_map_compiled in policy/policy.h): the loader records every source by
 * absolute path, so a relative FILE serves processes in any directory, and the result serves
 * FILE only. Exit 1 when FILE has errors or OUT cannot be written; nothing is written then. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"

static void compile_usage(FILE *f)
{
    fprintf(f, "usage: sockpolicy compile [-q] FILE [-o OUT]\n"
               "Checks FILE like `sockpolicy check`, then writes it compiled to OUT (default\n"
               "FILE.spc). The library loads FILE.spc instead of parsing FILE as long as FILE\n"
               "and everything it includes are unchanged; an edit makes it stale, and it is\n"
               "then ignored until compiled again. It serves FILE only (the sources are\n"
               "recorded by absolute path), and never through a symbolic link.\n"
               "  -o OUT       where to write (replaced atomically)\n"
               "  -q, --quiet  print no warnings (errors are still printed)\n"
               "exit status: 0 written, 1 errors in FILE or OUT not written, 2 usage error\n");
}

static void quiet_diag(void *ctx, const struct sp_diag *d)
{
    if (d->severity == 0)
        cmd_print_diag(ctx, d);
    else
        ((struct cmd_diag_count *)ctx)->warnings++;
}

int cmd_compile(int argc, char **argv)
{
    struct cmd_diag_count cnt = {0, 0, 0};
    const char *in = NULL, *out = NULL;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            compile_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
            quiet = 1;
        } else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
            out = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1] && strcmp(argv[i], "--")) {
            fprintf(stderr, "sockpolicy compile: unknown option '%s'\n", argv[i]);
            compile_usage(stderr);
            return 2;
        } else if (!in) {
            in = !strcmp(argv[i], "--") && i + 1 < argc ? argv[++i] : argv[i];
        } else {
            fprintf(stderr, "sockpolicy compile: one policy file at a time\n");
            compile_usage(stderr);
            return 2;
        }
    }
    if (!in) {
        fprintf(stderr, "sockpolicy compile: no policy file given\n");
        compile_usage(stderr);
        return 2;
    }
    char def[4200];
    if (!out) {
        if (snprintf(def, sizeof def, "%s.spc", in) >= (int)sizeof def) {
            fprintf(stderr, "sockpolicy compile: %s: name too long\n", in);
            return 1;
        }
        out = def;
    }
    struct sp_policy *p = sp_policy_load(in, quiet ? quiet_diag : cmd_print_diag, &cnt);
    if (!p || cnt.errors) {
        sp_policy_free(p);
        fprintf(stderr, "sockpolicy compile: %s has errors; %s not written\n", in, out);
        return 1;
    }
    if (sp_policy_save(p, out) != 0) {
        fprintf(stderr, "sockpolicy compile: cannot write %s: %s\n", out, strerror(errno));
        sp_policy_free(p);
        return 1;
    }
    sp_policy_free(p);
    return 0;
}
