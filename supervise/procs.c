/* supervise/procs.c: what the supervisor keeps of the processes it serves.
 * - The policy as specialised for the process that made a call. The shim specialises the
 *   policy once per process (its name, its uid); the supervisor serves a whole tree, so when
 *   the rules have prog or uid matches it keeps one specialised copy per (name, uid) it has
 *   seen, the name read as the shim reads it: the last part of the path of the executable the
 *   kernel ran (/proc/PID/exe), not argv[0].
 * - A pidfd per calling thread, kept from one call to the next: taking the program's socket
 *   is then one pidfd_getfd, not pidfd_open + SECCOMP_IOCTL_NOTIF_ID_VALID + pidfd_getfd +
 *   close for every call. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sup.h"

#define NSPEC 64

struct spec {
    unsigned gen;
    uid_t uid;
    char name[64];
    struct sp_policy *p;
};
static struct spec specs[NSPEC];
static unsigned nspecs, gen = 1;
static const struct sp_policy *for_policy; /* the sup.policy the entries were made from */
static unsigned tests;
static pthread_mutex_t spec_lock = PTHREAD_MUTEX_INITIALIZER;

/* The name prog rules match: the executable the kernel ran (/proc/PID/exe), as the shim's
 * /proc/self/exe (sp_prog_from_exe, shared); argv[0] (the last part) only when that cannot be
 * read; "" when neither can. */
static void prog_name(pid_t tid, char *out, size_t cap)
{
    char path[64], buf[4096];
    out[0] = 0;
    snprintf(path, sizeof path, "/proc/%d/exe", (int)tid);
    const char *base = sp_prog_from_exe(buf, readlink(path, buf, sizeof buf - 1));
    if (!base) {
        snprintf(path, sizeof path, "/proc/%d/cmdline", (int)tid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
            return;
        buf[n] = 0;
        const char *slash = strrchr(buf, '/');
        base = slash ? slash + 1 : buf;
    }
    size_t len = strnlen(base, cap - 1);
    memcpy(out, base, len);
    out[len] = 0;
}

/* The real uid of the process (the shim's getuid()), or ours. */
static uid_t real_uid(pid_t tid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/status", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return getuid();
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    const char *u = strstr(buf, "\nUid:");
    return u ? (uid_t)strtoul(u + 5, NULL, 10) : getuid();
}

static const struct sp_policy *policy_for(pid_t tid);

const struct sp_policy *sup_policy_for(pid_t tid)
{
    pthread_mutex_lock(&spec_lock); /* the receiving threads, and a reload */
    const struct sp_policy *p = policy_for(tid);
    pthread_mutex_unlock(&spec_lock);
    return p;
}

static const struct sp_policy *policy_for(pid_t tid)
{
    struct sp_policy *cur = __atomic_load_n(&sup.policy, __ATOMIC_ACQUIRE);
    if (for_policy != cur) { /* started, or reloaded: entries of the old one are stale */
        for_policy = cur;
        tests = sup.opts->conf ? sp_policy_process_tests(cur) : 0;
        gen++;
        nspecs = 0;
    }
    if (!tests)
        return cur;
    char name[64];
    if (tests & SP_PROC_PROG)
        prog_name(tid, name, sizeof name);
    else
        snprintf(name, sizeof name, "%s", sup.prog);
    uid_t uid = (tests & SP_PROC_UID) ? real_uid(tid) : getuid();
    if (!strcmp(name, sup.prog) && uid == getuid())
        return cur; /* specialised for these when loaded */
    for (unsigned i = 0; i < nspecs; i++)
        if (specs[i].gen == gen && specs[i].uid == uid && !strcmp(specs[i].name, name))
            return specs[i].p;
    if (nspecs == NSPEC)
        return cur; /* more names than we keep: the program's own decisions */
    /* Superseded copies are never freed: a call still in flight may read one. */
    struct sp_policy *p = sp_policy_load_ex(sup.opts->conf, SP_LOAD_CACHE | SP_LOAD_NO_WARNINGS,
                                            NULL, NULL);
    if (p && sp_policy_specialise(p, name, uid) != 0) {
        sp_policy_free(p);
        p = NULL;
    }
    if (!p)
        return cur;
    specs[nspecs].gen = gen;
    specs[nspecs].uid = uid;
    snprintf(specs[nspecs].name, sizeof specs[nspecs].name, "%s", name);
    specs[nspecs].p = p;
    nspecs++;
    return p;
}

/* ---- the program's descriptors ---- */

/* The thread group of thread tid, from /proc; tid itself when it cannot be read. */
static pid_t tgid_of(pid_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/status", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tid;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return tid;
    buf[n] = 0;
    const char *t = strstr(buf, "\nTgid:");
    return t ? (pid_t)strtol(t + 6, NULL, 10) : tid;
}

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif
#define NPIDFD 64 /* kept pidfds, by thread id modulo NPIDFD */

static struct kept {
    pid_t tid; /* 0: none */
    int pidfd;
} kept[NPIDFD];
/* Held across a kept pidfd's use: it is closed (replaced) only under it, so that its number
 * never names another descriptor meanwhile. */
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int no_thread_pidfd; /* before Linux 6.9: a pidfd names a thread group */

/* pidfd_getfd of fd through the pidfd kept for thread tid. -1 with errno ESRCH when none is
 * kept or its thread is gone: a pidfd names one thread, which can only be the caller while it
 * lives (no two live threads share an id), and its id's next owner has another pidfd. */
static int getfd_kept(pid_t tid, int fd)
{
    struct kept *k = &kept[(unsigned)tid % NPIDFD];
    int r = -1, err = ESRCH;
    pthread_mutex_lock(&kept_lock);
    if (k->tid == tid) {
        r = (int)syscall(SYS_pidfd_getfd, k->pidfd, fd, 0);
        err = errno;
    }
    pthread_mutex_unlock(&kept_lock);
    errno = err;
    return r;
}

static void keep(pid_t tid, int pidfd)
{
    struct kept *k = &kept[(unsigned)tid % NPIDFD];
    pthread_mutex_lock(&kept_lock);
    if (k->tid)
        close(k->pidfd);
    k->tid = tid;
    k->pidfd = pidfd;
    pthread_mutex_unlock(&kept_lock);
}

/* pidfd_getfd of fd in the caller of c through a new pidfd (kept when it names the thread). */
static int getfd_new(struct sup_call *c, int fd)
{
    pid_t tid = (pid_t)c->n.pid;
    int thread = !atomic_load(&no_thread_pidfd);
    int pidfd = thread ? (int)syscall(SYS_pidfd_open, tid, PIDFD_THREAD) : -1;
    if (thread && pidfd < 0 && errno == EINVAL)
        atomic_store(&no_thread_pidfd, 1);
    if (pidfd < 0) { /* before Linux 6.9: only a thread group's leader */
        thread = 0;
        pidfd = (int)syscall(SYS_pidfd_open, tgid_of(tid), 0);
    }
    if (pidfd < 0)
        return -1;
    /* The pid named the calling thread when the notification was made: still waiting, it is
     * still that thread (a pid is not reused while its task waits here). */
    if (!sup_valid(c)) {
        close(pidfd);
        errno = ENOENT;
        return -1;
    }
    int r = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
    int err = errno;
    if (thread)
        keep(tid, pidfd);
    else
        close(pidfd);
    errno = err;
    return r;
}

int sup_take_fd(struct sup_call *c, int fd)
{
    c->fd = getfd_kept((pid_t)c->n.pid, fd);
    if (c->fd < 0 && errno == ESRCH)
        c->fd = getfd_new(c, fd);
    if (c->fd < 0) {
        errno = errno == ESRCH ? ENOENT : errno;
        return -1;
    }
    socklen_t l1 = sizeof c->family, l2 = sizeof c->type;
    if (getsockopt(c->fd, SOL_SOCKET, SO_DOMAIN, &c->family, &l1) != 0 ||
        getsockopt(c->fd, SOL_SOCKET, SO_TYPE, &c->type, &l2) != 0) {
        c->family = c->type = 0;
        errno = ENOTSOCK;
        return -1;
    }
    int fl = fcntl(c->fd, F_GETFL);
    c->nonblock = fl >= 0 && (fl & O_NONBLOCK);
    return 0;
}
