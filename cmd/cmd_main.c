/* cmd/cmd_main.c: `sockpolicy COMMAND [ARGS...]`: dispatch, --help and --version. */
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

#ifndef SP_LIBDIR
#define SP_LIBDIR "/usr/local/lib"
#endif

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

/* What the kernel does with TFO (net.ipv4.tcp_fastopen: bit 1 client, bit 2 server), or -1. */
static int kernel_tfo(void)
{
    char buf[16] = {0};
    int fd = open("/proc/sys/net/ipv4/tcp_fastopen", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n > 0 && buf[0] >= '0' && buf[0] <= '9' ? (int)strtol(buf, NULL, 0) : -1;
}

/* First line: name and version, for scripts. Then what this build can do, and where it looks. */
static void version(void)
{
    printf("sockpolicy %s\n", SP_VERSION);
    printf("features:");
#ifdef TCP_FASTOPEN_CONNECT
    printf(" +tfo");
#else
    printf(" -tfo");
#endif
    /* The shim speaks journald's native protocol and syslog itself: no libsystemd. */
    printf(" +journald +syslog +json-log");
    printf(" compiled-policy=%u", (unsigned)SP_COMPILED_FORMAT);
#if defined(__SANITIZE_ADDRESS__)
    printf(" +asan");
#endif
    printf("\n");
    printf("installed library: %s/libsockpolicy.so\n", SP_LIBDIR);
    printf("policy: /etc/sockpolicy.conf (SOCKPOLICY_CONF overrides)\n");
    int tfo = kernel_tfo();
    if (tfo >= 0)
        printf("kernel: net.ipv4.tcp_fastopen=%d (client %s, server %s)\n", tfo,
               (tfo & 1) ? "on" : "off", (tfo & 2) ? "on" : "off");
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
        version();
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (commands[i].fn && !strcmp(c, commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "sockpolicy: unknown command '%s'\n", c);
    usage(stderr);
    return 2;
}
