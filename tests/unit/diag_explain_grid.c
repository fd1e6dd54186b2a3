/* tests/unit/diag_explain_grid.c: every explanation sp_explain() gives, for every op, family
 * and named errno, is the one in tests/fixtures/diag/explain.expect, byte for byte, and there
 * is no other. The fixture was written by this program (`diag_explain_grid --print`) from the
 * table before it was reshaped; a deliberate change of wording rewrites it the same way.
 * Lines are "op family ERRNAME<TAB>text", looked up by name, so errno numbering (which differs
 * between architectures) does not matter. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "diag.h"
#include "tap.h"

#define ERR_MAX 4096

static const struct {
    int family;
    const char *name;
} fams[] = {{AF_INET, "inet"}, {AF_INET6, "inet6"}, {AF_UNIX, "unix"}, {AF_PACKET, "other"}};
#define NFAMS (sizeof fams / sizeof fams[0])

static void print_grid(void)
{
    for (int op = 0; op < SP_OP_COUNT; op++)
        for (size_t f = 0; f < NFAMS; f++)
            for (int err = 1; err < ERR_MAX; err++) {
                const char *name = sp_diag_errno_name(err);
                const char *e = name ? sp_explain((enum sp_op)op, err, fams[f].family) : NULL;
                if (e)
                    printf("%s %s %s\t%s\n", sp_diag_op_name((enum sp_op)op), fams[f].name,
                           name, e);
            }
}

static int op_by_name(const char *s)
{
    for (int op = 0; op < SP_OP_COUNT; op++)
        if (strcmp(sp_diag_op_name((enum sp_op)op), s) == 0)
            return op;
    return -1;
}

static int fam_by_name(const char *s)
{
    for (size_t f = 0; f < NFAMS; f++)
        if (strcmp(fams[f].name, s) == 0)
            return fams[f].family;
    return -1;
}

static int err_by_name(const char *s)
{
    for (int err = 1; err < ERR_MAX; err++) {
        const char *name = sp_diag_errno_name(err);
        if (name && strcmp(name, s) == 0)
            return err;
    }
    return -1;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--print") == 0) {
        print_grid();
        return 0;
    }
    char path[4096];
    const char *top = getenv("SP_TOP");
    snprintf(path, sizeof path, "%s/tests/fixtures/diag/explain.expect", top ? top : ".");
    FILE *fp = fopen(path, "r");
    if (!ok(fp != NULL, "the fixture %s opens", path))
        return done_testing();

    unsigned expected[SP_OP_COUNT] = {0}, differ[SP_OP_COUNT] = {0}, lines = 0, bad = 0;
    char line[1024], op_s[32], fam_s[32], err_s[64];
    while (fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\n")] = '\0';
        char *tab = strchr(line, '\t');
        int op = -1, fam = -1, err = -1;
        if (tab && sscanf(line, "%31s %31s %63s", op_s, fam_s, err_s) == 3) {
            op = op_by_name(op_s);
            fam = fam_by_name(fam_s);
            err = err_by_name(err_s);
        }
        lines++;
        if (op < 0 || fam < 0 || err < 0) {
            if (bad++ < 5)
                diag("  unreadable fixture line: %s", line);
            continue;
        }
        expected[op]++;
        const char *got = sp_explain((enum sp_op)op, err, fam);
        if (!got || strcmp(got, tab + 1) != 0) {
            if (differ[op]++ < 5)
                diag("  %s %s %s: got '%s', want '%s'", op_s, fam_s, err_s, got ? got : "(none)",
                     tab + 1);
        }
    }
    fclose(fp);
    ok(lines > 100 && bad == 0, "the fixture's %u lines all name an op, a family and an errno",
       lines);

    for (int op = 0; op < SP_OP_COUNT; op++) {
        unsigned have = 0;
        for (size_t f = 0; f < NFAMS; f++)
            for (int err = 1; err < ERR_MAX; err++)
                if (sp_diag_errno_name(err) && sp_explain((enum sp_op)op, err, fams[f].family))
                    have++;
        ok(differ[op] == 0 && have == expected[op],
           "%s: the %u explanations are the fixture's, byte for byte, and none besides (%u now)",
           sp_diag_op_name((enum sp_op)op), expected[op], have);
    }
    return done_testing();
}
