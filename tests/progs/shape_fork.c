/* tests/progs/shape_fork.c: for tests/shim_shapes.t. Sends a datagram to 127.0.0.1:OKPORT,
 * then forks (fork(3), then the raw fork system call, which runs no atfork handler); each
 * child changes the address to 127.0.0.1:PORT in its own memory (the parent's still says
 * OKPORT) and sends to it. A library that read the parent's memory for the child would see
 * OKPORT. Prints "parent=R fork=R rawfork=R" (R: the sendto result, or -errno).
 * Knows nothing of sockpolicy.   shape_fork PORT OKPORT */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static struct sockaddr_in addr;

static long send_now(int fd)
{
    ssize_t r = sendto(fd, "k", 1, 0, (struct sockaddr *)&addr, sizeof addr);
    return r < 0 ? -errno : r;
}

/* In the child: the address changed in its memory only; the result through a pipe. */
static long child(int fd, int raw)
{
    int p[2];
    if (pipe(p) != 0)
        return -999;
    pid_t pid = raw ? (pid_t)syscall(SYS_fork) : fork();
    if (pid == 0) {
        addr.sin_port = htons((unsigned short)atoi(getenv("SHAPE_PORT")));
        long r = send_now(fd);
        if (write(p[1], &r, sizeof r) != sizeof r)
            _exit(1);
        _exit(0);
    }
    long r = -998;
    close(p[1]);
    if (read(p[0], &r, sizeof r) != sizeof r)
        r = -997;
    waitpid(pid, NULL, 0);
    return r;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    setenv("SHAPE_PORT", argv[1], 1);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((unsigned short)atoi(argv[2]));
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    long a = send_now(fd);
    long b = child(fd, 0);
    long c = child(fd, 1);
    printf("parent=%ld fork=%ld rawfork=%ld\n", a, b, c);
    return 0;
}
