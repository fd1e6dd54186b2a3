/* shim/cmd_main.c: `sockpolicy COMMAND [ARGS...]`: dispatch, --help and --version. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

static const struct cmd commands[] = {
    {"check", cmd_check, "check policy files and print every error and warning"},
    {"explain", cmd_explain, "say which rule decides a call, and what it forces"},
    /* Subcommands from other files: one line each, below (declare the function in cmd.h). */
    {"run", cmd_run, "run a program under the policy"},
    {"trace", cmd_trace, "trace a program's socket calls under the policy"},
    {"compile", cmd_compile, "compile a policy to FILE.spc, which the library maps"},
    /* End of the subcommands from other files. */
};

static void usage(FILE *f)
{
    fprintf(f, "usage: sockpolicy COMMAND [ARGS...]\n"
               "       sockpolicy --help | --version\n\n"
               "Changes how unmodified programs use sockets, as a policy file says.\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (commands[i].fn)
            fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n`sockpolicy COMMAND --help` describes a command; sockpolicy.conf(5) the policy.\n\n"
               "exit status:\n"
               "  0  success (check: the policy is valid; warnings do not count)\n"
               "  1  failure (check, explain: the policy has errors or cannot be read)\n"
               "  2  usage error\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *c = argv[1];
    if (!strcmp(c, "--help") || !strcmp(c, "-h") || !strcmp(c, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(c, "--version") || !strcmp(c, "-V")) {
        printf("sockpolicy %s\n", SP_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (commands[i].fn && !strcmp(c, commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "sockpolicy: unknown command '%s'\n", c);
    usage(stderr);
    return 2;
}
