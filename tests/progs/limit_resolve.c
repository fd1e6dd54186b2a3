/* limit_resolve: a plain program that looks NAME up with getaddrinfo(3) (IPv4 only, so the
 * stub resolver asks one question), then sends a datagram to, and connects a UDP socket to,
 * SERVER port 53 itself through the C library, and says what happened each time. It knows
 * nothing of sockpolicy.
 *   limit_resolve NAME SERVER
 * Prints `getaddrinfo=0 addr=A.B.C.D` or `getaddrinfo=-1 error=TEXT`, then
 * `libc sendto=N|-1 errno=NAME` and `libc connect=0|-1 errno=NAME`. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *ename(int e)
{
    const char *n = strerrorname_np(e);
    return n ? n : "?";
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: limit_resolve NAME SERVER\n");
        return 2;
    }
    struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res = NULL;
    int rc = getaddrinfo(argv[1], "80", &hints, &res);
    if (rc == 0) {
        char a[INET_ADDRSTRLEN] = "?";
        inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, a, sizeof a);
        printf("getaddrinfo=0 addr=%s\n", a);
        freeaddrinfo(res);
    } else {
        printf("getaddrinfo=-1 error=%s\n", gai_strerror(rc));
    }

    struct sockaddr_in ns = { .sin_family = AF_INET, .sin_port = htons(53) };
    if (inet_pton(AF_INET, argv[2], &ns.sin_addr) != 1) {
        fprintf(stderr, "limit_resolve: %s: not an IPv4 address\n", argv[2]);
        return 2;
    }
    /* Not a DNS question: a byte the responder ignores. Only whether it may leave matters. */
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ssize_t n = sendto(fd, "x", 1, 0, (const struct sockaddr *)&ns, sizeof ns);
    if (n >= 0)
        printf("libc sendto=%zd\n", n);
    else
        printf("libc sendto=-1 errno=%s\n", ename(errno));
    if (connect(fd, (const struct sockaddr *)&ns, sizeof ns) == 0)
        printf("libc connect=0\n");
    else
        printf("libc connect=-1 errno=%s\n", ename(errno));
    close(fd);
    return 0;
}
