/* supervise/procs.c: the policy as specialised for the process that made a call. The shim
 * specialises the policy once per process (its name, its uid); the supervisor serves a whole
 * tree, so when the rules have prog or uid matches it keeps one specialised copy per
 * (name, uid) it has seen, the name read as the shim reads it: the last part of the path of
 * the executable the kernel ran (/proc/PID/exe), not argv[0]. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
