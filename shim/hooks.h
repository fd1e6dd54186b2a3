/* shim/hooks.h: the logic layer of each hook (shim_connect() and friends). The exported libc
 * names in each file are one-line wrappers around these. Each returns what libc would and sets
 * errno only where the call fails.
 *
 * Every hook has one shape, in four steps, each a function of its own:
 *   1. the export (`connect`): one line, calls the logic layer;
 *   2. the pass-through test (`shim_connect`, always inlined into the export): one load of the
 *      published policy (state.h); no policy file goes straight to libc, one with nothing to
 *      decide for this process too (socket and accept after a look at the reload deadline);
 *      a policy that decides goes to the ruled path, with the pointer it read;
 *   3. the ruled path (`connect_ruled`): whether this op may be ours now (the reload deadline,
 *      the re-entry depth, the op's bit: shim_policy_decided or shim_policy_quick_decided),
 *      then the socket's kind, our copy of the address, the decision and its gate;
 *   4. the cold path (`socket_cold`, `accept_cold`, or the cold calls inside
 *      shim_policy_decided): the first
 *      load, a reload, logging.
 * Steps 2 and, where a figure of `make bench` showed it pays, the start of 3 make tail calls
 * only: a function that calls nothing except in tail position saves no callee-saved register
 * and keeps no frame, so the pass-through path costs a load, a compare and a jump. Work that
 * needs the call's result (logging a failure, forcing options) lives in a separate noinline
 * function, so that its register saves are paid only there. */
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
