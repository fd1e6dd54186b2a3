/* supervise/call.c: one trapped call: its answer (or the kernel's own call), the program's
 * memory it names, and its end. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sup.h"

static int send_resp(const struct sup_call *c, long val, int err, uint32_t flags)
{
    union {
        struct seccomp_notif_resp r;
        char pad[256];
    } u;
    memset(&u, 0, sizeof u);
    u.r.id = c->n.id;
    u.r.val = err ? -1 : val;
    u.r.error = err ? -err : 0;
    u.r.flags = flags;
    return ioctl(sup.listener, SECCOMP_IOCTL_NOTIF_SEND, &u.r) == 0 ? 0 : -1;
}

int sup_answer(const struct sup_call *c, long val, int err)
{
    return send_resp(c, val, err, 0);
}

int sup_continue(const struct sup_call *c)
{
    return send_resp(c, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE);
}

int sup_valid(const struct sup_call *c)
{
    uint64_t id = c->n.id;
    return ioctl(sup.listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

int sup_read_mem(const struct sup_call *c, uint64_t addr, void *buf, size_t len)
{
    struct iovec local = { buf, len }, remote = { (void *)(uintptr_t)addr, len };
    ssize_t n = process_vm_readv((pid_t)c->n.pid, &local, 1, &remote, 1, 0);
    if (n == (ssize_t)len)
        return 0;
    if (n >= 0 || errno == EFAULT)
        errno = EFAULT;
    return -1;
}

int sup_write_mem(const struct sup_call *c, uint64_t addr, const void *buf, size_t len)
{
    struct iovec local = { (void *)buf, len }, remote = { (void *)(uintptr_t)addr, len };
    ssize_t n = process_vm_writev((pid_t)c->n.pid, &local, 1, &remote, 1, 0);
    if (n == (ssize_t)len)
        return 0;
    if (n >= 0)
        errno = EFAULT;
    return -1;
}

unsigned long long sup_status_field(pid_t tid, const char *name, int base, unsigned long long dflt)
{
    char path[64], buf[4096], key[32];
    if (tid)
        snprintf(path, sizeof path, "/proc/%d/status", (int)tid);
    else
        snprintf(path, sizeof path, "/proc/self/status");
    snprintf(key, sizeof key, "\n%s:", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dflt;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    const char *at = strstr(buf, key);
    return at ? strtoull(at + strlen(key), NULL, base) : dflt;
}

uint32_t sup_random_ppm(void)
{
    static _Thread_local uint64_t s;
    if (!s)
        s = (sp_diag_now_ns() ^ ((uint64_t)(uintptr_t)&s << 7) ^ (uint64_t)syscall(SYS_gettid)) | 1;
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return (uint32_t)(s % 1000000u);
}

int sup_policy_wants(const struct sp_policy *p, enum sp_op op)
{
    return sp_policy_has_op(p, op) || sp_policy_settings(p)->default_action[op] == SP_ACT_DENY;
}

int sup_take_ruled(struct sup_call *c, int wanted)
{
    if (!wanted) {
        sup_pass(c);
        return -1;
    }
    if (sup_take_fd(c, (int)c->n.data.args[0]) != 0) {
        sup_fail_take(c);
        return -1;
    }
    return 0;
}

void sup_fail_take(struct sup_call *c)
{
    if (errno != ENOENT)
        sup_answer(c, 0, errno);
    sup_call_free(c);
}

void sup_call_free(struct sup_call *c)
{
    int saved = errno;
    if (c->fd >= 0)
        close(c->fd);
    free(c);
    errno = saved;
}
