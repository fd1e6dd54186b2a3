/* cmd/cmd.h: the `sockpolicy` command. cmd_main.c dispatches to one function per
 * subcommand, each `int cmd_NAME(int argc, char **argv)` with argv[0] the subcommand's name,
 * returning the exit status: 0 success, 1 failure (such as an invalid policy), 2 usage error. */
#ifndef SOCKPOLICY_CMD_H
#define SOCKPOLICY_CMD_H

#include "policy.h"

#ifndef SP_VERSION
#define SP_VERSION "0.1.0"
#endif

struct cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

/* cmd/cmd_check.c: sockpolicy check FILE... */
int cmd_check(int argc, char **argv);
/* cmd/cmd_explain.c: sockpolicy explain -c FILE OP ADDRESS[:PORT] ... */
int cmd_explain(int argc, char **argv);
/* Subcommands written in other files. Weak, so that the table in cmd_main.c can name one
 * before its file exists (an absent one is left out of the command). */
int cmd_run(int argc, char **argv) __attribute__((weak));
int cmd_trace(int argc, char **argv) __attribute__((weak));
int cmd_compile(int argc, char **argv) __attribute__((weak));

/* Prints one loader diagnostic gcc-style on stderr: file:line:col: error: message, the line
 * and a caret under the column. ctx is a struct cmd_diag_count (may be NULL). */
struct cmd_diag_count {
    unsigned errors, warnings;
    int quiet; /* count only */
};
void cmd_print_diag(void *ctx, const struct sp_diag *d);
/* cmd/cmd_check.c: when path.spc exists but the library would refuse it for path, one
 * warning through cmd_print_diag says why (counted in cnt, may be NULL). */
void cmd_note_compiled(const char *path, struct cmd_diag_count *cnt);

#endif
