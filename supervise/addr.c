/* supervise/addr.c: the address a trapped call passes, read once from the program's memory
 * into the supervisor's own buffer: what the policy decides on is what the call uses, whatever
 * another thread of the program writes there meanwhile. It is decided on as the shim decides
 * (shim/addr.c): normalised by sp_addr_normalize, an unspecified destination corrected from the
 * socket's bound address (sp_addr_unspecified_dest), a unix path made absolute and canonical,
 * here against the program's working directory (/proc/TID/cwd), not the supervisor's. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sup.h"

int sup_read_addr(struct sup_call *c, uint64_t ptr, uint64_t len)
{
    memset(&c->addr, 0, sizeof c->addr);
    c->addrlen = 0;
    /* As the kernel's move_addr_to_kernel: a negative or oversized length is EINVAL. */
    if ((int)len < 0 || len > sizeof c->addr)
        return EINVAL;
    if (len == 0)
        return 0;
    if (sup_read_mem(c, ptr, &c->addr, (size_t)len) != 0)
        return EFAULT;
    c->addrlen = (socklen_t)len;
    return 0;
}

/* Opens path with O_PATH (never blocks, needs no permission on the file) and reads back the
 * canonical path into buf; its length, or 0 (sp_unix_canonical's question, from here). */
static size_t canonical(void *ctx, const char *path, int flags, char *buf, size_t size)
{
    (void)ctx;
    int fd = open(path, O_PATH | O_CLOEXEC | flags);
    if (fd < 0)
        return 0;
    char link[32];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t r = readlink(link, buf, size);
    close(fd);
    if (r <= 0 || (size_t)r >= size || buf[0] != '/')
        return 0;
    return (size_t)r;
}

static const struct sp_path_ops path_ops = { canonical, NULL };

/* Whether thread tid sees the file system from another root than the supervisor (a chroot,
 * another mount namespace): its absolute paths are then reached through /proc/TID/root. */
static int foreign_root(pid_t tid)
{
    char path[64];
    struct stat a, b;
    snprintf(path, sizeof path, "/proc/%d/root", (int)tid);
    if (stat(path, &a) != 0 || stat("/", &b) != 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino)
        return 1;
    snprintf(path, sizeof path, "/proc/%d/ns/mnt", (int)tid);
    return stat(path, &a) != 0 || stat("/proc/self/ns/mnt", &b) != 0 || a.st_ino != b.st_ino ||
           a.st_dev != b.st_dev;
}

/* A unix path in c->norm made the absolute path with no symbolic link, "." or ".." the kernel
 * reaches from the program (shim_unix_canonical's rules: connect and send follow a link at the
 * end, bind creates the last name in the canonical directory; what cannot be resolved stays
 * as spelled, "//" and "/./" collapsed); c->call gets the path the supervisor's own call uses.
 * 0, or an errno (ENAMETOOLONG: no path the supervisor can pass reaches the program's). */
static int unix_canonical(struct sup_call *c, enum sp_op op)
{
    struct sockaddr_un *un = (struct sockaddr_un *)(void *)&c->norm;
    char path[sizeof un->sun_path + 1];
    size_t n = sp_unix_path(&c->norm, c->normlen, path);
    if (n == 0)
        return 0; /* abstract: a name, not a path */
    /* The path as the program's file system view reaches it. */
    char full[sizeof path + 64];
    int foreign = path[0] == '/' && foreign_root((pid_t)c->n.pid);
    if (path[0] == '/' && !foreign)
        snprintf(full, sizeof full, "%s", path);
    else
        snprintf(full, sizeof full, "/proc/%d/%s/%s", (int)c->n.pid, foreign ? "root" : "cwd",
                 path + foreign);
    char out[4096];
    int resolved = 0;
    size_t m = n;
    if (foreign) /* the rules see its spelling: what the supervisor resolves is not its view */
        memcpy(out, path, n);
    else
        m = sp_unix_canonical(&path_ops, full, path, n, op, out, sizeof out, &resolved);
    /* The call: the resolved path when sun_path holds it, else the program's own spelling
     * when absolute in the supervisor's root, else through /proc/TID/cwd or /proc/TID/root. */
    struct sockaddr_un *cu = (struct sockaddr_un *)(void *)&c->call;
    if (resolved && m <= sizeof cu->sun_path) {
        memset(cu->sun_path, 0, sizeof cu->sun_path);
        memcpy(cu->sun_path, out, m);
        c->calllen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + m);
    } else if (path[0] != '/' || foreign) {
        size_t fl = strlen(full);
        if (fl > sizeof cu->sun_path)
            return ENAMETOOLONG;
        memset(cu->sun_path, 0, sizeof cu->sun_path);
        memcpy(cu->sun_path, full, fl);
        c->calllen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + fl);
    }
    /* the query: the matcher reads at most sun_path's size */
    if (m > sizeof un->sun_path)
        m = sizeof un->sun_path;
    memset(un->sun_path, 0, sizeof un->sun_path);
    memcpy(un->sun_path, out, m);
    c->normlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + m);
    return 0;
}

int sup_addr_norm(struct sup_call *c, enum sp_op op)
{
    c->call = c->addr;
    c->calllen = c->addrlen;
    c->normlen = 0;
    if (sp_addr_normalize(c->family, c->type, op, &c->addr, c->addrlen, &c->norm, &c->normlen) != 0) {
        c->normlen = 0;
        return 0; /* no destination the rules may see: decided with no address */
    }
    if (op != SP_OP_BIND && sp_addr_unspecified_dest(c->family, &c->addr, c->addrlen, NULL, 0, NULL)) {
        struct sockaddr_storage local;
        socklen_t llen = sizeof local;
        if (c->fd >= 0 && getsockname(c->fd, (struct sockaddr *)&local, &llen) == 0)
            sp_addr_unspecified_dest(c->family, &c->addr, c->addrlen, (const struct sockaddr *)&local,
                                     llen < sizeof local ? llen : (socklen_t)sizeof local, &c->norm);
    }
    if (c->norm.ss_family == AF_UNIX)
        return unix_canonical(c, op);
    return 0;
}
