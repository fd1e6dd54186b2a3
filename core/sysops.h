/* core/sysops.h: the system calls core/ makes, as a table a caller can replace.
 * The shim passes the real libc functions it resolved with dlsym(RTLD_NEXT); tests pass fakes
 * that inject errors. The default table is plain libc. */
#ifndef SOCKPOLICY_CORE_SYSOPS_H
#define SOCKPOLICY_CORE_SYSOPS_H

#include <sys/socket.h>

struct bio_sysops {
    int (*socket)(int domain, int type, int protocol);
    int (*bind)(int fd, const struct sockaddr *sa, socklen_t len);
    int (*connect)(int fd, const struct sockaddr *sa, socklen_t len);
    int (*listen)(int fd, int backlog);
    int (*accept)(int fd, struct sockaddr *sa, socklen_t *len);
    int (*accept4)(int fd, struct sockaddr *sa, socklen_t *len, int flags);
    int (*setsockopt)(int fd, int level, int name, const void *val, socklen_t len);
    int (*getsockopt)(int fd, int level, int name, void *val, socklen_t *len);
    int (*getsockname)(int fd, struct sockaddr *sa, socklen_t *len);
    int (*ioctl)(int fd, unsigned long request, ...);
    int (*fcntl)(int fd, int cmd, ...);
    int (*close)(int fd);
};

/* Installs ops (copied; every member must be set); NULL restores libc. Not thread-safe:
 * call once at start-up. */
void bio_set_sysops(const struct bio_sysops *ops);
/* The table in force. Never NULL. */
const struct bio_sysops *bio_sysops(void);

#endif
