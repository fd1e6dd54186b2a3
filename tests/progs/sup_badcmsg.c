/* tests/progs/sup_badcmsg.c: a sendmsg whose SCM_RIGHTS header claims more bytes than the
 * control buffer holds (cmsg_len 1 GiB in a 24-byte buffer), on a unix datagram socketpair.
 * The kernel answers EINVAL; a supervisor that trusted the length read and wrote past its copy.
 * Prints "sendmsg=R errno=NAME" and "alive". */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void)
{
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sp) != 0)
        return 2;
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } u;
    memset(&u, 0, sizeof u);
    u.h.cmsg_level = SOL_SOCKET;
    u.h.cmsg_type = SCM_RIGHTS;
    u.h.cmsg_len = (size_t)1 << 30;
    char byte = 'x';
    struct iovec iov = { &byte, 1 };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
                        .msg_controllen = sizeof u.b };
    ssize_t r = sendmsg(sp[0], &m, 0);
    int e = errno;
    printf("sendmsg=%zd errno=%s\n", r, r < 0 ? (e == EINVAL ? "EINVAL" : strerror(e)) : "-");
    r = send(sp[0], &byte, 1, 0); /* the process (and its supervisor) still work */
    printf("%s\n", r == 1 ? "alive" : "dead");
    return 0;
}
