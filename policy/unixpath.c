/* policy/unixpath.c: a unix socket's path as the rules see it, written once for both front
 * ends: the absolute path with no symbolic link, "." or ".." the kernel reaches. The file
 * system is asked through a caller's function (the shim: raw system calls, no allocation, no
 * stdio, usable in a hook; the supervisor: the program's working directory through /proc).
 * Only string functions here. */
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/un.h>

#include "policy.h"

/* "//" and "/./" collapsed, in place; the new length. */
static size_t lexical(char *p, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '/' && o > 0 && p[o - 1] == '/')
            continue;
        if (p[i] == '.' && o > 0 && p[o - 1] == '/' && i + 1 < n && p[i + 1] == '/')
            continue;
        p[o++] = p[i];
    }
    return o;
}

size_t sp_unix_path(const struct sockaddr_storage *ss, socklen_t len, char *path)
{
    const struct sockaddr_un *un = (const struct sockaddr_un *)(const void *)ss;
    size_t max = len > offsetof(struct sockaddr_un, sun_path)
                     ? len - offsetof(struct sockaddr_un, sun_path) : 0;
    if (max > sizeof un->sun_path)
        max = sizeof un->sun_path;
    if (max == 0 || un->sun_path[0] == 0)
        return 0; /* abstract: a name, not a path */
    size_t n = 0;
    while (n < max && un->sun_path[n])
        n++;
    memcpy(path, un->sun_path, n);
    path[n] = 0;
    return n;
}

size_t sp_unix_canonical(const struct sp_path_ops *ops, const char *reach, const char *spelled,
                         size_t n, enum sp_op op, char *out, size_t cap, int *resolved)
{
    size_t m = 0, rl = strlen(reach);
    if (op != SP_OP_BIND)
        m = ops->canonical(ops->ctx, reach, 0, out, cap); /* the socket itself, through any link */
    if (!m && rl < SP_UNIX_REACH_MAX) {
        /* The directory, then the last name as spelled (bind creates it; a connect to a name
         * that does not exist fails anyway). */
        size_t slash = rl;
        while (slash > 0 && reach[slash - 1] != '/')
            slash--;
        const char *name = reach + slash;
        if (*name && strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
            char dir[SP_UNIX_REACH_MAX + 2];
            if (slash == 0) {
                dir[0] = '.';
                dir[1] = 0;
            } else {
                memcpy(dir, reach, slash);
                dir[slash] = 0;
            }
            m = ops->canonical(ops->ctx, dir, O_DIRECTORY, out, cap);
            size_t nl = strlen(name);
            if (m && m + 1 + nl < cap) {
                if (out[m - 1] != '/')
                    out[m++] = '/';
                memcpy(out + m, name, nl);
                m += nl;
            } else {
                m = 0;
            }
        }
    }
    *resolved = m > 0;
    if (!m && n <= cap) {
        memcpy(out, spelled, n);
        m = lexical(out, n);
    }
    return m;
}
