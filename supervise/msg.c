/* supervise/msg.c: a sendmsg's message copied out of the program (process_vm_readv): its
 * header, its payload (the iovecs gathered into one buffer, bounded) and its ancillary data,
 * the descriptors an SCM_RIGHTS passes duplicated into the supervisor (pidfd_getfd): the
 * supervisor sends the message itself, from its own descriptor table. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "send.h"

int sup_msg_header(const struct sup_call *c, uint64_t ptr, struct msghdr *h)
{
    return sup_read_mem(c, ptr, h, sizeof *h) == 0 ? 0 : EFAULT;
}

/* The payload of the program's iovecs iv[0, niov) into one buffer m->data. 0, or an errno. */
static int gather(const struct sup_call *c, const struct iovec *iv, size_t niov,
                  struct sup_msg *m, size_t *budget)
{
    size_t total = 0;
    for (size_t i = 0; i < niov; i++) {
        if (iv[i].iov_len > (size_t)SSIZE_MAX - total)
            return EINVAL; /* as the kernel: the lengths overflow */
        total += iv[i].iov_len;
    }
    if (total > SUP_SEND_MAX)
        return EMSGSIZE;
    if (total > *budget)
        return -1;
    if (!(m->data.iov_base = malloc(total ? total : 1)))
        return ENOMEM;
    size_t off = 0;
    for (size_t i = 0; i < niov; i++) {
        if (iv[i].iov_len &&
            sup_read_mem(c, (uint64_t)(uintptr_t)iv[i].iov_base, (char *)m->data.iov_base + off,
                         iv[i].iov_len) != 0)
            return EFAULT;
        off += iv[i].iov_len;
    }
    m->data.iov_len = total;
    *budget -= total;
    return 0;
}

int sup_msg_copy_buf(const struct sup_call *c, uint64_t ptr, size_t len, struct sup_msg *m,
                     size_t *budget)
{
    struct iovec one = { (void *)(uintptr_t)ptr, len };
    return gather(c, &one, 1, m, budget);
}

/* The payload of the iovecs at h->msg_iov. 0, or an errno. */
static int copy_data(const struct sup_call *c, const struct msghdr *h, struct sup_msg *m,
                     size_t *budget)
{
    size_t niov = h->msg_iovlen;
    if (niov > UIO_MAXIOV)
        return EMSGSIZE; /* as the kernel */
    struct iovec *iv = niov ? malloc(niov * sizeof *iv) : NULL;
    if (niov && !iv)
        return ENOMEM;
    int err = 0;
    if (niov && sup_read_mem(c, (uint64_t)(uintptr_t)h->msg_iov, iv, niov * sizeof *iv) != 0)
        err = EFAULT;
    if (!err)
        err = gather(c, iv, niov, m, budget);
    free(iv);
    return err;
}

/* The program's descriptors in each SCM_RIGHTS of m->control replaced by duplicates here. */
static int take_rights(const struct sup_call *c, struct sup_msg *m)
{
    struct msghdr h = { .msg_control = m->control, .msg_controllen = m->controllen };
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&h); cm; cm = CMSG_NXTHDR(&h, cm)) {
        /* the kernel's CMSG_OK: a header whose length leaves the buffer (or is shorter than
         * itself) makes the whole send EINVAL; never read or write past what was copied */
        size_t at = (size_t)((char *)cm - (char *)m->control);
        if (cm->cmsg_len < sizeof(struct cmsghdr) || cm->cmsg_len > m->controllen - at)
            return EINVAL;
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        if (n > 253) /* SCM_MAX_FD */
            return EINVAL;
        int *fdv = (int *)(void *)CMSG_DATA(cm);
        int *more = realloc(m->fds, (m->nfds + n + 1) * sizeof *more);
        if (!more)
            return ENOMEM;
        m->fds = more;
        for (size_t i = 0; i < n; i++) {
            struct sup_call tmp; /* sup_take_fd's result, for this descriptor */
            memcpy(&tmp.n, &c->n, sizeof tmp.n);
            tmp.fd = -1;
            int pfd;
            memcpy(&pfd, &fdv[i], sizeof pfd);
            if (sup_take_fd(&tmp, pfd) != 0 && tmp.fd < 0)
                return errno == ENOENT ? EINTR : EBADF;
            m->fds[m->nfds++] = tmp.fd; /* a socket or not (ENOTSOCK keeps it) */
            memcpy(&fdv[i], &tmp.fd, sizeof tmp.fd);
        }
    }
    return 0;
}

int sup_msg_copy(const struct sup_call *c, const struct msghdr *h, struct sup_msg *m,
                 size_t *budget)
{
    int err = copy_data(c, h, m, budget);
    if (err || !h->msg_control || !h->msg_controllen)
        return err;
    if (h->msg_controllen > SUP_CTL_MAX)
        return ENOBUFS;
    m->controllen = h->msg_controllen;
    if (!(m->control = malloc(m->controllen)))
        return ENOMEM;
    if (sup_read_mem(c, (uint64_t)(uintptr_t)h->msg_control, m->control, m->controllen) != 0)
        return EFAULT;
    return take_rights(c, m);
}

void sup_msg_free(struct sup_msg *m)
{
    int saved = errno;
    free(m->data.iov_base);
    free(m->control);
    for (unsigned i = 0; i < m->nfds; i++)
        close(m->fds[i]);
    free(m->fds);
    memset(m, 0, sizeof *m);
    errno = saved;
}
