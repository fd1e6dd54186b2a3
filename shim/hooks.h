/* shim/hooks.h: the logic layer of each hook (shim_connect() and friends). The exported libc
 * names in each file are one-line wrappers around these. Each returns what libc would and sets
 * errno only where the call fails. */
#ifndef SOCKPOLICY_SHIM_HOOKS_H
#define SOCKPOLICY_SHIM_HOOKS_H

#include <sys/socket.h>
#include <sys/types.h>

/* glibc declares the address parameters as transparent unions under _GNU_SOURCE. */
#define SHIM_SA(arg) ((arg).__sockaddr__)
#define SHIM_EXPORT __attribute__((visibility("default")))

int shim_socket(int domain, int type, int protocol);
int shim_bind(int fd, const struct sockaddr *sa, socklen_t len);
int shim_listen(int fd, int backlog);
int shim_connect(int fd, const struct sockaddr *sa, socklen_t len);
int shim_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags);
int shim_setsockopt(int fd, int level, int name, const void *val, socklen_t len);
int shim_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
int shim_close(int fd);
int shim_dup2(int oldfd, int newfd);
int shim_dup3(int oldfd, int newfd, int flags);
int shim_close_range(unsigned int first, unsigned int last, int flags);
ssize_t shim_sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *sa,
                    socklen_t len);
ssize_t shim_sendmsg(int fd, const struct msghdr *msg, int flags);
int shim_sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags);

#endif
