/* supervise/stream.c: a send the supervisor makes on a blocking stream socket (a TCP socket,
 * a local stream socket) for the program. The kernel's blocking send waits for room until
 * every byte is queued; the supervisor's waits only while nothing of the call has left, and
 * once something has, answers with what was sent as soon as the socket would block (a short
 * count, as the kernel's own after a signal). Were it to wait on after bytes had left, a
 * signal to the program would end the program's call (restarted, or EINTR) with those bytes
 * already in the stream: the program would send them twice. SO_SNDTIMEO is honoured (EAGAIN
 * when it expires with nothing sent, as the kernel). */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "send.h"

/* The socket's SO_SNDTIMEO in ms, rounded up; -1 none. */
static int send_timeout_ms(int fd)
{
    struct timeval tv;
    socklen_t l = sizeof tv;
    if (getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &l) != 0 || (!tv.tv_sec && !tv.tv_usec))
        return -1;
    long long ms = (long long)tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
    return ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}

/* Waits until c->fd is writable, the program's call is gone (EINTR) or *left_ms ran out
 * (EAGAIN; -1: no limit). 0, or the errno. */
static int wait_room(struct sup_call *c, int *left_ms)
{
    for (;;) {
        if (sup_cancelled(c))
            return EINTR;
        if (*left_ms == 0)
            return EAGAIN;
        struct pollfd p = { c->fd, POLLOUT, 0 };
        uint64_t t0 = sp_diag_now_ns();
        int n = sup_poll(&p, 1, *left_ms);
        if (*left_ms > 0) {
            uint64_t took = (sp_diag_now_ns() - t0) / 1000000u;
            *left_ms = took >= (uint64_t)*left_ms ? 0 : *left_ms - (int)took;
        }
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return errno;
    }
}

long sup_stream_send(struct sup_call *c, struct mmsghdr *v, unsigned n, int flags, int mmsg,
                     int wait, int *err)
{
    flags |= MSG_DONTWAIT | MSG_NOSIGNAL;
    int left_ms = wait ? send_timeout_ms(c->fd) : 0;
    unsigned done = 0; /* messages sent whole */
    size_t off = 0;    /* bytes of message done sent */
    *err = 0;
    while (done < n) {
        struct msghdr h = v[done].msg_hdr;
        struct iovec part = h.msg_iov[0]; /* a message is one piece (send.h) */
        part.iov_base = (char *)part.iov_base + off;
        part.iov_len -= off;
        h.msg_iov = &part;
        if (off) { /* the ancillary data went with the first byte */
            h.msg_control = NULL;
            h.msg_controllen = 0;
        }
        ssize_t r = sendmsg(c->fd, &h, flags);
        if (r >= 0)
            off += (size_t)r;
        if (r >= 0 && part.iov_len == (size_t)r) {
            v[done++].msg_len = (unsigned)off;
            off = 0;
            continue;
        }
        if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            *err = errno;
            break;
        }
        if (done || off) /* something left: never wait after that */
            break;
        if (!wait)
            return SUP_STREAM_BLOCKED;
        if ((*err = wait_room(c, &left_ms)) != 0)
            break;
    }
    if (off)
        v[done++].msg_len = (unsigned)off; /* a short last message counts, as the kernel's */
    if (!done)
        return -1;
    *err = 0;
    return mmsg ? (long)done : (long)v[0].msg_len;
}
