/* shim/log.h: the shim's one logger, a thin layer over the diagnosis library (diag.h). Every
 * socket event and every message becomes an sp_event and goes through sp_diag_emit: level
 * filter, rate limit, one format (text or JSON), one sink (a file opened O_CLOEXEC|O_APPEND,
 * a private copy of stderr, syslog, journald), one write(2) per line. No malloc, no stdio, no
 * lock: safe on a hook's path; errno is preserved by everything here. The level is checked
 * before an event is built, so a call that logs nothing pays one load and a compare. */
#ifndef SOCKPOLICY_SHIM_LOG_H
#define SOCKPOLICY_SHIM_LOG_H

#include <errno.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>

#include "clock.h"
#include "diag.h"
#include "fdtab.h"
#include "policy.h"

/* Records what fd 2 is now (the constructor, before main can reuse it): a stderr log is
 * written only while fd 2 is still that file. */
void shim_log_early(void);
/* Chooses destination, level and format: $SOCKPOLICY_LOG (unless secure) wins over the
 * settings (s may be NULL: the defaults, before or without a policy). */
void shim_log_setup(const struct sp_settings *s, int secure);
/* shim_log_setup with p's settings, then checks what p asks of the kernel (one warning
 * when a rule asks for TCP Fast Open that net.ipv4.tcp_fastopen does not allow). */
void shim_log_setup_policy(const struct sp_policy *p, int secure);
/* A live reload published p: its log settings take over (level, format and summary at once;
 * a new destination from its first line on, the old one closed at the next reload that changes
 * it). Nothing under --trace. */
void shim_log_reload_policy(const struct sp_policy *p, int secure);
/* `sockpolicy run --trace` with no policy file (the loader's trace_policy): log all, to
 * $SOCKPOLICY_LOG (unless secure) or stderr, with a summary at exit, whatever a policy says. */
void shim_log_setup_trace(int secure);

/* The level now (SP_LOG_OFF until set up), and whether every event is wanted (level all or
 * debug, or a summary is kept), not only failures. Written with atomic stores (a live reload
 * changes them while hooks read them), read on the hooks' paths as plain aligned words: with
 * atomic loads the forcing-on-accept row of `make bench` measured +40 instructions an
 * iteration (the compiler keeps each load, and inlines less). A read racing a reload sees the
 * old or the new value. ThreadSanitizer builds read them atomically, so that it checks the
 * rest. */
extern enum sp_log_level shim_log_level_v __attribute__((visibility("hidden")));
extern int shim_log_every_v __attribute__((visibility("hidden")));
#if defined(__SANITIZE_THREAD__)
#define SHIM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SHIM_TSAN 1
#endif
#endif
#ifdef SHIM_TSAN
#define shim_log_level ((enum sp_log_level)__atomic_load_n(&shim_log_level_v, __ATOMIC_RELAXED))
#define shim_log_every (__atomic_load_n(&shim_log_every_v, __ATOMIC_RELAXED))
#else
#define shim_log_level (shim_log_level_v)
#define shim_log_every (shim_log_every_v)
#endif
/* Whether a message or event at level would be written. */
static inline int shim_log_on(enum sp_log_level level)
{
    return level != SP_LOG_OFF && level <= shim_log_level;
}
/* Whether a call's event with this outcome (0 or the errno) may be logged at all: the test a
 * hook makes before building one. */
static inline int shim_log_wants(int err)
{
    return shim_log_level != SP_LOG_OFF && (shim_log_every || (err != 0 && err != EINPROGRESS));
}

/* Whether $SOCKPOLICY_LOG asks for a log (set, not "off"/"none"; never when secure). */
int shim_log_env_asks(void);

/* A message (not a call) at level: formatted by sp_diag_fmt, logged as one line. */
void shim_log(enum sp_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Logs ev (filled by sp_event_init and the hook) through the pipeline, first adding the
 * options this thread's hook forced on ev->fd for rule (see shim_log_opts) and, at level
 * debug, reading them back. */
void shim_log_event(struct sp_event *ev, const struct sp_rule *rule);
/* The event of one bind, listen, connect or send on fd: its socket's kind, the address it
 * named (the peer's when peer is 1, the local one when 0), the rule that decided it, how it
 * ended (err: 0 or the errno) and when it began (t0_ns, sp_diag_now_ns: the clock is read
 * again only when the event is logged). Logged when shim_log_wants(err) says so;
 * with SHIM_LOG_LOCAL the socket's own address is added (getsockname), with SHIM_LOG_MODE
 * whether it is non-blocking (fcntl). errno preserved. */
#define SHIM_LOG_LOCAL 1u
#define SHIM_LOG_MODE 2u
void shim_log_call(enum sp_op op, int fd, int family, int type, const struct sockaddr *sa,
                   socklen_t len, int peer, const struct sp_rule *rule, int err, uint64_t t0_ns,
                   unsigned extra);
/* A decision made before the call (decide.c's gate): a deny or an injected failure (err),
 * a delay or an audit (logged before the call is made). */
void shim_log_decision(const struct sp_rule *rule, enum sp_action action, int err,
                       enum sp_op op, int fd, const struct sockaddr *sa, socklen_t len);

/* What forcing rule's options on fd did (apply.c): kept for the event the hook logs next
 * (connect, bind, listen, accept, send); a socket() has no event of its own, so its report
 * is logged at once. */
void shim_log_opts(int fd, const struct sp_rule *rule, uint32_t which, enum sp_op op,
                   const struct bio_opt_report *rep);
/* What this thread's hook forced on one fd, kept for the event it logs next (log_event.c);
 * pending.c copies it into a connect that ends later. */
struct shim_log_stash {
    int fd;
    enum sp_op op;
    uint32_t asked;
    struct bio_opt_report rep;
};
extern __thread struct shim_log_stash shim_log_stash
    __attribute__((tls_model("initial-exec"), visibility("hidden")));
/* shim_log_opts for a forcing where every option applied (asked: the rule's options asked
 * for, applied: those set, skipped: those that do not apply to the socket's kind); not for
 * socket(), whose report is logged at once. Nothing when logging is off. */
static inline void shim_log_opts_ok(int fd, enum sp_op op, uint32_t asked, uint32_t applied,
                                    uint32_t skipped)
{
    if (shim_log_level == SP_LOG_OFF)
        return;
    shim_log_stash.fd = fd;
    shim_log_stash.op = op;
    shim_log_stash.asked = asked;
    shim_log_stash.rep.applied = applied;
    shim_log_stash.rep.skipped = skipped;
    shim_log_stash.rep.failed = 0;
}
/* An option BIO sets itself (keepalive, nodelay, TFO, reuseaddr) applied (err 0) or refused. */
void shim_log_opt_result(int fd, enum sp_op op, enum bio_opt opt, int err);
/* A call under SHIM_WATCH failed with err: logs it unless it is an operation still going on
 * (EINPROGRESS) or, below debug, an event loop's EAGAIN. fd -1 for socket(), which gives
 * family and type; sa (len bytes) is the program's, read only when the kernel read it. */
void shim_log_watched(enum sp_op op, int fd, int family, int type, const struct sockaddr *sa,
                      socklen_t len, int err);

/* Timing a call for its log line. At the default level only failures are logged, so a call
 * takes a stamp (the CPU's time stamp counter where there is one: one instruction, no vDSO
 * call) and converts it to a duration only when it logs; elsewhere the stamp is
 * sp_diag_now_ns(). */
static inline uint64_t shim_stamp(void)
{
#if SHIM_HAVE_CYCLES
    return shim_cycles();
#else
    return sp_diag_now_ns();
#endif
}
/* Nanoseconds since stamp (from shim_stamp), with the counter's rate from clock.c. */
static inline uint64_t shim_stamp_elapsed_ns(uint64_t stamp)
{
#if SHIM_HAVE_CYCLES
    return shim_cycles_elapsed_ns(stamp);
#else
    return sp_diag_now_ns() - stamp;
#endif
}

/* Non-blocking connects, followed to their outcome: pending.h. */
#include "pending.h"

#endif
