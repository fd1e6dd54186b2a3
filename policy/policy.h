/* policy/policy.h: the policy language. Parse a policy file into a compiled, position-
 * independent form held in one mmap'd arena, specialise it for a process, match calls.
 * Pure code: no hooks. Loading makes no malloc, no stdio and takes no lock (the shim may load
 * the policy from inside a hooked call): files are read with raw open/read, memory comes
 * from mmap. The full language is in docs/sockpolicy.conf.5. */
#ifndef SOCKPOLICY_POLICY_H
#define SOCKPOLICY_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "sockopt.h"

enum sp_op { SP_OP_SOCKET, SP_OP_BIND, SP_OP_LISTEN, SP_OP_CONNECT, SP_OP_ACCEPT, SP_OP_SEND,
             SP_OP_COUNT };

enum sp_action { SP_ACT_SET = 1, SP_ACT_PASS, SP_ACT_DENY, SP_ACT_AUDIT, SP_ACT_FAIL,
                 SP_ACT_DELAY };

enum sp_log_level { SP_LOG_OFF, SP_LOG_FAILURES, SP_LOG_ALL, SP_LOG_DEBUG };
enum sp_log_target { SP_LOGTO_DEFAULT, SP_LOGTO_STDERR, SP_LOGTO_SYSLOG, SP_LOGTO_JOURNALD,
                     SP_LOGTO_FILE };
enum sp_log_format { SP_FMT_TEXT, SP_FMT_JSON };

/* The file's global settings. */
struct sp_settings {
    enum sp_log_level log_level;
    enum sp_log_target log_target;
    enum sp_log_format log_format;
    char log_file[256];
    int strict;                      /* "strict": a policy that fails to load denies */
    int default_action[SP_OP_COUNT]; /* SP_ACT_PASS (the default) or SP_ACT_DENY */
    int default_errno[SP_OP_COUNT];  /* errno for a default deny (EACCES) */
    int log_summary;                 /* "log-summary": a per-process summary at exit */
    int log_file_trust;              /* SP_LOGFILE_*: log_file as a privileged loader found it */
    int log_said;                    /* the text has a log, log-to, log-format or log-summary
                                      * line: a policy of such lines alone logs every call */
};

/* sp_settings.log_file_trust: the contract between the loader and whoever opens log_file.
 * A privileged process (AT_SECURE, or euid 0) loads only policy text that root or its own
 * user alone can write (see sp_policy_load), and then vets the `log-to file` path once, at
 * load (or map) time:
 *   SP_LOGFILE_UNCHECKED  the process is not privileged (or there is no log file): no check
 *                         was made, and none is needed;
 *   SP_LOGFILE_VETTED     privileged, and the path was either an existing regular file or
 *                         FIFO (not a symbolic link) owned by root or the euid and writable by
 *                         neither group nor others, in a directory owned by root or the euid
 *                         that group and others may not write, or may only under the sticky
 *                         bit; or absent, the nearest existing directory on its path owned
 *                         by root or the euid, and group and others may not write it;
 *   SP_LOGFILE_REFUSED    privileged, and the path failed that (a warning said why): do not
 *                         open it; use the fallback sink.
 * Vetted is a fact at load time, not a guarantee at open time: a privileged opener still
 * opens with O_NOFOLLOW and checks with fstat that the file is owned by root or the euid. */
#define SP_LOGFILE_UNCHECKED 0
#define SP_LOGFILE_VETTED 1
#define SP_LOGFILE_REFUSED 2

/* One rule, as compiled. Read-only; lives in the policy's arena. */
struct sp_rule {
    uint32_t index;            /* position in file order, 0-based */
    enum sp_action action;
    enum sp_op op;             /* "any" rules are expanded into one rule per op */
    int err;                   /* deny and fail: the errno to return */
    uint32_t fail_rate_ppm;    /* fail: probability in parts per million (1000000 = always) */
    uint32_t delay_ms;         /* delay: how long to wait before the call */
    uint32_t connect_timeout_ms; /* connect-timeout, 0 when not set */
    uint8_t pin;               /* the program may not undo the forced options */
    uint8_t nonblock;          /* force O_NONBLOCK */
    struct bio_optset opts;    /* the options to force (set) */
    const char *file;          /* where it was written */
    uint32_t line;
    const char *text;          /* the rule as written, without comment or line end */
};

/* One call to classify. The address is the remote one for connect and send, the peer for
 * accept, the local one for bind and listen, NULL for socket. */
struct sp_query {
    enum sp_op op;
    int family; /* AF_INET, AF_INET6, AF_UNIX */
    int type;   /* SOCK_STREAM, SOCK_DGRAM, ... with SOCK_NONBLOCK|SOCK_CLOEXEC masked off */
    const struct sockaddr *addr;
    socklen_t addrlen;
};

/* A diagnostic from the loader: severity 0 error, 1 warning. line_text is the offending line
 * (not NUL-terminated, line_len bytes, at most the first 4 KiB of it). */
struct sp_diag {
    int severity;
    const char *file;
    unsigned line, col;
    const char *msg;
    const char *line_text;
    unsigned line_len;
};
typedef void (*sp_diag_fn)(void *ctx, const struct sp_diag *d);

struct sp_policy;

/* Loads and compiles the policy at path, with its includes. Returns the policy, or NULL with
 * errno set after reporting every error through diag (may be NULL). Warnings are reported
 * too, and do not fail the load. No malloc, no stdio, no lock. */
struct sp_policy *sp_policy_load(const char *path, sp_diag_fn diag, void *ctx);
/* The same from memory; name is used in diagnostics and to resolve relative includes. */
struct sp_policy *sp_policy_load_mem(const char *name, const char *buf, size_t len,
                                     sp_diag_fn diag, void *ctx);
/* sp_policy_load_ex flags. */
#define SP_LOAD_NO_WARNINGS 1u /* skip the covered-rule analysis ("this rule never matches");
                                  for a loader that reads no warnings (the shim) */
#define SP_LOAD_CACHE 2u       /* first try the compiled PATH.spc (sp_policy_map_compiled);
                                  when it is missing, parse PATH as usual, silently; when it is
                                  refused (stale, damaged, compiled from another file, reached
                                  through a symbolic link, untrusted), one warning through diag
                                  (file PATH.spc, line 0) says why, then PATH is parsed */
/* sp_policy_load with flags (SP_LOAD_*); 0 is sp_policy_load. Same returns and errno. */
struct sp_policy *sp_policy_load_ex(const char *path, unsigned flags, sp_diag_fn diag,
                                    void *ctx);

/* sp_policy_load_ex that also fills *st with the settings as read: the policy's when it loads,
 * else those that the lines which parsed gave, in every file the loader got to read (the
 * shim decides `strict` for a policy that fails to load from them; zeroed when nothing was
 * read). Same returns and errno. */
struct sp_policy *sp_policy_load_st(const char *path, unsigned flags, sp_diag_fn diag, void *ctx,
                                    struct sp_settings *st);

/* Compiled policies ("sockpolicy compile FILE" writes FILE.spc). A compiled file holds the
 * compiled blob behind a header: magic, format version, the host's layout, the blob's size
 * and checksum, and, inside the blob, the identity (path, st_dev, st_ino, st_size, st_mtim)
 * of every file read and every directory an include pattern scanned.
 * sp_policy_save writes p (loaded or mapped; not yet specialised or not) to path, atomically
 * (a temporary file renamed over it), mode 0644. Returns 0, or -1 with errno set. No malloc,
 * no stdio. */
int sp_policy_save(const struct sp_policy *p, const char *path);
/* The compiled file's format version, in its header; a file of another version is refused.
 * `sockpolicy --version` prints it. */
#define SP_COMPILED_FORMAT 3u
/* Maps a compiled policy: no parsing, cost in proportion to its size (a checksum) plus one
 * stat per source. Refuses, returning NULL with errno set and one error through diag (may be
 * NULL), a file that is truncated, damaged or of another version or layout (EBADMSG), one
 * whose sources changed or vanished (ESTALE), or one writable by group or others or owned by
 * neither root nor the euid (EPERM). The result is used and freed like a loaded policy
 * (sp_policy_specialise, then match). No malloc, no stdio, no lock. */
struct sp_policy *sp_policy_map(const char *path, sp_diag_fn diag, void *ctx);
/* The compiled form the library would use for the text at path (SP_LOAD_CACHE): PATH.spc
 * mapped as sp_policy_map does, and only when it was compiled from path itself (the same
 * absolute path, or the same file) and is not reached through a symbolic link. NULL with
 * errno set otherwise: ENOENT, silently, when there is none; else after one warning
 * (severity 1, file PATH.spc, line 0) through diag (may be NULL) saying why it is refused.
 * Cost as sp_policy_map's, plus a getcwd for a relative path. No malloc, no stdio. */
struct sp_policy *sp_policy_map_compiled(const char *path, sp_diag_fn diag, void *ctx);
/* A fingerprint of p's sources (every file read, every directory an include pattern scanned):
 * of their identities as recorded when p was read (now == 0), or as they are now (now != 0:
 * one stat each; a vanished source counts as changed). The two differ when a source changed
 * since p was read (the shim's live reload). No malloc; errno preserved. */
uint64_t sp_policy_sources_id(const struct sp_policy *p, int now);

/* 1 when a and b hold the same policy (the same rules, settings and source files, read at
 * different times or from a compiled file and from text), whatever the sources' identities:
 * a file rewritten with what it held already. Both blobs are compared in a private copy
 * (mmap, no malloc); 0 when they differ or a copy cannot be made. errno preserved. */
int sp_policy_same(const struct sp_policy *a, const struct sp_policy *b);

/* Unmaps the policy. errno is preserved. */
void sp_policy_free(struct sp_policy *p);

/* Evaluates the per-process matches (prog, uid) once for this process. Must be called before
 * sp_policy_match (again to change process). The matcher is compiled at load; this costs one
 * evaluation per distinct prog/uid match in the file, not per rule, unless more than 8 rules
 * of one op with prog/uid matches hold for this process: then it builds a matcher of its own
 * (the cost of a compile). Returns 0, or -1 with errno set. */
int sp_policy_specialise(struct sp_policy *p, const char *prog, uid_t uid);
/* The first rule that matches q, or NULL when none does (then the default applies).
 * Cost does not grow with the number of rules. No syscall, errno untouched. */
const struct sp_rule *sp_policy_match(const struct sp_policy *p, const struct sp_query *q);
/* Whether any rule (for this process) could match op at all: the shim's fast exit. */
int sp_policy_has_op(const struct sp_policy *p, enum sp_op op);

const struct sp_settings *sp_policy_settings(const struct sp_policy *p);
size_t sp_policy_rule_count(const struct sp_policy *p);
const struct sp_rule *sp_policy_rule(const struct sp_policy *p, size_t i);

/* Writes what rule r forces, as the language spells it ("keepalive=on keepalive-idle=60s
 * nodelay=on pin"), NUL-terminated and truncated to size. Returns the length it needed.
 * No allocation, no stdio; errno untouched. */
size_t sp_rule_describe(const struct sp_rule *r, char *buf, size_t size);

/* Names, as the language spells them ("connect", "deny", "ECONNREFUSED"); NULL if unknown. */
const char *sp_op_name(enum sp_op op);
const char *sp_action_name(enum sp_action a);
const char *sp_errno_name(int err);
/* The errno for a name such as "EACCES", or 0 when unknown. */
int sp_errno_from_name(const char *name, size_t len);

/* What the rules of op look at in a call (policy/shimapi.c), for a caller that keys cached
 * decisions: SP_TESTS_* bits; a part no rule tests cannot change sp_policy_match's answer
 * (the default action does not depend on the call either). Every rule of op counts, whether
 * or not its prog/uid matches hold. One pass over the rules; SP_TESTS_ALL for NULL. No
 * syscall, errno untouched. */
#define SP_TESTS_TYPE 1u /* the socket's kind: some but not all types of a family, or inet
                          * and inet6 apart */
#define SP_TESTS_PORT 2u /* the port of the address */
#define SP_TESTS_ADDR 4u /* the IP address */
#define SP_TESTS_PATH 8u /* the AF_UNIX path */
#define SP_TESTS_ALL 15u
uint32_t sp_policy_tests(const struct sp_policy *p, enum sp_op op);

/* The program name `prog` rules match (policy/prog.c), for every front end: the last part of
 * the path of the executable the kernel ran, as readlink(2) of /proc/PID/exe gave it (link,
 * n bytes, not NUL-terminated; room for n + 1 bytes; n <= 0: it could not be read). Writes
 * the NUL, removes " (deleted)" (an executable replaced on disk since it started is still
 * itself) and returns a pointer into link; NULL when n <= 0 (the caller falls back on the
 * name it has). Not argv[0]: a program started with another argv[0] (`exec -a`) is still
 * itself. Pure: no syscall, errno untouched. */
const char *sp_prog_from_exe(char *link, ssize_t n);

/* v in decimal, written backwards ending at tmp[SP_U64_DIGITS] (no NUL): returns the index
 * of the first digit. The one number formatter under the loader's messages and diag's
 * buffers: no locale, no stdio. Pure. */
#define SP_U64_DIGITS 20
size_t sp_u64_digits(uint64_t v, char tmp[SP_U64_DIGITS]);

/* Address normalisation (policy/sockaddr.c), shared by every front end (the shim, the seccomp
 * supervisor). Given the socket's family and type (flags masked), the op (SP_OP_BIND,
 * SP_OP_CONNECT: connect() and a MSG_FASTOPEN send; SP_OP_SEND: a datagram's destination) and
 * the address bytes exactly as the program passed them (len as given; a caller reading a
 * sendmsg clamps msg_namelen to sizeof(struct sockaddr_storage) first, as the kernel does),
 * writes to out/outlen the address the call reaches, as the matcher must see it: IPv4 as a
 * 16-byte sockaddr_in, IPv6 as a 28-byte sockaddr_in6 (from 24 bytes too), AF_UNSPEC read as
 * the kernel reads it, 0.0.0.0 / :: / ::ffff:0.0.0.0 as the loopback address they reach
 * from an unbound socket (connect and send; from a socket bound to a local address the kernel
 * sends them there instead: a caller that knows the socket corrects it, as shim/addr.c does),
 * other families byte for byte. Returns 0 when out holds that address, 1
 * when the call names no destination the rules may see: the kernel refuses it (EINVAL,
 * EAFNOSUPPORT...), or it only disconnects or means the connected peer; the caller then passes
 * the call to the kernel unmatched. Unix paths are left as spelled (their canonical form needs
 * the file system: the caller resolves it). Pure: no syscall, errno untouched. */
int sp_addr_normalize(int sock_family, int sock_type, enum sp_op op, const void *addr,
                      socklen_t len, struct sockaddr_storage *out, socklen_t *outlen);
/* The correction sp_addr_normalize leaves to a caller that knows the socket: an unspecified
 * destination (0.0.0.0, ::, ::ffff:0.0.0.0) of a connect or a send goes where the socket's own
 * bound address says (the kernel's ip_route_connect and __ip_route_output_key take the source
 * as the destination, loopback when unbound; tcp_v6_connect and udpv6_sendmsg read :: as ::1,
 * or as ::ffff:127.0.0.1 on a socket bound to an IPv4-mapped address; an IPv6 socket's IPv4
 * side from an IPv6 source is 127.0.0.6). sock_family: the socket's (AF_INET or AF_INET6);
 * raw/rawlen: the address as the program passed it; norm: what sp_addr_normalize made of it
 * (returned 0), corrected in place from local/locallen, the socket's address as getsockname
 * gives it. Returns 0 when raw is no unspecified destination (norm is right as it is: the
 * caller needs no getsockname), 1 when it is; then norm is corrected when local and norm are
 * given (local NULL: only the question is asked). Bind is not a destination: do not call it
 * for SP_OP_BIND. Pure: no syscall, errno untouched. */
int sp_addr_unspecified_dest(int sock_family, const void *raw, socklen_t rawlen,
                             const struct sockaddr *local, socklen_t locallen,
                             struct sockaddr_storage *norm);

/* ---- unix paths (unixpath.c) ---- */

/* How sp_unix_canonical asks the file system: canonical(ctx, path, flags, buf, size) opens
 * path with O_PATH | flags (O_DIRECTORY or 0) and reads back the canonical absolute path into
 * buf; its length, or 0 when it cannot (errno as the caller keeps it). */
struct sp_path_ops {
    size_t (*canonical)(void *ctx, const char *path, int flags, char *buf, size_t size);
    void *ctx;
};
/* The path of the unix address ss (len bytes) into path (room for sun_path and a NUL),
 * NUL-terminated; its length, or 0 for an abstract name or none (not a path). */
size_t sp_unix_path(const struct sockaddr_storage *ss, socklen_t len, char *path);
/* The longest path reach sp_unix_canonical splits into its directory and last name. */
#define SP_UNIX_REACH_MAX 256
/* The canonical form of a unix socket path for op, as the kernel reaches it: reach is the path
 * as the caller's file system view reaches it (NUL-terminated: the program's own spelling, or
 * it through /proc/PID/cwd), spelled/n the program's spelling. Connect and send follow a link
 * at the end; bind creates the last name in the canonical directory; what cannot be resolved
 * stays as spelled, "//" and "/./" collapsed (*resolved 0). Writes out (cap bytes, not
 * NUL-terminated) and returns its length (0: nothing fits). No allocation, no stdio. */
size_t sp_unix_canonical(const struct sp_path_ops *ops, const char *reach, const char *spelled,
                         size_t n, enum sp_op op, char *out, size_t cap, int *resolved);

#endif
