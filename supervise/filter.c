/* supervise/filter.c: the seccomp filter PROG runs under. It traps only the calls the policy
 * can act on; every other system call is allowed inside the kernel and costs a few BPF
 * instructions. A system call of another ABI (x32, a 32-bit program) fails with ENOSYS: its
 * socket calls would otherwise go by unchecked. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sup.h"

#if defined(__x86_64__)
#define SUP_AUDIT_ARCH AUDIT_ARCH_X86_64
#define SUP_X32_BIT 0x40000000u
#elif defined(__aarch64__)
#define SUP_AUDIT_ARCH AUDIT_ARCH_AARCH64
#define SUP_X32_BIT 0
#else
#error "sockpolicy --supervise: add this architecture's AUDIT_ARCH to supervise/filter.c"
#endif

/* The low 32 bits of argument i (little-endian: the first word). */
#define ARG_LO(i) ((unsigned)(offsetof(struct seccomp_data, args) + 8 * (i)))
#define STMT(code, k) ((struct sock_filter)BPF_STMT((code), (k)))
#define JEQ(k, t, f) ((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (t), (f)))

int sup_filter_install(const struct sp_policy *p, int allow_io_uring)
{
    /* The system calls to trap, one row each. */
    /* Every call of an op the supervisor serves, whatever the policy says now: a live reload
     * may add rules for it, and the filter cannot change once installed. */
    static const long trap[] = { SYS_connect, SYS_accept4, SYS_bind, SYS_listen,
#ifdef SYS_accept
                                 SYS_accept,
#endif
    };
    int ntrap = (int)(sizeof trap / sizeof trap[0]);
    struct sock_filter f[64];
    unsigned n = 0;
    f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    f[n++] = JEQ(SUP_AUDIT_ARCH, 1, 0);
    f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
    f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    if (SUP_X32_BIT) {
        f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, SUP_X32_BIT, 0, 1);
        f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
    }
    for (int i = 0; i < ntrap; i++) {
        f[n++] = JEQ((unsigned)trap[i], 0, 1);
        f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF);
    }
    /* sendto with an address (argument 4 not NULL): a datagram to a peer, or MSG_FASTOPEN. */
    f[n++] = JEQ(SYS_sendto, 0, 6);
    f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(4));
    f[n++] = JEQ(0, 0, 2);
    f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(4) + 4);
    f[n++] = JEQ(0, 1, 0);
    f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF);
    f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW); /* sendto without an address */
    /* sendmsg and sendmmsg: their address is in memory the filter cannot read. Every one is
     * trapped when the policy has send rules (read at start, as pin); else only those with
     * MSG_FASTOPEN in their flags (argument 2, 3), decided as connects. */
    int sends = p && sup_policy_wants(p, SP_OP_SEND);
    for (int i = 0; i < 2; i++) {
        f[n++] = JEQ(i ? SYS_sendmmsg : SYS_sendmsg, 0, sends ? 1 : 4);
        if (!sends) {
            f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(i ? 3 : 2));
            f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, MSG_FASTOPEN, 0, 1);
        }
        f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF);
        if (!sends)
            f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    }
    /* socket, when the policy has socket rules (read at start, as pin). */
    if (p && sup_policy_wants(p, SP_OP_SOCKET)) {
        f[n++] = JEQ(SYS_socket, 0, 1);
        f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF);
    }
    /* setsockopt, when the policy pins options (read at start: a `pin` rule a reload adds
     * later is not enforced until the program runs again). Every level: the supervisor
     * continues all but a pinned option's. */
    if (p && sup_policy_pins(p)) {
        f[n++] = JEQ(SYS_setsockopt, 0, 1);
        f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF);
    }
    /* getsockopt(fd, SOL_SOCKET, SO_ERROR, ...): a non-blocking connect's outcome. */
    f[n++] = JEQ(SYS_getsockopt, 0, 5);
    f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(1));
    f[n++] = JEQ(SOL_SOCKET, 0, 3);
    f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(2));
    f[n++] = JEQ(SO_ERROR, 0, 1);
    f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF);
    f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    if (!allow_io_uring) {
        /* Runtimes then fall back to plain system calls, which the filter sees. */
        f[n++] = JEQ(SYS_io_uring_setup, 0, 1);
        f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
    }
    f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog prog = { .len = (unsigned short)n, .filter = f };
    /* SPEC_ALLOW: no speculative-store-bypass mitigation forced on PROG for having a filter
     * (it made every memory access dearer: a read/write loop ran 50 % slower). */
    unsigned flags = SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_SPEC_ALLOW;
    int fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
    if (fd < 0 && errno == EACCES) {
        /* Not privileged (no CAP_SYS_ADMIN here): the kernel wants no_new_privs first. */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
            return -1;
        fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
    }
    return fd;
}
