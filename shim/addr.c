/* shim/addr.c: fault-safe copies of the program's memory, and the addresses the ruled hooks
 * decide on (see addr.h). A bad pointer is the kernel's to answer (EFAULT): the shim never
 * dereferences program memory the kernel would refuse. */
#include "addr.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "state.h"

#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif

/* 1 while process_vm_readv/writev work here; 0 once refused (ENOSYS, or EPERM from a
 * seccomp filter even for our own fresh pid): then plain copies, and the pid page is zeroed
 * so every copy comes here. */
static _Atomic int vm_ok_flag = 1;

/* Our pid, for process_vm_readv. Kept in a page of its own that the kernel zeroes in a
 * child (MADV_WIPEONFORK: fork, or clone without CLONE_VM, even one libc never saw), so a
 * child never reads its parent's memory; processes that share our memory (vfork, CLONE_VM)
 * may use either pid. Until the page is set up, and where it cannot be had, shim_pid_slot
 * points at a zero (every copy takes the slow path: getpid each time). */
static _Atomic pid_t no_pid;
static _Atomic int pid_page_tried;
_Atomic(_Atomic pid_t *) shim_pid_slot = &no_pid;

static pid_t __attribute__((noinline, cold)) pid_slow(void)
{
    if (!atomic_exchange(&pid_page_tried, 1)) {
        long pg = shim_syscall6(SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (pg < 0 && pg > -4096)
            pg = 0;
        if (pg && shim_syscall6(SYS_madvise, pg, 4096, MADV_WIPEONFORK, 0, 0, 0) == 0)
            atomic_store_explicit(&shim_pid_slot, (_Atomic pid_t *)pg, memory_order_release);
        else if (pg)
            shim_syscall6(SYS_munmap, pg, 4096, 0, 0, 0, 0);
    }
    pid_t pid = (pid_t)shim_syscall6(SYS_getpid, 0, 0, 0, 0, 0, 0);
    _Atomic pid_t *s = atomic_load_explicit(&shim_pid_slot, memory_order_acquire);
    if (s != &no_pid && atomic_load_explicit(&vm_ok_flag, memory_order_relaxed))
        atomic_store_explicit(s, pid, memory_order_relaxed);
    return pid;
}

static pid_t self_pid(void)
{
    pid_t p = atomic_load_explicit(atomic_load_explicit(&shim_pid_slot, memory_order_acquire),
                                   memory_order_relaxed);
    return p ? p : pid_slow();
}


static int vm_copy(long nr, void *local, void *remote, size_t n)
{
    if (n == 0)
        return 0;
    if (atomic_load_explicit(&vm_ok_flag, memory_order_relaxed)) {
        struct iovec l = { local, n }, r = { remote, n };
        pid_t pid = self_pid();
        for (int tries = 0; tries < 2; tries++) {
            long got = shim_syscall6(nr, pid, (long)&l, 1, (long)&r, 1, 0);
            if (__builtin_expect(got == (long)n, 1))
                return 0;
            if (got >= 0 || got == -EFAULT || got == -ENOMEM)
                return -1; /* a partial copy: the rest faults */
            if (got != -ESRCH && got != -EPERM)
                break;
            pid = pid_slow(); /* a pid from before a clone libc never saw */
        }
        atomic_store_explicit(&vm_ok_flag, 0, memory_order_relaxed);
        atomic_store_explicit(atomic_load(&shim_pid_slot), 0, memory_order_relaxed);
    }
    if (nr == SYS_process_vm_readv)
        memcpy(local, remote, n);
    else
        memcpy(remote, local, n);
    return 0;
}

size_t shim_copy_out_v(const struct iovec *local, const struct iovec *remote, unsigned n)
{
    if (n == 0)
        return 0;
    if (atomic_load_explicit(&vm_ok_flag, memory_order_relaxed)) {
        long got = shim_syscall6(SYS_process_vm_writev, self_pid(), (long)local, n,
                                 (long)remote, n, 0);
        if (got >= 0)
            return (size_t)got;
        if (got == -EFAULT || got == -ENOMEM)
            return 0;
    }
    /* Refused, or a stale pid: one at a time, through vm_copy's own fallbacks. */
    size_t done = 0;
    for (unsigned i = 0; i < n; i++) {
        if (vm_copy(SYS_process_vm_writev, local[i].iov_base, remote[i].iov_base,
                    local[i].iov_len) != 0)
            break;
        done += local[i].iov_len;
    }
    return done;
}

int shim_copy_in_slow(void *dst, const void *src, size_t n)
{
    return vm_copy(SYS_process_vm_readv, dst, (void *)(uintptr_t)src, n);
}

int shim_copy_out(void *dst, const void *src, size_t n)
{
    return vm_copy(SYS_process_vm_writev, (void *)(uintptr_t)src, dst, n);
}

/* An unspecified destination goes where the socket's own bound address says
 * (sp_addr_unspecified_dest, shared with the supervisor): sp_addr_normalize, which knows no
 * socket, gave the unbound answer; this corrects it from getsockname, a system call made only
 * for such a destination. errno preserved. */
static void __attribute__((noinline)) unspecified_dest(struct shim_addr *a, int fd, int family)
{
    struct sockaddr_storage local;
    socklen_t llen = sizeof local;
    int saved = errno;
    int r = getsockname(fd, (struct sockaddr *)&local, &llen);
    errno = saved;
    if (r != 0)
        return;
    sp_addr_unspecified_dest(family, &a->raw, a->rawlen, (const struct sockaddr *)&local,
                             llen < sizeof local ? llen : (socklen_t)sizeof local, &a->norm);
}

int shim_addr_norm(struct shim_addr *a, int fd, int *familyp, int *typep, enum sp_op op,
                   socklen_t len, const struct sp_policy *p)
{
    socklen_t nlen = 0;
    a->rawlen = len;
    /* Defined bytes past the program's: some checkers (valgrind) read a whole sockaddr_in6
     * of a 24-byte one. The kernel reads only len. */
    if (len < sizeof a->raw)
        memset((char *)&a->raw + len, 0, sizeof a->raw - len < 32 ? sizeof a->raw - len : 32);
    /* A recorded kind the address contradicts may be another socket's: the kernel says. (An
     * IPv6 socket given an IPv4 address asks each time: the kernel takes it, so it can be its
     * own kind.) */
    sa_family_t af = len >= sizeof(sa_family_t) ? a->raw.ss_family : AF_UNSPEC;
    if (fd >= 0 && af != AF_UNSPEC && af != (sa_family_t)*familyp)
        shim_sock_kind_sure(fd, familyp, typep);
    int family = *familyp, type = *typep;
    if (sp_addr_normalize(family, type, op, &a->raw, a->rawlen, &a->norm, &nlen) != 0)
        return 1;
    a->q = (const struct sockaddr *)&a->norm;
    a->qlen = nlen;
    if (op != SP_OP_BIND && (family == AF_INET || family == AF_INET6) &&
        sp_addr_unspecified_dest(family, &a->raw, len, NULL, 0, NULL))
        unspecified_dest(a, fd, family);
    /* A datagram socket's connect meets the send rules too (shim/connect.c). */
    if (a->norm.ss_family == AF_UNIX &&
        (shim_op_tests(p, op, SP_TESTS_PATH) ||
         (op == SP_OP_CONNECT && type != SOCK_STREAM && shim_op_tests(p, SP_OP_SEND, SP_TESTS_PATH))))
        shim_unix_canonical(a, op);
    return 0;
}

/* ---- unix paths ---- */

/* The path fd was opened on (readlink of /proc/self/fd/N) into buf; its length, or 0. */
static size_t fd_path(int fd, char *buf, size_t size)
{
    char link[32] = "/proc/self/fd/";
    char num[12];
    int k = 0;
    unsigned v = (unsigned)fd;
    do
        num[k++] = (char)('0' + v % 10);
    while ((v /= 10) && k < (int)sizeof num);
    size_t at = strlen(link);
    while (k > 0)
        link[at++] = num[--k];
    link[at] = 0;
    long r = shim_syscall6(SYS_readlinkat, AT_FDCWD, (long)link, (long)buf, (long)size, 0, 0);
    if (r <= 0 || (size_t)r >= size || buf[0] != '/')
        return 0;
    return (size_t)r;
}

/* Opens path with O_PATH (never blocks, needs no permission on the file) and reads back the
 * canonical path; its length, or 0. */
static size_t canonical(const char *path, int flags, char *buf, size_t size)
{
    long fd = shim_syscall6(SYS_openat, AT_FDCWD, (long)path, O_PATH | O_CLOEXEC | flags, 0, 0, 0);
    if (fd < 0)
        return 0;
    size_t n = fd_path((int)fd, buf, size);
    shim_syscall6(SYS_close, fd, 0, 0, 0, 0, 0); /* ours, never in the program's fd table */
    return n;
}

/* The file system as sp_unix_canonical asks it, from this process. */
static size_t canonical_op(void *ctx, const char *path, int flags, char *buf, size_t size)
{
    (void)ctx;
    return canonical(path, flags, buf, size);
}
static const struct sp_path_ops path_ops = { canonical_op, NULL };

void shim_unix_canonical(struct shim_addr *a, enum sp_op op)
{
    struct sockaddr_un *un = (struct sockaddr_un *)(void *)&a->norm;
    char path[sizeof un->sun_path + 1];
    size_t n = sp_unix_path(&a->norm, a->qlen, path);
    if (n == 0)
        return; /* abstract: a name, not a path */
    int saved = errno;
    char out[4096];
    int resolved;
    size_t m = sp_unix_canonical(&path_ops, path, path, n, op, out, sizeof out, &resolved);
    /* Room for the path in the query: the matcher reads at most sun_path's size. */
    if (m > sizeof un->sun_path)
        m = sizeof un->sun_path;
    memset(un->sun_path, 0, sizeof un->sun_path);
    memcpy(un->sun_path, out, m);
    a->qlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + m);
    errno = saved;
}
