/* tests/progs/sup_send.c: sendmmsg and sendmsg with destinations, as a program makes them.
 *   sup_send mmsg DENIED_PORT: a datagram socket sends, with sendmmsg, [to its own receiver
 *   (100 bytes), to the receiver (200), to 127.0.0.1:DENIED_PORT, to the receiver], then
 *   [to DENIED_PORT, to the receiver], then sendmsg to the receiver with two iovecs; prints
 *   each result, the msg_len the kernel wrote back, and what the receiver got. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>


static char buf[4][300];

static void fill(struct mmsghdr *v, struct sockaddr_in *to, size_t len, int i)
{
    static struct iovec iov[8];
    memset(&v[i], 0, sizeof v[i]);
    iov[i].iov_base = buf[i % 4];
    iov[i].iov_len = len;
    v[i].msg_hdr.msg_name = to;
    v[i].msg_hdr.msg_namelen = sizeof *to;
    v[i].msg_hdr.msg_iov = &iov[i];
    v[i].msg_hdr.msg_iovlen = 1;
}

int main(int argc, char **argv)
{
    if (argc < 3 || strcmp(argv[1], "mmsg") != 0)
        return 2;
    int r = socket(AF_INET, SOCK_DGRAM, 0), s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in me = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t ml = sizeof me;
    if (r < 0 || s < 0 || bind(r, (struct sockaddr *)&me, sizeof me) != 0 ||
        getsockname(r, (struct sockaddr *)&me, &ml) != 0)
        return 1;
    struct sockaddr_in no = me;
    no.sin_port = htons((unsigned short)atoi(argv[2]));
    struct mmsghdr v[4];
    fill(v, &me, 100, 0);
    fill(v, &me, 200, 1);
    fill(v, &no, 10, 2);
    fill(v, &me, 10, 3);
    int n = sendmmsg(s, v, 4, 0);
    printf("mmsg=%d len0=%u len1=%u len2=%u\n", n, v[0].msg_len, v[1].msg_len, v[2].msg_len);
    fill(v, &no, 10, 0);
    fill(v, &me, 10, 1);
    n = sendmmsg(s, v, 2, 0);
    printf("mmsg=%d errno=%s\n", n, n < 0 ? strerrorname_np(errno) : "-");
    struct iovec two[2] = { { buf[0], 30 }, { buf[1], 12 } };
    struct msghdr h = { .msg_name = &me, .msg_namelen = sizeof me, .msg_iov = two, .msg_iovlen = 2 };
    printf("sendmsg=%zd\n", sendmsg(s, &h, 0));
    struct timeval tv = { 1, 0 };
    setsockopt(r, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (ssize_t got; (got = recv(r, buf[3], sizeof buf[3], 0)) >= 0;)
        printf("got=%zd\n", got);
    return 0;
}
