/* tests/progs/shape_flip.c: a hostile program for tests/shim_shapes.t. One thread flips an
 * address buffer between 127.0.0.1:OKPORT and 127.0.0.1:PORT while the main thread sends N
 * datagrams to whatever the buffer holds (sendto, or sendmsg with -m), so a shim that checks
 * the buffer and then hands the same buffer to the kernel is raced. Prints "sent=K failed=F".
 * Knows nothing of sockpolicy.
 *   shape_flip [-m] PORT OKPORT N */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static struct sockaddr_in addr;
static atomic_int stop;
static unsigned short p1, p2;

static void *flip(void *arg)
{
    (void)arg;
    volatile unsigned short *port = &addr.sin_port;
    for (unsigned long i = 0; !atomic_load_explicit(&stop, memory_order_relaxed); i++)
        *port = (i & 1) ? p1 : p2;
    return NULL;
}

int main(int argc, char **argv)
{
    int msg = argc > 1 && !strcmp(argv[1], "-m");
    if (msg)
        argv++, argc--;
    if (argc < 4)
        return 2;
    p1 = htons((unsigned short)atoi(argv[1]));
    p2 = htons((unsigned short)atoi(argv[2]));
    long n = atol(argv[3]);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = p2;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    pthread_t t;
    pthread_create(&t, NULL, flip, NULL);
    /* Let the flipper run before the sends start. */
    struct timespec ms = { 0, 1000000 };
    nanosleep(&ms, NULL);
    long sent = 0, failed = 0;
    time_t end = time(NULL) + 20;
    for (long i = 0; i < n && time(NULL) < end; i++) {
        ssize_t r;
        if (msg) {
            struct iovec iov = { "f", 1 };
            struct msghdr m = { .msg_name = &addr, .msg_namelen = sizeof addr, .msg_iov = &iov,
                                .msg_iovlen = 1 };
            r = sendmsg(fd, &m, 0);
        } else {
            r = sendto(fd, "f", 1, 0, (struct sockaddr *)&addr, sizeof addr);
        }
        if (r == 1)
            sent++;
        else
            failed++;
    }
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    printf("sent=%ld failed=%ld\n", sent, failed);
    return 0;
}
