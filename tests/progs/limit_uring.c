/* limit_uring: a plain program that connects to HOST:PORT first with connect(3), then with an
 * io_uring IORING_OP_CONNECT (raw io_uring_setup/io_uring_enter system calls, no liburing),
 * and says what happened each time. It knows nothing of sockpolicy.
 *   limit_uring HOST PORT
 * Prints `libc connect=0|-1 errno=NAME`, then `uring connect=0|-1 errno=NAME`, or
 * `uring setup=-1 errno=NAME` when the kernel gives no ring (io_uring disabled, seccomp). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *ename(int e)
{
    const char *n = strerrorname_np(e);
    return n ? n : "?";
}

/* The result of one IORING_OP_CONNECT of fd to sin: 0 or -errno; -1000 - errno when there is
 * no ring (the caller tells the two apart). */
static int uring_connect(int fd, const struct sockaddr_in *sin)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    int ring = (int)syscall(SYS_io_uring_setup, 4, &p);
    if (ring < 0)
        return -1000 - errno;
    size_t sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    int single = (p.features & IORING_FEAT_SINGLE_MMAP) != 0;
    if (single && cq_size > sq_size)
        sq_size = cq_size;
    char *sq = mmap(NULL, sq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring,
                    IORING_OFF_SQ_RING);
    char *cq = single ? sq
                      : mmap(NULL, cq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring,
                             IORING_OFF_CQ_RING);
    struct io_uring_sqe *sqes = mmap(NULL, p.sq_entries * sizeof *sqes, PROT_READ | PROT_WRITE,
                                     MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
    if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) {
        int e = errno;
        close(ring);
        return -1000 - e;
    }
    unsigned *sq_tail = (unsigned *)(sq + p.sq_off.tail);
    unsigned *sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
    unsigned *sq_array = (unsigned *)(sq + p.sq_off.array);
    unsigned tail = __atomic_load_n(sq_tail, __ATOMIC_ACQUIRE);
    unsigned idx = tail & *sq_mask;
    struct io_uring_sqe *sqe = &sqes[idx];
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = IORING_OP_CONNECT;
    sqe->fd = fd;
    sqe->addr = (unsigned long)sin;
    sqe->off = sizeof *sin; /* the address length travels in off */
    sqe->user_data = 1;
    sq_array[idx] = idx;
    __atomic_store_n(sq_tail, tail + 1, __ATOMIC_RELEASE);

    int res = -EIO;
    if (syscall(SYS_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0) {
        res = -errno;
    } else {
        unsigned *cq_head = (unsigned *)(cq + p.cq_off.head);
        unsigned *cq_tail = (unsigned *)(cq + p.cq_off.tail);
        unsigned *cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
        struct io_uring_cqe *cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
        unsigned head = __atomic_load_n(cq_head, __ATOMIC_ACQUIRE);
        if (head != __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE)) {
            res = cqes[head & *cq_mask].res;
            __atomic_store_n(cq_head, head + 1, __ATOMIC_RELEASE);
        }
    }
    munmap(sqes, p.sq_entries * sizeof *sqes);
    if (!single)
        munmap(cq, cq_size);
    munmap(sq, sq_size);
    close(ring);
    return res;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: limit_uring HOST PORT\n");
        return 2;
    }
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])) };
    if (inet_pton(AF_INET, argv[1], &sin.sin_addr) != 1) {
        fprintf(stderr, "limit_uring: %s: not an IPv4 address\n", argv[1]);
        return 2;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (const struct sockaddr *)&sin, sizeof sin) == 0)
        printf("libc connect=%d\n", fd < 0 ? -2 : 0);
    else
        printf("libc connect=-1 errno=%s\n", ename(errno));
    if (fd >= 0)
        close(fd);

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        printf("uring socket=-1 errno=%s\n", ename(errno));
        return 1;
    }
    int res = uring_connect(fd, &sin);
    if (res <= -1000)
        printf("uring setup=-1 errno=%s\n", ename(-res - 1000));
    else if (res == 0)
        printf("uring connect=0\n");
    else
        printf("uring connect=-1 errno=%s\n", ename(-res));
    close(fd);
    return 0;
}
