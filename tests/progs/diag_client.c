/* tests/progs/diag_client.c: a plain client, written as any program would be, for the
 * network-namespace scenarios of tests/diag_net.t.
 *   diag_client [-n] connect ADDR PORT    blocking, or -n: non-blocking + poll + SO_ERROR
 *   diag_client bind ADDR PORT            bind a TCP socket
 * Prints "errno=NAME ms=N" (NAME is OK on success) and exits 0 either way. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *name(int e)
{
    switch (e) {
    case 0: return "OK";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ENETUNREACH: return "ENETUNREACH";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EADDRINUSE: return "EADDRINUSE";
    case EINPROGRESS: return "EINPROGRESS";
    }
    return "OTHER";
}

static long ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

int main(int argc, char **argv)
{
    int nb = argc > 1 && strcmp(argv[1], "-n") == 0;
    if (argc - nb != 4) {
        fprintf(stderr, "usage: diag_client [-n] connect|bind ADDR PORT\n");
        return 2;
    }
    const char *op = argv[1 + nb];
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3 + nb]))};
    if (inet_pton(AF_INET, argv[2 + nb], &in.sin_addr) != 1)
        return 2;
    int fd = socket(AF_INET, SOCK_STREAM | (nb ? SOCK_NONBLOCK : 0), 0);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int err = 0;
    if (strcmp(op, "bind") == 0) {
        if (bind(fd, (struct sockaddr *)&in, sizeof in) != 0)
            err = errno;
    } else if (connect(fd, (struct sockaddr *)&in, sizeof in) != 0) {
        err = errno;
        if (nb && err == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            poll(&p, 1, 30000);
            socklen_t len = sizeof err;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        }
    }
    printf("errno=%s ms=%ld\n", name(err), ms_since(&t0));
    close(fd);
    return 0;
}
