/* diag/diag_event.c: filling an event record, and the names the formats print. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "bio.h"
#include "diag.h"

uint64_t sp_diag_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void sp_event_init(struct sp_event *ev, enum sp_op op, int fd)
{
    int saved = errno;
    memset(ev, 0, sizeof *ev);
    clock_gettime(CLOCK_REALTIME, &ev->when);
    ev->pid = getpid();
    /* The kernel's comm: 16 bytes with the NUL, any bytes the program chose. */
    if (prctl(PR_GET_NAME, (unsigned long)ev->prog, 0, 0, 0) != 0)
        ev->prog[0] = '\0';
    ev->prog[sizeof ev->prog - 1] = '\0';
    ev->fd = fd;
    ev->op = op;
    ev->tcp_state = -1;
    errno = saved;
}

void sp_event_message(struct sp_event *ev, enum sp_log_level level, const char *msg)
{
    sp_event_init(ev, SP_OP_SOCKET, -1);
    ev->flags = SP_EVF_MESSAGE;
    ev->msg_level = level;
    ev->note = msg;
}

void sp_event_set_addr(struct sp_event *ev, int which, const struct sockaddr *sa, socklen_t len)
{
    struct sockaddr_storage *dst = which ? &ev->remote : &ev->local;
    socklen_t *dlen = which ? &ev->remote_len : &ev->local_len;
    memset(dst, 0, sizeof *dst);
    *dlen = 0;
    if (sa == NULL || len == 0)
        return;
    if (len > sizeof *dst)
        len = sizeof *dst;
    memcpy(dst, sa, len);
    *dlen = len;
    if (ev->family == 0 && len >= sizeof(sa_family_t))
        ev->family = sa->sa_family;
}

int sp_diag_tcp_state(const struct sp_diag_ops *ops, int fd)
{
    int saved = errno;
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    memset(&ti, 0, sizeof ti);
    int r = ops->getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len);
    errno = saved;
    return r == 0 && len >= 1 ? ti.tcpi_state : -1;
}

int sp_event_connected_at_close(const struct sp_event *ev)
{
    if (ev->phase != SP_PHASE_CLOSE || ev->err != 0)
        return 0;
    switch (ev->tcp_state) {
    case TCP_ESTABLISHED: case TCP_FIN_WAIT1: case TCP_FIN_WAIT2: case TCP_CLOSE_WAIT:
    case TCP_LAST_ACK: case TCP_CLOSING: case TCP_TIME_WAIT:
        return 1;
    }
    return 0;
}

/* The language's own spellings (policy/names.c), "?" for a value it has none for. */
const char *sp_diag_op_name(enum sp_op op)
{
    const char *n = sp_op_name(op);
    return n ? n : "?";
}

const char *sp_diag_action_name(enum sp_action a)
{
    const char *n = sp_action_name(a);
    return n ? n : "?";
}

const char *sp_diag_errno_name(int err)
{
    return bio_errno_name(err);
}

const char *sp_diag_tcp_state_name(int state)
{
    static const char *const names[] = {
        [TCP_ESTABLISHED] = "ESTABLISHED", [TCP_SYN_SENT] = "SYN_SENT",
        [TCP_SYN_RECV] = "SYN_RECV",       [TCP_FIN_WAIT1] = "FIN_WAIT1",
        [TCP_FIN_WAIT2] = "FIN_WAIT2",     [TCP_TIME_WAIT] = "TIME_WAIT",
        [TCP_CLOSE] = "CLOSE",             [TCP_CLOSE_WAIT] = "CLOSE_WAIT",
        [TCP_LAST_ACK] = "LAST_ACK",       [TCP_LISTEN] = "LISTEN",
        [TCP_CLOSING] = "CLOSING",
    };
    if (state >= 0 && (size_t)state < sizeof names / sizeof names[0] && names[state])
        return names[state];
    return "?";
}
