/* shim/addr.h: the addresses a hook takes from the program, on the ruled path only: copied
 * once, fault-safely, into the shim's own storage; normalised (policy/sockaddr.c) for the
 * rules; the copy, never the program's buffer, is what the kernel then gets, so another thread
 * cannot change the address between the check and the call. */
#ifndef SOCKPOLICY_SHIM_ADDR_H
#define SOCKPOLICY_SHIM_ADDR_H

#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "policy.h"
#include "state.h"

/* One address of one call. */
struct shim_addr {
    struct sockaddr_storage raw;  /* the program's bytes: what the kernel gets */
    struct sockaddr_storage norm; /* sp_addr_normalize's answer, when it differs from raw */
    const struct sockaddr *q;     /* shim_addr_norm: what the rules see (&norm) */
    socklen_t rawlen, qlen;
};

/* Copies n bytes of the program's memory at src to dst with one process_vm_readv on our own
 * process: a pointer the kernel would answer with EFAULT makes it fail, not crash. Returns 0,
 * or -1 when some byte cannot be read (errno preserved). Where the system call is refused
 * (a seccomp filter), a plain copy. The slow path of shim_copy_in (first call, after a fork,
 * a fault, a refusal). */
int shim_copy_in_slow(void *dst, const void *src, size_t n);
/* The same the other way (process_vm_writev), for n bytes of ours to the program's dst. */
int shim_copy_out(void *dst, const void *src, size_t n);
/* n pieces of ours (local[i]) to the program's remote[i], each the same length, in one
 * process_vm_writev. Returns how many bytes were written, in order (the pieces before the
 * first that cannot be written). errno preserved. */
size_t shim_copy_out_v(const struct iovec *local, const struct iovec *remote, unsigned n);

/* Where our pid is: a page the kernel zeroes in a child (addr.c), or a zero that sends
 * shim_copy_in to its slow path (not set up yet; no such page; the system call refused).
 * Never NULL. */
extern _Atomic(_Atomic pid_t *) shim_pid_slot __attribute__((visibility("hidden")));

/* A system call returning -errno, errno untouched. */
static inline long shim_syscall6(long nr, long a, long b, long c, long d, long e, long f)
{
#if defined(__x86_64__)
    long r;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ __volatile__("syscall"
                         : "=a"(r)
                         : "0"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                         : "rcx", "r11", "memory");
    return r;
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = nr;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ __volatile__("svc 0"
                         : "+r"(x0)
                         : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                         : "memory");
    return x0;
#else
    int saved = errno;
    long r = syscall(nr, a, b, c, d, e, f);
    if (r < 0)
        r = -errno;
    errno = saved;
    return r;
#endif
}

/* shim_copy_in_slow's contract; inline, the common case costs one system call and a dozen
 * instructions. */
static inline int shim_copy_in(void *dst, const void *src, size_t n)
{
    pid_t pid = atomic_load_explicit(atomic_load_explicit(&shim_pid_slot, memory_order_relaxed),
                                     memory_order_relaxed);
    struct iovec l = { dst, n }, r = { (void *)(uintptr_t)src, n };
    /* pid 0 (not set up, after a fork) fails with ESRCH: then the slow path. */
    if (__builtin_expect(shim_syscall6(SYS_process_vm_readv, pid, (long)&l, 1, (long)&r, 1, 0) ==
                             (long)n, 1))
        return 0;
    return shim_copy_in_slow(dst, src, n);
}

/* Takes the address of a call on socket fd of family/type for op: copies it (len bytes) into
 * a->raw and sets *q / *qlen to what the rules see (a->raw itself, or its normalised form in
 * a->norm). Returns 0 when *q is the address to match, 1 when the kernel gets a->raw
 * unmatched (it refuses it or it names no new destination: *q NULL), -1 when the kernel must
 * get the program's own pointer (it is unreadable, or len is more than the kernel reads: it
 * answers EFAULT or EINVAL itself). With path rules in p for op, a unix path is made
 * canonical (shim_unix_canonical). *family and *type are the socket's recorded kind: when the
 * address's family contradicts it (the number may have been closed and reused behind the
 * shim's back), the kernel is asked first and they are corrected. errno preserved. */
int shim_addr_norm(struct shim_addr *a, int fd, int *family, int *type, enum sp_op op,
                   socklen_t len, const struct sp_policy *p);
static inline int shim_addr_take(struct shim_addr *a, int fd, int *family, int *type, enum sp_op op,
                                 const struct sockaddr *sa, socklen_t len,
                                 const struct sp_policy *p, const struct sockaddr **q,
                                 socklen_t *qlen)
{
    if (__builtin_expect(len > sizeof a->raw, 0) || shim_copy_in(&a->raw, sa, len) != 0)
        return -1;
    /* The common shape, an IPv4 address on an IPv4 socket that is not 0.0.0.0 (bind: any),
     * is already what the rules must see. */
    const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)&a->raw;
    if (__builtin_expect(*family == AF_INET && in->sin_family == AF_INET &&
                         len >= sizeof(struct sockaddr_in), 1) &&
        (in->sin_addr.s_addr != 0 || op == SP_OP_BIND) && (op != SP_OP_SEND || *type != SOCK_STREAM)) {
        *q = (const struct sockaddr *)&a->raw;
        *qlen = len;
        return 0;
    }
    int r = shim_addr_norm(a, fd, family, type, op, len, p);
    *q = r == 0 ? a->q : NULL;
    *qlen = r == 0 ? a->qlen : 0;
    return r;
}

/* What the start of a ruled path learns about a call that names an address. */
struct shim_addr_call {
    struct shim_addr a;          /* our copy: a.raw is what the kernel gets */
    const struct sockaddr *q;    /* what the rules saw (NULL: no address they may name) */
    socklen_t qlen;
    int family, type;            /* the socket's kind */
    int took;                    /* shim_addr_take's answer, 0 or 1 */
    struct shim_decision d;
};

/* The start of the ruled path of a call that names an address (bind, connect): the socket's
 * kind, our copy of the address, the decision and its gate, into *c. An address the kernel
 * refuses, or AF_UNSPEC (a disconnect), meets only the rules that name no address. Returns 0
 * to go on with c->a.raw as the address, 1 to hand the program's own call to the kernel (no
 * socket we know, or an address only the kernel may judge: EFAULT, EINVAL), -1 when the gate
 * failed the call (errno set). */
static inline int shim_addr_decide(struct shim_addr_call *c, struct sp_policy *p, enum sp_op op,
                                   int fd, const struct sockaddr *sa, socklen_t len)
{
    if (!sa || shim_sock_kind(fd, &c->family, &c->type) != 0)
        return 1;
    c->took = shim_addr_take(&c->a, fd, &c->family, &c->type, op, sa, len, p, &c->q, &c->qlen);
    if (c->took < 0)
        return 1;
    c->d = shim_decide(p, op, fd, &c->family, &c->type, c->q, c->qlen);
    if (shim_gate(&c->d, op, fd, c->q ? c->q : (const struct sockaddr *)&c->a.raw,
                  c->q ? c->qlen : len) != 0)
        return -1;
    return 0;
}

/* Rewrites the unix path in a->norm as the absolute path with no symbolic link, "." or ".."
 * the kernel reaches: connect and send follow a link at the end, bind creates the last name
 * in the canonical directory. Uses open(O_PATH) and readlink of /proc/self/fd (system calls,
 * so not in policy/, which is pure); leaves abstract names and anything it cannot resolve as
 * they are (with "//" and "/./" collapsed). No malloc, no stdio; errno preserved. */
void shim_unix_canonical(struct shim_addr *a, enum sp_op op);

#endif
