/* shim/log.h: the shim's one logger. Levelled, printf-checked, errno-preserving; each line is
 * one write(2) on a descriptor the shim owns (a file opened O_CLOEXEC|O_APPEND, a syslog
 * socket), or on the program's stderr only while it is still the file it was at start-up.
 * No malloc, no stdio, no lock: safe on a hook's path. */
#ifndef SOCKPOLICY_SHIM_LOG_H
#define SOCKPOLICY_SHIM_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>

#include "policy.h"

/* Records what fd 2 is now (called from the constructor, before main can reuse it). */
void shim_log_early(void);
/* Chooses destination, level and format: $SOCKPOLICY_LOG (unless secure) wins over the
 * policy's settings (s may be NULL). Call once, from the policy load. */
void shim_log_setup(const struct sp_settings *s, int secure);
/* Whether a message at level would be written. */
int shim_log_on(enum sp_log_level level);
/* Writes one line at level (SP_LOG_FAILURES, SP_LOG_ALL, SP_LOG_DEBUG). errno preserved. */
void shim_log(enum sp_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Forgets a log descriptor the program just closed or replaced (close, dup2, close_range). */
void shim_log_fd_gone_slow(int lo, int hi);
extern _Atomic int shim_log_fd; /* the descriptor the logger owns, -1 when none */
static inline void shim_log_fd_gone(int lo, int hi)
{
    int fd = __atomic_load_n((const int *)&shim_log_fd, __ATOMIC_RELAXED);
    if (__builtin_expect(fd >= 0, 0) && fd >= lo && fd <= hi)
        shim_log_fd_gone_slow(lo, hi);
}

/* Formats like snprintf for %s %c %d %i %u %x %p %% with l/ll/z, optional '-'/'0' and a width;
 * never allocates. Returns the length written (truncated to size-1, NUL-terminated). */
size_t shim_fmt(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
size_t shim_vfmt(char *buf, size_t size, const char *fmt, va_list ap);
/* "1.2.3.4:80", "[::1]:80", "unix:/path", "unix:@abstract", "unix:(unnamed)" or "-". */
const char *shim_fmt_addr(char *buf, size_t size, const struct sockaddr *sa, socklen_t len);
/* "ECONNREFUSED" or "errno 123". */
const char *shim_errname(int err, char *buf, size_t size);

#endif
