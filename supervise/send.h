/* supervise/send.h: the messages of a trapped sendto, sendmsg or sendmmsg as the supervisor
 * copied them out of the program (send.c decides them and makes the call, msg.c copies). The
 * call is made with these copies only: what the rules saw is what is sent, whatever another
 * thread of the program writes meanwhile. */
#ifndef SOCKPOLICY_SUP_SEND_H
#define SOCKPOLICY_SUP_SEND_H

#include <sys/uio.h>

#include "sup.h"

/* The most one message may carry that the supervisor copies (more: EMSGSIZE, as the kernel
 * for a datagram that big), all the messages of one sendmmsg together (more: the messages
 * that fit are sent, as a short count), and one message's ancillary data (more: ENOBUFS). */
#define SUP_SEND_MAX (4u << 20)
#define SUP_SEND_TOTAL (16u << 20)
#define SUP_CTL_MAX 65536u

struct sup_msg {
    struct sockaddr_storage name; /* what the call passes (the resolved unix path) */
    socklen_t namelen;            /* 0: no address (the socket's peer) */
    struct sockaddr_storage shown; /* the program's own address, for the log */
    socklen_t shownlen;
    const struct sp_rule *rule;   /* the rule that decided it */
    int ruled;                    /* a decision was made: its outcome is an event */
    struct iovec data;            /* the payload, in one piece (a datagram is one piece) */
    void *control;                /* the ancillary data, SCM_RIGHTS descriptors duplicated */
    size_t controllen;
    int *fds;                     /* those duplicates, closed with the message */
    unsigned nfds;
};

/* Reads the program's struct msghdr at ptr into h. 0, or EFAULT. */
int sup_msg_header(const struct sup_call *c, uint64_t ptr, struct msghdr *h);
/* Copies h's payload and ancillary data into m (budget: bytes the call may still copy, reduced
 * by what this message takes). 0, or the errno the kernel would give (EFAULT, EMSGSIZE,
 * ENOBUFS, EBADF for a descriptor passed that does not exist), or ENOMEM, or -1 when the
 * payload is more than the budget left. */
int sup_msg_copy(const struct sup_call *c, const struct msghdr *h, struct sup_msg *m,
                 size_t *budget);
/* sup_msg_copy for the len bytes at the program's address ptr (a sendto's buffer). */
int sup_msg_copy_buf(const struct sup_call *c, uint64_t ptr, size_t len, struct sup_msg *m,
                     size_t *budget);
/* Frees what sup_msg_copy allocated and closes the duplicated descriptors. errno preserved. */
void sup_msg_free(struct sup_msg *m);

/* What sup_stream_send returns when it may not wait and nothing could be sent at once. */
#define SUP_STREAM_BLOCKED (-2L)
/* Sends the n messages of v (each one piece) with flags on c's blocking stream socket c->fd
 * (stream.c): waits for room (wait 1: a worker, cancellable) only while nothing has left.
 * sendmmsg's count (mmsg 1: msg_len set) or sendmsg's bytes; -1 with *err; or
 * SUP_STREAM_BLOCKED (wait 0). */
long sup_stream_send(struct sup_call *c, struct mmsghdr *v, unsigned n, int flags, int mmsg,
                     int wait, int *err);

#endif
