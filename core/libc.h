/* core/libc.h: plain libc's socket calls, one typed wrapper each (bio_libc_NAME), defined once
 * in sysops.c: the default sysops, the plain-libc table of diag/ (sp_diag_libc_ops) and the
 * calls shim/real.c does not hook. Typed wrappers because glibc declares the sockaddr
 * arguments as transparent unions under _GNU_SOURCE; local functions because a table holding
 * libc's own addresses costs a symbol lookup whenever the preload library is loaded (issue 7).
 * Inside libsockpolicy.so a hooked name called here reaches the shim's own hook: the shim
 * uses its real pointers there instead (shim/real.h). Internal: not installed. */
#ifndef SOCKPOLICY_CORE_LIBC_H
#define SOCKPOLICY_CORE_LIBC_H

#include <sys/socket.h>
#include <sys/types.h>

/* X(name, return type, parameter list, argument list): the members of struct bio_sysops
 * (but the variadic ioctl and fcntl, below), then the calls only the layers above make. */
#define BIO_LIBC_SYSOPS(X)                                                                      \
    X(socket, int, (int domain, int type, int protocol), (domain, type, protocol))             \
    X(bind, int, (int fd, const struct sockaddr *sa, socklen_t len), (fd, sa, len))           \
    X(connect, int, (int fd, const struct sockaddr *sa, socklen_t len), (fd, sa, len))        \
    X(listen, int, (int fd, int backlog), (fd, backlog))                                      \
    X(accept, int, (int fd, struct sockaddr *sa, socklen_t *len), (fd, sa, len))              \
    X(accept4, int, (int fd, struct sockaddr *sa, socklen_t *len, int flags),                 \
      (fd, sa, len, flags))                                                                   \
    X(setsockopt, int, (int fd, int level, int name, const void *val, socklen_t len),         \
      (fd, level, name, val, len))                                                            \
    X(getsockopt, int, (int fd, int level, int name, void *val, socklen_t *len),              \
      (fd, level, name, val, len))                                                            \
    X(getsockname, int, (int fd, struct sockaddr *sa, socklen_t *len), (fd, sa, len))         \
    X(close, int, (int fd), (fd))
#define BIO_LIBC_CALLS(X)                                                                       \
    BIO_LIBC_SYSOPS(X)                                                                          \
    X(sendto, ssize_t, (int fd, const void *buf, size_t len, int flags,                       \
                        const struct sockaddr *sa, socklen_t salen),                          \
      (fd, buf, len, flags, sa, salen))

#define BIO_LIBC_DECLARE(name, ret, params, args) ret bio_libc_##name params;
BIO_LIBC_CALLS(BIO_LIBC_DECLARE)
#undef BIO_LIBC_DECLARE
/* Variadic: the third argument, an int or a pointer, is passed on in the same register. */
int bio_libc_ioctl(int fd, unsigned long request, ...);
int bio_libc_fcntl(int fd, int cmd, ...);

#endif
