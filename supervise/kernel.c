/* supervise/kernel.c: does this kernel have what supervision needs? One line names what is
 * missing and the Linux version that brought it. */
#include <errno.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "sup.h"

/* The running kernel's major.minor as major * 1000 + minor; 0 when unknown. */
static int kernel_version(char *release, size_t cap)
{
    struct utsname u;
    int major = 0, minor = 0;
    release[0] = 0;
    if (uname(&u) != 0)
        return 0;
    snprintf(release, cap, "%s", u.release);
    if (sscanf(u.release, "%d.%d", &major, &minor) != 2)
        return 0;
    return major * 1000 + minor;
}

/* The supervisor reads /proc/PID/... (a program's directory, executable, root, descriptors)
 * for the thread ids the kernel gives it, which are numbers in the supervisor's own pid
 * namespace. A /proc mounted for another one (`unshare -p -f` without --mount-proc) shows other
 * processes under those numbers: a relative unix path would be resolved in a stranger's
 * directory and a prog rule would match a stranger's executable. Refused, in one line. */
static int proc_is_ours(void)
{
    char self[32] = "";
    ssize_t n = readlink("/proc/self", self, sizeof self - 1);
    if (n > 0)
        self[n] = 0;
    if (n > 0 && atol(self) == (long)getpid())
        return 0;
    fprintf(stderr, "sockpolicy run: --supervise needs a /proc of its own pid namespace: "
                    "/proc/self is %s here, not %ld (mount one, e.g. unshare --pid --fork "
                    "--mount-proc)\n",
            n > 0 ? self : "unreadable", (long)getpid());
    return -1;
}

int sup_kernel_check(void)
{
    static const struct {
        const char *what;
        int version; /* major * 1000 + minor */
        long nr;     /* a system call to probe (with bad arguments), 0 for none */
    } need[] = {
        { "seccomp user notification (SECCOMP_FILTER_FLAG_NEW_LISTENER)", 5000, 0 },
        { "pidfd_open", 5003, SYS_pidfd_open },
        { "pidfd_getfd", 5006, SYS_pidfd_getfd },
        { "SECCOMP_IOCTL_NOTIF_ADDFD", 5009, 0 },
        { "SECCOMP_ADDFD_FLAG_SEND", 5014, 0 },
    };
    char release[128];
    int v = kernel_version(release, sizeof release);
    struct seccomp_notif_sizes sizes;
    for (unsigned i = 0; i < sizeof need / sizeof need[0]; i++) {
        int missing = v && v < need[i].version;
        if (i == 0 && syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0)
            missing = 1;
        if (need[i].nr && syscall(need[i].nr, -1, 0, 0) != 0 && errno == ENOSYS)
            missing = 1;
        if (missing) {
            fprintf(stderr, "sockpolicy run: --supervise needs %s, from Linux %d.%d; this kernel "
                            "(%s) does not have it\n",
                    need[i].what, need[i].version / 1000, need[i].version % 1000,
                    release[0] ? release : "unknown");
            return -1;
        }
    }
    return proc_is_ours();
}
