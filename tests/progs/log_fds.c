/* tests/progs/log_fds.c: a plain program for tests/shim_log_fds.t, written as programs are.
 *   number PORT [LOG]        one refused connect to 127.0.0.1:PORT (a line the shim may log),
 *                            then open("/dev/null"): prints "next=N", the number it got, and
 *                            "ours=N cloexec=C" for each descriptor open on LOG (from
 *                            /proc/self/fd; without LOG: every other one above 2)
 *   rotate PORT LOG          like a daemon under logrotate that closes every descriptor: a
 *                            refused connect; LOG renamed to LOG.1, the next second another;
 *                            close_range(3, ~0U); its own files opened on the very numbers the
 *                            shim had (as a program with many files would get them); a third
 *                            refused connect; LOG.1 renamed to LOG.2 and LOG to LOG.1, the next
 *                            second a fourth; then a write to each of its own files: "write N
 *                            ok" or "write N EBADF" (the shim closed it)
 *   emfile PORT              its descriptors used up (RLIMIT_NOFILE 64): a refused connect
 *                            (EMFILE when the shim opens its sink); then every filler closed,
 *                            1.2 s later another refused connect; prints "done"
 * Exits 0 unless a step the program itself needs fails. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* A refused connect on a fresh socket, left open when keep. */
static int refused_keep(int port, int keep)
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)port);
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        printf("socket: %s\n", strerror(errno));
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0)
        printf("connect to %d worked\n", port);
    if (!keep)
        close(fd);
    return fd;
}

static void refused(int port)
{
    refused_keep(port, 0);
}

static void next_second(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    struct timespec d = {0, 1000000000 - ts.tv_nsec + 50000000};
    nanosleep(&d, NULL);
}

/* The descriptors above 2 open now, except skip (-1: none). */
static int others(int *fds, int max, int skip)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    int self = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] == '.' || fd <= 2 || fd == self || fd == skip)
            continue;
        fds[n++] = fd;
    }
    closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc >= 3 && !strcmp(argv[1], "number")) {
        refused_keep(atoi(argv[2]), 1); /* its socket stays open, as a retrying client's does */
        int fd = open("/dev/null", O_RDONLY);
        printf("next=%d\n", fd);
        int fds[16], n = others(fds, 16, fd);
        for (int i = 0; i < n; i++) {
            char link[64], target[PATH_MAX];
            snprintf(link, sizeof link, "/proc/self/fd/%d", fds[i]);
            ssize_t m = readlink(link, target, sizeof target - 1);
            target[m > 0 ? m : 0] = 0;
            if (argc >= 4 && strcmp(target, argv[3]) != 0)
                continue; /* inherited from whoever ran us */
            printf("ours=%d cloexec=%d\n", fds[i], (fcntl(fds[i], F_GETFD) & FD_CLOEXEC) != 0);
        }
        return 0;
    }
    if (argc >= 4 && !strcmp(argv[1], "rotate")) {
        int port = atoi(argv[2]);
        const char *log = argv[3];
        char l1[PATH_MAX], l2[PATH_MAX], mine[PATH_MAX];
        snprintf(l1, sizeof l1, "%s.1", log);
        snprintf(l2, sizeof l2, "%s.2", log);
        refused(port);
        rename(log, l1);
        next_second();
        refused(port); /* the shim opens LOG again and keeps the rotated descriptor */
        int fds[16], n = others(fds, 16, -1); /* the shim's (and any inherited) */
        if (syscall(SYS_close_range, 3, ~0U, 0) != 0) {
            printf("close_range: %s\n", strerror(errno));
            return 1;
        }
        for (int i = 0; i < n; i++) {
            snprintf(mine, sizeof mine, "%s.mine%d", log, i);
            int f = open(mine, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (f < 0 || (f != fds[i] && dup2(f, fds[i]) != fds[i])) {
                printf("open %s: %s\n", mine, strerror(errno));
                return 1;
            }
            if (f != fds[i])
                close(f);
        }
        refused(port); /* the shim finds its descriptors taken: it opens LOG again */
        rename(l1, l2);
        rename(log, l1);
        next_second();
        refused(port); /* a second rotation: the shim must not close the program's files */
        for (int i = 0; i < n; i++)
            printf("write %d %s\n", fds[i], write(fds[i], "mine\n", 5) == 5 ? "ok" : strerror(errno));
        printf("files %d\n", n);
        return 0;
    }
    if (argc >= 3 && !strcmp(argv[1], "emfile")) {
        int port = atoi(argv[2]);
        struct rlimit rl = {64, 64};
        setrlimit(RLIMIT_NOFILE, &rl);
        struct sockaddr_in sin;
        memset(&sin, 0, sizeof sin);
        sin.sin_family = AF_INET;
        sin.sin_port = htons((unsigned short)port);
        inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
        int s = socket(AF_INET, SOCK_STREAM, 0);
        int fill[64], n = 0;
        while (n < 64 && (fill[n] = open("/dev/null", O_RDONLY)) >= 0)
            n++;
        if (connect(s, (struct sockaddr *)&sin, sizeof sin) == 0)
            printf("connect worked\n");
        int e = errno;
        for (int i = 0; i < n; i++)
            close(fill[i]);
        close(s);
        printf("first errno=%d filled=%d\n", e, n);
        struct timespec d = {1, 200000000};
        nanosleep(&d, NULL);
        refused(port);
        printf("done\n");
        return 0;
    }
    fprintf(stderr, "usage: log_fds number PORT | rotate PORT LOG | emfile PORT\n");
    return 2;
}
