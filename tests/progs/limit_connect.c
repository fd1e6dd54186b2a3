/* limit_connect: a plain program that connects to HOST:PORT over TCP in the ways a program may,
 * and says what happened, so that tests/limits.t can show which ways a preloaded library
 * reaches. It knows nothing of sockpolicy.
 *   limit_connect HOST PORT WAY... [exec PROGRAM ARGS...]
 * WAY is `libc` (socket(3) and connect(3) through the C library, as almost every program) or
 * `raw` (syscall(SYS_socket) and syscall(SYS_connect), as Go's runtime and other programs that
 * make their own system calls). For each WAY it prints one line:
 *   WAY connect=0 keepalive=K            or   WAY connect=-1 errno=NAME
 * (K is SO_KEEPALIVE read back from the kernel), then `preloaded=N`: how many mapped files of
 * this process have "sockpolicy" in their name (read from /proc/self/maps), and `euid=N`. With
 * `exec`, it
 * then runs PROGRAM, which inherits the environment. Exit status 0 unless it could not run. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *ename(int e)
{
    const char *n = strerrorname_np(e);
    return n ? n : "?";
}

static int keepalive_of(int fd)
{
    int v = -1;
    socklen_t l = sizeof v;
    if (getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, &l) != 0)
        return -1;
    return v;
}

static void try_connect(const char *way, const struct sockaddr_in *sin)
{
    int raw = !strcmp(way, "raw");
    int fd = raw ? (int)syscall(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)
                 : socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        printf("%s socket=-1 errno=%s\n", way, ename(errno));
        return;
    }
    int rc = raw ? (int)syscall(SYS_connect, fd, (const struct sockaddr *)sin, sizeof *sin)
                 : connect(fd, (const struct sockaddr *)sin, sizeof *sin);
    if (rc == 0)
        printf("%s connect=0 keepalive=%d\n", way, keepalive_of(fd));
    else
        printf("%s connect=-1 errno=%s\n", way, ename(errno));
    if (raw)
        syscall(SYS_close, fd);
    else
        close(fd);
}

static int preloaded(void)
{
    FILE *f = fopen("/proc/self/maps", "re");
    char line[4096];
    int n = 0;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strstr(line, "sockpolicy"))
            n++;
    fclose(f);
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: limit_connect HOST PORT WAY... [exec PROGRAM ARGS...]\n");
        return 2;
    }
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])) };
    if (inet_pton(AF_INET, argv[1], &sin.sin_addr) != 1) {
        fprintf(stderr, "limit_connect: %s: not an IPv4 address\n", argv[1]);
        return 2;
    }
    int i = 3;
    for (; i < argc && strcmp(argv[i], "exec"); i++) {
        if (strcmp(argv[i], "libc") && strcmp(argv[i], "raw")) {
            fprintf(stderr, "limit_connect: %s: not a way (libc, raw)\n", argv[i]);
            return 2;
        }
        try_connect(argv[i], &sin);
    }
    printf("preloaded=%d\neuid=%d\n", preloaded(), (int)geteuid());
    fflush(stdout);
    if (i + 1 < argc) {
        execv(argv[i + 1], argv + i + 1);
        fprintf(stderr, "limit_connect: cannot run %s: %s\n", argv[i + 1], strerror(errno));
        return 1;
    }
    return 0;
}
