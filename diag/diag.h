/* diag/diag.h: the diagnosis library (issue 5). An event record for one socket call, its
 * formatting as a text line or a JSON object, a plain-language explanation of its errno, the
 * sinks a line goes to (file, stderr, syslog, journald), a per-process rate limit and summary,
 * and the TFO sysctl check.
 *
 * Everything here runs on a hook's path: no malloc, no stdio, no locks, no locale; errno is
 * preserved by every function; a line goes out with one write(2) or send(2). Sockets are made
 * and closed only through struct sp_diag_ops (the shim passes its real libc pointers), never
 * through the public, hooked names. The formats are documented in docs/log-format.md. */
#ifndef SOCKPOLICY_SHIM_DIAG_H
#define SOCKPOLICY_SHIM_DIAG_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include "policy.h"
#include "sockopt.h"

/* The longest line any formatter produces, newline included. Every field is bounded so that
 * a line always fits; a JSON line is never cut. */
#define SP_DIAG_LINE_MAX 4096

/* ---- the bounded output buffer the formatters share (diag_buf.c) ---- */

/* Appends never overflow: what does not fit is dropped and full is set. p[len] is always
 * a NUL (cap >= 1). */
struct sp_buf {
    char *p;
    size_t len, cap;
    int full;
};
void sp_buf_init(struct sp_buf *b, char *p, size_t cap);
void sp_buf_put(struct sp_buf *b, const char *s, size_t n);
void sp_buf_puts(struct sp_buf *b, const char *s);
void sp_buf_putc(struct sp_buf *b, char c);
void sp_buf_putu(struct sp_buf *b, uint64_t v);
void sp_buf_puti(struct sp_buf *b, int64_t v);
/* v / 10^digits with that many decimals ("0.4"). */
void sp_buf_putdec(struct sp_buf *b, uint64_t v, unsigned digits);
/* Text escaping: printable ASCII as is, backslash and every other byte as \xNN; at most
 * max output bytes, then "...". */
void sp_buf_put_text(struct sp_buf *b, const char *s, size_t n, size_t max);
/* A JSON string with its quotes: valid UTF-8 passes, '"' '\\' and controls are escaped,
 * each byte of invalid UTF-8 becomes \u00NN; at most max input bytes, then "...". */
void sp_buf_put_json(struct sp_buf *b, const char *s, size_t n, size_t max);
/* The address part of sa (no port), as sp_format_addr, unescaped. */
void sp_buf_put_addr(struct sp_buf *b, const struct sockaddr *sa, socklen_t len);
/* "2024-05-01T12:00:00.123456Z" (UTC, microseconds). */
void sp_buf_put_time(struct sp_buf *b, const struct timespec *ts);

/* ---- the event ---- */

/* How the outcome was learnt. */
enum sp_phase {
    SP_PHASE_CALL,     /* the call itself returned it */
    SP_PHASE_SO_ERROR, /* a non-blocking connect's result, read with getsockopt(SO_ERROR) */
    SP_PHASE_CLOSE,    /* a non-blocking connect still pending when the fd was closed */
    SP_PHASE_LATER_CONNECT, /* a non-blocking connect's result, told by a later connect()
                               (EISCONN: connected; else its error), as hiredis asks */
};

#define SP_EVF_NONBLOCK 0x1     /* the socket was non-blocking */
#define SP_EVF_DEFAULT_DENY 0x2 /* refused by the policy's default, no rule matched */
#define SP_EVF_SUPPRESSED 0x4   /* internal: a "suppressed N events" line */
#define SP_EVF_MESSAGE 0x8      /* a message, not a call: the note at msg_level (shim_log) */
#define SP_EVF_DECISION 0x10    /* logged when the policy decided, before the call was made
                                   (audit, delay): no result or duration yet */
#define SP_EVF_NO_CALL 0x20     /* failed by the policy without a syscall (deny, fail): no
                                   duration (text: none; JSON: duration_ns null) */

struct sp_event {
    struct timespec when; /* CLOCK_REALTIME at the start of the call */
    pid_t pid;
    char prog[16]; /* the process name (comm), NUL-terminated, any bytes */
    int fd;
    enum sp_op op;
    int family; /* AF_INET, AF_INET6, AF_UNIX, or 0 when unknown */
    int type;   /* SOCK_STREAM, SOCK_DGRAM, ... without SOCK_NONBLOCK|SOCK_CLOEXEC */
    struct sockaddr_storage local, remote;
    socklen_t local_len, remote_len; /* 0: not known */
    int err;                         /* 0 success, else the errno the program saw */
    enum sp_phase phase;
    int tcp_state;        /* TCP_ESTABLISHED..., -1 unknown (set for SP_PHASE_CLOSE) */
    uint64_t duration_ns; /* how long the attempt took (or had been pending) */
    unsigned flags;       /* SP_EVF_* */
    const struct sp_rule *rule; /* the deciding rule, or NULL */
    uint32_t opts_asked;        /* BIO_OPT_BIT()s the rule asked for, 0 if none */
    struct bio_opt_report opts; /* what happened to them */
    uint32_t opts_differ;       /* debug: options whose read-back differed from the value set */
    const char *note;           /* free text, or NULL */
    uint64_t suppressed;        /* with SP_EVF_SUPPRESSED: how many events were dropped */
    enum sp_log_level msg_level; /* with SP_EVF_MESSAGE: the level it is logged at */
};

/* Fills the fields every event has: time (CLOCK_REALTIME), pid, process name (prctl
 * PR_GET_NAME), fd and op; clears the rest (tcp_state -1). errno is preserved. */
void sp_event_init(struct sp_event *ev, enum sp_op op, int fd);
/* sp_event_init for a message of the logger's own (SP_EVF_MESSAGE) at level: msg is its text
 * (kept by pointer, ev->note). errno untouched. */
void sp_event_message(struct sp_event *ev, enum sp_log_level level, const char *msg);
/* Copies an address into ev->local (which 0) or ev->remote (which 1), at most
 * sizeof(struct sockaddr_storage) bytes; sa NULL or len 0 clears it. Sets ev->family when
 * it is 0. */
void sp_event_set_addr(struct sp_event *ev, int which, const struct sockaddr *sa, socklen_t len);
/* The TCP state of fd (TCP_INFO's tcpi_state, e.g. TCP_SYN_SENT), read through ops, or -1.
 * errno preserved. */
struct sp_diag_ops;
int sp_diag_tcp_state(const struct sp_diag_ops *ops, int fd);
/* Whether an SP_PHASE_CLOSE event found the connection made after all (no error, a TCP
 * state at or past ESTABLISHED): the program learnt of it without reading SO_ERROR. */
int sp_event_connected_at_close(const struct sp_event *ev);
/* Nanoseconds of CLOCK_MONOTONIC, for durations. */
uint64_t sp_diag_now_ns(void);

/* ---- names ---- */

/* "connect", "bind", ...; "set", "deny", ...; "ECONNREFUSED" (core's table); "SYN_SENT".
 * Never NULL: unknown values give "?" (sp_diag_errno_name gives NULL, the caller prints the
 * number). */
const char *sp_diag_op_name(enum sp_op op);
const char *sp_diag_action_name(enum sp_action a);
const char *sp_diag_errno_name(int err);
const char *sp_diag_tcp_state_name(int state);
/* "inet", "inet6", "unix", "other", or NULL for 0; "stream", "dgram", ... or NULL for 0. */
const char *sp_diag_family_name(int family);
const char *sp_diag_type_name(int type);
/* "ok", "failed", "in-progress" or "never-completed", as the JSON "result" field. */
const char *sp_diag_result_name(const struct sp_event *ev);

/* ---- messages: a printf of our own (diag_printf.c) ---- */

/* Formats like snprintf for %s %c %d %i %u %x %p %% with l/ll/z, optional '-'/'0' and a width;
 * never allocates, async-signal-safe. Returns the length written (truncated to size-1,
 * NUL-terminated when size > 0). errno untouched. */
size_t sp_diag_fmt(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
size_t sp_diag_vfmt(char *buf, size_t size, const char *fmt, va_list ap);
/* err's name ("ECONNREFUSED"), or "errno 123" written into buf when it has none. Returns one
 * or the other; errno untouched. */
const char *sp_diag_errno_label(int err, char *buf, size_t size);

/* ---- explanations (diag_explain.c) ---- */

/* A plain-language sentence saying why op failed with err on a socket of this family, or
 * NULL when we have nothing better than the errno's name. Static storage. */
const char *sp_explain(enum sp_op op, int err, int family);
/* The explanation the event's line carries: a denied rule, a default deny, a connect left
 * pending at close, or sp_explain(). NULL when there is none (success). */
const char *sp_explain_event(const struct sp_event *ev);

/* ---- formatting (diag_format.c) ---- */

#define SP_FMT_F_TIME 0x1 /* text: start the line with the UTC time (files want it) */

/* Formats ev as one line ending in '\n' into buf (cap bytes, SP_DIAG_LINE_MAX is always
 * enough) and NUL-terminates it. Returns the length without the NUL; a cap too small gives a
 * cut text line or, for JSON, a shorter valid object marked "truncated":true. cap must be at
 * least 128. No allocation; errno preserved. */
size_t sp_format_text(const struct sp_event *ev, unsigned flags, char *buf, size_t cap);
size_t sp_format_json(const struct sp_event *ev, char *buf, size_t cap);
/* Address as text: "10.0.0.1", "2001:db8::1", "/run/x.sock", "@abstract" (bytes as given,
 * unescaped), "unnamed". Returns the length written (NUL-terminated; cap >= 112 always
 * suffices for inet, AF_UNIX paths are cut to fit). */
size_t sp_format_addr(const struct sockaddr *sa, socklen_t len, char *buf, size_t cap);
/* The port (host order) of an AF_INET or AF_INET6 address at least as long as its struct, with
 * its 4 or 16 address bytes in *ip and *iplen (either may be NULL); -1 for any other address
 * or a NULL sa, ip and iplen untouched. Pure: errno untouched. */
int sp_diag_inet_port(const struct sockaddr *sa, socklen_t len, const void **ip, size_t *iplen);

/* ---- sinks (diag_sink.c) ---- */

/* The functions a sink may call that the shim hooks. The shim passes its real pointers;
 * sp_diag_libc_ops() is plain libc, for tests and programs without the shim. */
struct sp_diag_ops {
    int (*socket)(int domain, int type, int protocol);
    int (*connect)(int fd, const struct sockaddr *sa, socklen_t len);
    ssize_t (*sendto)(int fd, const void *buf, size_t len, int flags,
                      const struct sockaddr *sa, socklen_t salen);
    int (*close)(int fd);
    int (*getsockopt)(int fd, int level, int name, void *val, socklen_t *len);
};
const struct sp_diag_ops *sp_diag_libc_ops(void);

enum sp_sink_kind { SP_SINK_NONE, SP_SINK_FILE, SP_SINK_STDERR, SP_SINK_SYSLOG,
                    SP_SINK_JOURNALD };

/* sp_sink.flags. */
#define SP_SINK_F_OWNER 0x1 /* a privileged writer (AT_SECURE, or euid 0): a file is opened
                               O_NOFOLLOW and kept only when it is owned by root or the euid,
                               writable by nobody else, and (a regular file) has one link */

struct sp_sink {
    enum sp_sink_kind kind;
    const struct sp_diag_ops *ops;
    char path[256];        /* file, or the socket for syslog / journald */
    _Atomic int fd;        /* -1 when closed, or not open yet (syslog, journald: made at the
                              first line), or when the last open failed (retried, see below) */
    _Atomic uint64_t id;   /* (st_ino ^ st_dev << 40) + 1 of what fd was opened on, 0 unknown */
    _Atomic int oflags;    /* fd's F_GETFL (access mode, O_APPEND, O_NONBLOCK) at open: with id
                              and FD_CLOEXEC, what proves a number is still ours */
    _Atomic int64_t last_check_s; /* file: last rotation check (CLOCK_MONOTONIC seconds) */
    _Atomic int64_t retry_s; /* the second of the last failed open: at most one a second */
    _Atomic int retired;   /* file: the fd replaced by a rotation, closed at the next one */
    _Atomic uint64_t retired_id; /* and its identity (as id); retired_oflags likewise */
    _Atomic int retired_oflags;
    _Atomic int open_err;  /* errno of the last failed open (0: the last one worked) */
    unsigned flags;        /* SP_SINK_F_* */
    int facility;          /* syslog: LOG_USER, LOG_DAEMON, ... (already shifted, as <syslog.h>) */
    char ident[32];        /* syslog tag, journald SYSLOG_IDENTIFIER */
    _Atomic uint64_t dropped; /* lines that could not be delivered */
    _Atomic int piped;     /* file, stderr: fd is a pipe, FIFO or socket (SIGPIPE is held off) */
    struct sp_sink *fallback; /* where a line this sink cannot deliver goes (NULL: dropped);
                                 its own fallback is not followed */
};

/* Configure a sink. Each returns 0, or -1 with errno set; errno is otherwise preserved. path
 * NULL picks the default (/dev/log, /run/systemd/journal/socket). ops NULL means
 * sp_diag_libc_ops(). flags: SP_SINK_F_*. A file that cannot be opened (EMFILE, EACCES, a
 * privileged writer's refusal: ELOOP for a symlink, EPERM for an owner or mode it may not
 * trust) still leaves a file sink: each write tries the open again, at most once a second,
 * and meanwhile gives its line to the fallback. syslog and journald make their socket at the
 * first line (a process that logs nothing holds no descriptor), retried likewise. Descriptors
 * the sink holds are close-on-exec and high: the lowest free number from SP_SINK_FD_BASE
 * (min(RLIMIT_NOFILE soft limit, 1024) - 24, so 1000 usually), else from lower bases (halving,
 * never below 3), so a program's own descriptors get the numbers they would get bare. */
int sp_sink_file_ex(struct sp_sink *s, const struct sp_diag_ops *ops, const char *path,
                    unsigned flags);
/* sp_sink_file_ex with flags 0. */
int sp_sink_file(struct sp_sink *s, const struct sp_diag_ops *ops, const char *path);
/* Writes to fd 2 while it is the file it is now (device and inode): a program that closes or
 * reuses fd 2 is never written into (its lines are dropped, counted). Holds no descriptor of
 * its own: a private duplicate would shift every descriptor number the program sees. */
int sp_sink_stderr(struct sp_sink *s, const struct sp_diag_ops *ops);
int sp_sink_syslog(struct sp_sink *s, const struct sp_diag_ops *ops, const char *path,
                   int facility, const char *ident);
int sp_sink_journald(struct sp_sink *s, const struct sp_diag_ops *ops, const char *path,
                     const char *ident);
/* Delivers one formatted line (ending in '\n') with one write or send. syslog sends it with
 * an RFC 3164 header; journald builds its fields from ev (may be NULL: MESSAGE only).
 * priority is a syslog level (LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG). A file sink is
 * reopened when the path was rotated (checked at most once a second) or when its descriptor
 * no longer refers to the file it opened. Returns 0, or -1 (the line is dropped and counted);
 * errno is preserved either way. */
int sp_sink_write(struct sp_sink *s, const char *line, size_t len, const struct sp_event *ev,
                  int priority);
/* sp_sink_write with the caller's scratch for a syslog or journald datagram (cap bytes;
 * 2 * SP_DIAG_LINE_MAX always suffices, less may drop a long line). sp_sink_write keeps
 * its scratch on the stack (8 KiB); the hook path uses this with a pooled buffer. */
int sp_sink_write_buf(struct sp_sink *s, const char *line, size_t len, const struct sp_event *ev,
                      int priority, char *scratch, size_t cap);
/* Closes what the sink holds (through ops->close): only a descriptor that still is the file
 * or socket it opened (device, inode, open flags, close-on-exec); a number the program has
 * closed and reused is forgotten, never closed. Not its fallback. errno preserved. */
void sp_sink_close(struct sp_sink *s);
/* Builds the journald datagram for ev (message = line without its '\n') into buf. Returns
 * its length, or 0 when it does not fit. For tests and for sp_sink_write. */
size_t sp_journald_datagram(const struct sp_event *ev, const char *line, size_t len,
                            int priority, const char *ident, char *buf, size_t cap);
/* Builds the syslog datagram "<PRI>ident[pid]: line" (no '\n') into buf; returns its length. */
size_t sp_syslog_datagram(int facility, int priority, const char *ident, pid_t pid,
                          const char *line, size_t len, char *buf, size_t cap);

/* ---- rate limit (diag_rate.c) ---- */

/* A token bucket: rate tokens a second, at most burst saved up. Lock-free. */
struct sp_rate {
    uint32_t rate, burst;      /* 0 rate: unlimited */
    _Atomic uint64_t state;    /* tokens in 1/1024 (low 32 bits) | time in ms mod 2^32 << 32 */
    _Atomic uint64_t suppressed; /* dropped since the last report */
    _Atomic int64_t report_s;  /* the second of the last report */
    _Atomic uint64_t total_suppressed;
};
/* Sets rate and burst (both at most 1000000) and fills the bucket. Not thread-safe. */
void sp_rate_init(struct sp_rate *r, uint32_t rate, uint32_t burst);
/* Whether an event at now_ns (CLOCK_MONOTONIC) may be logged: 1 yes, 0 drop (counted). When
 * the second has changed since the last report and events were dropped, *report is set to
 * their number (once: the caller logs one "suppressed N events" line), else 0. */
int sp_rate_take(struct sp_rate *r, uint64_t now_ns, uint64_t *report);
/* Dropped events not yet reported (at exit); resets the count. */
uint64_t sp_rate_flush(struct sp_rate *r);

/* ---- per-process summary (diag_summary.c) ---- */

#define SP_SUMMARY_SLOTS 256
#define SP_SUMMARY_ERRNOS 160

struct sp_summary_dest {
    _Atomic uint32_t state; /* 0 free, 1 being filled, 2 ready */
    uint32_t hash;
    uint16_t family, port;
    uint8_t addr[16]; /* IPv4 in the first 4 bytes */
    _Atomic uint64_t made, failed;
    _Atomic int last_err;
};

struct sp_summary {
    _Atomic uint64_t made, failed, other_failed; /* other: an errno beyond the table */
    _Atomic uint64_t by_errno[SP_SUMMARY_ERRNOS];
    _Atomic uint64_t dest_overflow; /* connections to a destination the table had no room for */
    struct sp_summary_dest dest[SP_SUMMARY_SLOTS];
};

/* Counts one finished connect (err 0 made, else failed) to sa. Lock-free, allocation-free,
 * async-signal-safe. A zeroed struct sp_summary is empty and ready. */
void sp_summary_add(struct sp_summary *s, const struct sockaddr *sa, socklen_t len, int err);
/* Renders the summary and hands each line (ending in '\n') to emit. Text: lines prefixed
 * "sockpolicy[pid prog]: summary: ", totals, then up to top errnos, then up to top
 * destinations, most frequent first. JSON: one object holding the same. top is at most 16.
 * Returns the number of lines. */
unsigned sp_summary_render(const struct sp_summary *s, pid_t pid, const char *prog, int json,
                           unsigned top, void (*emit)(void *ctx, const char *line, size_t len),
                           void *ctx);
/* sp_summary_render with how the calls were seen (note, NULL none) at the end of each text
 * line, " (NOTE)" as an event line's, and as "note" in JSON. */
unsigned sp_summary_render_note(const struct sp_summary *s, pid_t pid, const char *prog,
                                const char *note, int json, unsigned top,
                                void (*emit)(void *ctx, const char *line, size_t len), void *ctx);

/* ---- TFO sysctl (diag_tfo.c) ---- */

struct sp_tfo {
    int value;     /* net.ipv4.tcp_fastopen, -1 when it could not be read */
    int client_ok; /* bit 0x1 */
    int server_ok; /* bit 0x2 */
};
/* Reads path (NULL: /proc/sys/net/ipv4/tcp_fastopen) with raw open/read. Returns 0, or -1
 * with errno preserved and t->value -1. */
int sp_tfo_read(const char *path, struct sp_tfo *t);
/* Writes a one-line warning (no '\n') when t does not allow what is wanted, naming the
 * sysctl value to set, e.g. "net.ipv4.tcp_fastopen is 1, which does not allow server TFO:
 * set it to 3 (sysctl -w net.ipv4.tcp_fastopen=3)". Returns its length, 0 when allowed. */
size_t sp_tfo_advice(const struct sp_tfo *t, int want_client, int want_server, char *buf,
                     size_t cap);

/* ---- the whole pipeline (diag_emit.c) ---- */

struct sp_diagnosis {
    enum sp_log_level level;
    enum sp_log_format format;
    unsigned text_flags; /* SP_FMT_F_* for the text format */
    struct sp_sink sink;
    struct sp_rate rate;
    struct sp_summary *summary; /* NULL: no summary kept */
    /* Whose summary it is: pid 0, the caller's own process (the shim's); a supervisor names
     * the program it supervised, and how its calls were seen (summary_note, NULL none). */
    pid_t summary_pid;
    char summary_prog[16];
    const char *summary_note;
};

/* Logs ev if the level wants it (failures: err != 0 and not EINPROGRESS, denied, failed and
 * audited rules, refused options; all: every event; debug: all, plus option read-back
 * differences; a message at its msg_level), within the rate limit, counting connects in the
 * summary. Returns 1 if a line was written, else 0. errno preserved. Stack: under 2.5 KiB
 * of its own (the line and datagram buffers come from a static pool of SP_DIAG_SCRATCH
 * slots, claimed lock-free; when every slot is busy, e.g. in nested signal handlers, a
 * short line is formatted on the stack instead). */
#define SP_DIAG_SCRATCH 8
int sp_diag_emit(struct sp_diagnosis *d, const struct sp_event *ev);
/* At exit: the pending "suppressed" line and, when a summary is kept, the summary. */
void sp_diag_finish(struct sp_diagnosis *d);

#endif
