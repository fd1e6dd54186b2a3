/* tests/bench/rwloop.c: a read/write loop on an already connected socket pair, written as any
 * program would be, for the supervision row of `make bench`: under the seccomp supervisor these
 * calls never leave the kernel, so the loop must cost what it costs bare.
 *   rwloop [-n N]   N round trips of 64 bytes (default 200000); prints "iters=N secs=S" */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long n = 200000;
    if (argc > 2 && !strcmp(argv[1], "-n"))
        n = strtol(argv[2], NULL, 10);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        perror("rwloop: socketpair");
        return 1;
    }
    char buf[64] = {0};
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) {
        if (write(sv[0], buf, sizeof buf) != (ssize_t)sizeof buf ||
            read(sv[1], buf, sizeof buf) != (ssize_t)sizeof buf) {
            perror("rwloop");
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("iters=%ld secs=%.6f\n", n, (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
    return 0;
}
