/* shim/aliases.c: glibc's other public names for the hooked calls. libc exports __connect,
 * __socket, __close, __dup2 and __sendmmsg next to connect, socket, ... (nm -D --defined-only
 * libc.so.6); a program or library that calls one of them must meet the same hook. Each is
 * the same one-line export as the plain name. (libc's internal calls go to its own hidden
 * aliases, and a dlsym on a libc handle finds libc's functions: no preload library can
 * stand in the way of those; see libsockpolicy(7) LIMITS.) */
#include "hooks.h"

SHIM_EXPORT int __socket(int domain, int type, int protocol);
SHIM_EXPORT int __connect(int fd, __CONST_SOCKADDR_ARG sa, socklen_t len);
SHIM_EXPORT int __close(int fd);
SHIM_EXPORT int __dup2(int oldfd, int newfd);
SHIM_EXPORT int __sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags);

SHIM_EXPORT int __socket(int domain, int type, int protocol)
{
    return shim_socket(domain, type, protocol);
}

SHIM_EXPORT int __connect(int fd, __CONST_SOCKADDR_ARG sa, socklen_t len)
{
    return shim_connect(fd, SHIM_SA(sa), len);
}

SHIM_EXPORT int __close(int fd)
{
    return shim_close(fd);
}

SHIM_EXPORT int __dup2(int oldfd, int newfd)
{
    return shim_dup2(oldfd, newfd);
}

SHIM_EXPORT int __sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags)
{
    return shim_sendmmsg(fd, vec, vlen, flags);
}
