/* tests/progs/sup_swap.c: the descriptor-swap attack on a supervisor that answers CONTINUE
 * after looking at a socket (issue 15). One thread dup2()s a UDP socket and a TCP socket
 * (connected to a listener of this program, drained by a third thread) onto one number in
 * turn; another sends to 127.0.0.1:DENIED_PORT on that number, with sendto or sendmsg, until
 * SECONDS pass (at most 20,000,000 swaps and sends). On the TCP socket the kernel ignores the
 * address; on the UDP one a datagram reaches the denied port unless something stops it.
 *   sup_swap sendto|sendmsg DENIED_PORT SECONDS
 * prints sent=N, denied=N, other=N, swaps=N, a line each: calls that returned a count, that
 * failed EACCES (the rule's errno), that failed otherwise (and the last such errno).
 *   sup_swap pin PORT SECONDS
 * the same with a TCP socket connected to 127.0.0.1:PORT (where a rule pins nodelay=off) in
 * place of the UDP one, and setsockopt(TCP_NODELAY, 1) in place of the sends; prints also
 * nodelay=N, that socket's TCP_NODELAY at the end. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NUM 100 /* the number both sockets are swapped onto */
#define MAX_LOOPS 20000000L

static int udp, tcp, peer, use_msg, use_pin;
static struct sockaddr_in denied;
static struct timespec end;
static volatile int stop;
static long swaps, sent, refused, other;
static int other_errno; /* the last of those */

static int over(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec);
}

static void *flip(void *arg)
{
    (void)arg;
    for (long i = 0; i < MAX_LOOPS && !stop; i++) {
        dup2((i & 1) ? tcp : udp, NUM);
        swaps++;
    }
    return NULL;
}

static void *drain(void *arg)
{
    (void)arg;
    char buf[65536];
    while (recv(peer, buf, sizeof buf, 0) > 0)
        ;
    return NULL;
}

static void send_loop(void)
{
    char byte = 'x';
    struct iovec iov = { &byte, 1 };
    struct msghdr h = { .msg_name = &denied, .msg_namelen = sizeof denied, .msg_iov = &iov,
                        .msg_iovlen = 1 };
    int one = 1;
    for (long i = 0; i < MAX_LOOPS && !over(); i++) {
        ssize_t r = use_pin ? setsockopt(NUM, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one)
                  : use_msg ? sendmsg(NUM, &h, MSG_NOSIGNAL)
                            : sendto(NUM, &byte, 1, MSG_NOSIGNAL, (struct sockaddr *)&denied,
                                     sizeof denied);
        if (r >= 0)
            sent++;
        else if (errno == EACCES)
            refused++;
        else {
            other++;
            other_errno = errno;
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[1], "sendto") && strcmp(argv[1], "sendmsg") &&
                      strcmp(argv[1], "pin")))
        return 2;
    use_msg = !strcmp(argv[1], "sendmsg");
    use_pin = !strcmp(argv[1], "pin");
    denied = (struct sockaddr_in){ .sin_family = AF_INET,
                                   .sin_port = htons((unsigned short)atoi(argv[2])),
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct sockaddr_in me = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t ml = sizeof me;
    int lis = socket(AF_INET, SOCK_STREAM, 0);
    udp = socket(AF_INET, use_pin ? SOCK_STREAM : SOCK_DGRAM, 0);
    tcp = socket(AF_INET, SOCK_STREAM, 0);
    if (lis < 0 || udp < 0 || tcp < 0 || bind(lis, (struct sockaddr *)&me, sizeof me) != 0 ||
        getsockname(lis, (struct sockaddr *)&me, &ml) != 0 || listen(lis, 1) != 0 ||
        connect(tcp, (struct sockaddr *)&me, sizeof me) != 0 || (peer = accept(lis, NULL, NULL)) < 0) {
        perror("sup_swap: setup");
        return 1;
    }
    if (use_pin && connect(udp, (struct sockaddr *)&denied, sizeof denied) != 0) {
        perror("sup_swap: connect to the pinned port");
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += atoi(argv[3]);
    pthread_t f, d;
    if (pthread_create(&d, NULL, drain, NULL) != 0 || pthread_create(&f, NULL, flip, NULL) != 0)
        return 1;
    send_loop();
    stop = 1;
    pthread_join(f, NULL);
    shutdown(peer, SHUT_RDWR);
    pthread_join(d, NULL);
    printf("sent=%ld\ndenied=%ld\nother=%ld\nswaps=%ld\n", sent, refused, other, swaps);
    if (other)
        printf("last_other=%s\n", strerrorname_np(other_errno));
    int nd = -1;
    socklen_t l = sizeof nd;
    if (use_pin && getsockopt(udp, IPPROTO_TCP, TCP_NODELAY, &nd, &l) == 0)
        printf("nodelay=%d\n", nd);
    return 0;
}
