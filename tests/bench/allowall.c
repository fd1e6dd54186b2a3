/* tests/bench/allowall.c: runs a program under a seccomp filter of one instruction that allows
 * every system call, for the supervision rows of `make bench`: what any filter costs the
 * program (the kernel's seccomp check on each system call), against which the supervisor's
 * filter, which lets every call but the socket calls through in the kernel, is measured.
 *   allowall PROGRAM ARGS... */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct sock_filter f[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };
    struct sock_fprog prog = { .len = 1, .filter = f };
    if (argc < 2) {
        fprintf(stderr, "usage: allowall PROGRAM ARGS...\n");
        return 2;
    }
    /* as the supervisor's: no speculative-store-bypass mitigation forced for having a filter */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_SPEC_ALLOW, &prog) != 0) {
        perror("allowall: seccomp");
        return 1;
    }
    execvp(argv[1], argv + 1);
    perror("allowall: exec");
    return 127;
}
