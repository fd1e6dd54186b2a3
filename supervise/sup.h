/* supervise/sup.h: what the supervisor's files share. One struct sup per run: the listener,
 * the policy, and the calls being served in worker threads. Ordinary process code: it may
 * allocate, lock and use stdio (it is not inside the program). */
#ifndef SOCKPOLICY_SUP_H
#define SOCKPOLICY_SUP_H

#include <linux/seccomp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "decide.h"
#include "diag.h"
#include "policy.h"
#include "supervise.h"

/* The signal that interrupts a worker blocked on behalf of a call that is no longer wanted. */
#define SUP_SIG_CANCEL (SIGRTMIN + 3)

struct sup_call;
typedef void (*sup_work_fn)(struct sup_call *c);

/* One trapped call. Made by the loop, served there (quick calls) or in a worker (calls that
 * may block), freed after its answer. */
struct sup_call {
    struct seccomp_notif n;       /* id, pid (a thread id), data.nr, data.args */
    int fd;                       /* the program's socket, duplicated here; -1 none */
    int family, type;             /* the socket's kind (type without flags) */
    int nonblock;                 /* the program's socket is O_NONBLOCK */
    struct sockaddr_storage addr; /* the supervisor's own copy of the call's address */
    socklen_t addrlen;
    struct sockaddr_storage norm; /* what the rules see (sup_addr_norm); normlen 0: none */
    socklen_t normlen;
    struct sockaddr_storage call; /* what the supervisor's own call passes: addr, but for a */
    socklen_t calllen;            /* unix path, resolved from the program's directory */
    struct sp_decision d;
    const struct sp_policy *p;
    char comm[16];                /* the process's name and id for its log line, read by */
    pid_t tgid;                   /* sup_who before the answer (0: not read) */
    sup_work_fn work;             /* what sup_defer runs */
    sup_work_fn then;             /* what sup_gate_then runs after a delay */
    uint32_t send_delay_ms;       /* connect: a delay send rule on a datagram destination */
    int held_fd;                  /* accept: the connection taken before a delay's worker */
    int quiet;                    /* made here only to run on the socket looked at (no rule */
                                  /* could apply to it): neither decided nor logged */
    uint64_t held_t0;             /* and when its accept started */
    void *job;                    /* send: the messages copied for the call (send.c) */
    /* state while a blocking call is made for it, under sup.lock */
    struct sup_call *next;        /* in-flight list */
    pthread_t worker;
    int running;                  /* a worker is in it: cancel by signal */
    _Atomic int cancelled;        /* 1 the program's call went away, 2 timed out */
    uint64_t deadline_ns;         /* CLOCK_MONOTONIC; 0 none (connect-timeout) */
};

struct sup {
    int listener;
    struct sp_policy *policy;      /* current; old ones stay mapped (calls in flight use them) */
    const struct sup_opts *opts;
    char prog[64];                 /* the program's name, for prog matches */
    pthread_mutex_t lock;
    struct sup_call *inflight;     /* calls with a blocking call under way */
    unsigned idle, workers;        /* threads serving nothing (receiving, waiting for a */
                                   /* turn, starting), and all of them */
};
extern struct sup sup;

/* ---- call.c: a trapped call's answer, the program's memory, its end ---- */

/* Answers c's call: val on success (err 0), else -1 with err. 0, or -1 when the call is gone. */
int sup_answer(const struct sup_call *c, long val, int err);
/* Lets the kernel run c's call itself (only for a call whose memory nobody looked at). */
int sup_continue(const struct sup_call *c);
/* 1 while the program still waits for c's answer (SECCOMP_IOCTL_NOTIF_ID_VALID). */
int sup_valid(const struct sup_call *c);
/* Reads len bytes at the program's address addr into buf. 0, or -1 with errno (EFAULT). */
int sup_read_mem(const struct sup_call *c, uint64_t addr, void *buf, size_t len);
/* Writes len bytes of buf at the program's address addr. 0, or -1 with errno. */
int sup_write_mem(const struct sup_call *c, uint64_t addr, const void *buf, size_t len);
/* The number after "NAME:" in /proc/TID/status (tid 0: the supervisor's own), read in base;
 * dflt when it cannot be read. */
unsigned long long sup_status_field(pid_t tid, const char *name, int base, unsigned long long dflt);
/* A random number in [0, 1000000), for `fail` rates. */
uint32_t sup_random_ppm(void);
/* Whether the policy p has anything for op: a rule, or a default deny (as the shim's op bits:
 * an op it has nothing for is neither decided nor logged). */
int sup_policy_wants(const struct sp_policy *p, enum sp_op op);
/* Frees c and its duplicate. errno preserved. */
void sup_call_free(struct sup_call *c);
/* Answers c's call whose descriptor sup_take_fd could not take, with the errno it set (the
 * kernel's own answer for what the descriptor is now: EBADF, ENOTSOCK), and frees c; nothing
 * is answered for ENOENT (the call is gone). Never CONTINUE there: another thread of the
 * program could put a socket on the number before the kernel looked again. */
/* How a call on a descriptor (args[0]) starts: when no rule could apply (wanted 0), CONTINUE,
 * which is safe whatever socket the number names by the time the kernel runs the call;
 * otherwise the program's socket duplicated here (sup_take_fd), or the kernel's errno for a
 * number that is no socket (sup_fail_take). 0: go on with c->fd; -1: c was answered and freed. */
int sup_take_ruled(struct sup_call *c, int wanted);
void sup_fail_take(struct sup_call *c);

/* ---- notify.c: the loop, its receiving threads and their turns ---- */

/* The loop: serves notifications until the listener hangs up (no process is left), calling
 * on_extra (signals, children) when fd_extra is readable and on_tick (may be NULL) at least
 * once a second. Returns 0, or -1 when it cannot start. */
int sup_serve(int fd_extra, void (*on_extra)(void), void (*on_tick)(void));
/* Runs c->work in this thread, which may block (a blocking connect, an accept), after making
 * sure another thread receives meanwhile; c is cancelled (its call interrupted) when the
 * program stops waiting. Frees c. */
void sup_defer(struct sup_call *c);
/* The same for a call that should not block for long (a loopback connect, an accept with a
 * connection waiting): no other thread is woken unless it does (WATCH_MS in notify.c). */
void sup_defer_soon(struct sup_call *c);
/* A worker's blocking call for a job is made between these two: the cancel signal can
 * interrupt it there and nowhere else. */
void sup_cancel_enter(void);
void sup_cancel_leave(void);
/* poll with the cancel signal open only while it waits (ppoll). */
struct pollfd;
int sup_poll(struct pollfd *p, unsigned n, int ms);
/* Sleeps ms, or less when c is cancelled. */
void sup_sleep_ms(struct sup_call *c, uint32_t ms);
/* The worker side of cancellation: whether c was cancelled (1 gone, 2 timed out). */
static inline int sup_cancelled(struct sup_call *c)
{
    return atomic_load(&c->cancelled);
}

/* ---- procs.c: what is kept of the processes served ---- */

/* The policy as specialised for the process of thread tid (its name and uid, when the rules
 * look at them; else the one policy). Thread-safe. */
const struct sp_policy *sup_policy_for(pid_t tid);
/* Duplicates the program's descriptor fd into c->fd and reads its kind. 0, or -1 with errno
 * (EBADF: no such descriptor; ENOENT: the call is gone; ENOTSOCK: c->fd is kept, family and
 * type 0). */
int sup_take_fd(struct sup_call *c, int fd);

/* ---- addr.c: the address of a call ---- */

/* Reads the sockaddr of c's call (program address ptr, length len) into c->addr. 0, or the
 * errno the kernel would give (EINVAL for a bad length, EFAULT for unreadable memory). */
int sup_read_addr(struct sup_call *c, uint64_t ptr, uint64_t len);
/* Makes c->norm the address the rules see for op, as the shim's (shim/addr.c) for the same
 * call: sp_addr_normalize, an unspecified destination corrected from the socket's bound
 * address (getsockname on the duplicate c->fd), a unix path made absolute and canonical from
 * the program's working directory (/proc/TID/cwd); normlen 0 when the call names no address
 * the rules may see (decide with none). Sets c->call, the address the supervisor's own call
 * passes (c->addr, but for a unix path the resolved one). 0, or an errno to answer with. */
int sup_addr_norm(struct sup_call *c, enum sp_op op);

/* ---- decide.c: the decision and what it does before the call ---- */

/* The decision for op on c->norm (none when normlen is 0). */
struct sp_decision sup_decide_addr(const struct sup_call *c, enum sp_op op);
/* The gate of decision c->d for op, as the shim's: deny and an injected failure are logged and
 * their errno returned; audit is logged (0); a delay is logged and added to *delay_ms (0). */
int sup_gate_check(struct sup_call *c, enum sp_op op, uint32_t *delay_ms);
/* sup_gate_check, and the program answered with the errno: 1 then (c is done), else 0. */
int sup_gate(struct sup_call *c, enum sp_op op, uint32_t *delay_ms);
/* sup_gate, then rest(c) here, or in a worker after a delay rule's sleep (not when the
 * program's call went away meanwhile). Frees c. */
void sup_gate_then(struct sup_call *c, enum sp_op op, sup_work_fn rest);
/* The call is the kernel's (SECCOMP_USER_NOTIF_FLAG_CONTINUE); frees c. */
void sup_pass(struct sup_call *c);
/* The call fails with err; frees c. */
void sup_fail(struct sup_call *c, int err);

/* ---- connect.c ---- */

/* Serves a trapped connect(fd, addr, len). */
void sup_connect(struct sup_call *c);

/* ---- accept.c ---- */

/* Serves a trapped accept or accept4. */
void sup_accept(struct sup_call *c);

/* ---- held.c: connections accepted for an accept that went away ---- */

/* Keeps connection nfd (peer c->addr), accepted on c's listening socket c->fd for c's call,
 * which went away before it got it: for the next accept on that socket. Closes it when full. */
void sup_held_keep(struct sup_call *c, int nfd);
/* A connection kept for c's listening socket (c->addr its peer), O_NONBLOCK as nonblock; or
 * -1 when none is kept. */
int sup_held_take(struct sup_call *c, int nonblock);
/* Whether a connection is kept for c's listening socket. */
int sup_held_has(const struct sup_call *c);
/* Closes the connections kept for listening sockets the program closed (at most once a second). */
void sup_held_sweep(void);
/* Whether descriptor fd of process pid still names the socket of inode ino (/proc). */
int sup_fd_is(pid_t pid, int fd, ino_t ino);

/* ---- bind.c ---- */

/* Serve a trapped bind and listen. */
void sup_bind(struct sup_call *c);
void sup_listen(struct sup_call *c);

/* ---- socket.c ---- */

/* Serves a trapped socket (trapped only when the policy has socket rules at start). */
void sup_socket(struct sup_call *c);
/* Installs the supervisor's socket fd in the program as the answer to c's call (ADDFD with
 * SECCOMP_ADDFD_FLAG_SEND; O_CLOEXEC when cloexec). The program's descriptor, or -1 with errno
 * (ENOENT: the call went away; the program's call is then not answered). */
int sup_install(const struct sup_call *c, int fd, int cloexec);

/* ---- send.c ---- */

/* Serves a trapped sendto with an address, sendmsg or sendmmsg. */
void sup_send(struct sup_call *c);

/* ---- pending.c: non-blocking connects followed to their end ---- */

/* The socket's identity (device and inode), or 0. */
uint64_t sup_sock_key(int fd);
/* Remembers that c's connect (started at start_ns, options as forced) is in progress. */
void sup_pending_add(const struct sup_call *c, uint64_t start_ns, uint32_t asked,
                     const struct bio_opt_report *rep);
/* The connect pending on socket key (fd: the duplicate) ended with err, learnt in phase:
 * logs it and forgets it. Returns 1 when one was pending (and is now ended), else 0. */
int sup_pending_take(int fd, uint64_t key, int err, enum sp_phase phase, const struct sup_call *c);
/* Whether a connect is pending on socket key. */
int sup_pending_has(uint64_t key);
/* Ends the connects whose socket the program closed before it read their outcome, logged as
 * the shim logs them at close (their TCP state as last seen); at most once a second unless
 * now_too (at the end: every process is gone, so are its sockets). */
void sup_pending_sweep(int now_too);

/* Records that the options rule r forced on socket fd are pinned (`pin`): nothing for a rule
 * without pin. */
void sup_pin_add(int fd, const struct sp_rule *r);
/* The pinned options (BIO_OPT_BIT()s) of socket key, 0 none. */
uint32_t sup_pin_mask(uint64_t key);

/* ---- sockopt.c ---- */

/* Serves a trapped getsockopt(fd, SOL_SOCKET, SO_ERROR, ...). */
void sup_getsockopt(struct sup_call *c);
/* Serves a trapped setsockopt (trapped only when the policy has `pin` rules): a pinned
 * option's change succeeds and changes nothing; any other is the kernel's. */
void sup_setsockopt(struct sup_call *c);
/* Whether p has a rule with `pin`. */
int sup_policy_pins(const struct sp_policy *p);

/* ---- log.c: the diagnosis pipeline, as the shim's ---- */

/* Sets the log up from the policy's settings (NULL: defaults), --log and --trace; again at a
 * live reload (the sink reopened only when the destination changed). */
void sup_log_setup(const struct sp_settings *s, const char *dest, int trace);
/* The summary at exit names the program (pid, name) and says it was seen by seccomp. */
void sup_log_program(pid_t pid, const char *prog);
/* Whether an event with this outcome would be logged (the shim's shim_log_wants). */
int sup_log_wants(int err);
/* Whether the level is debug. */
int sup_log_debug(void);
/* Fills ev for c's call as sp_event_init does for the program itself: pid and name are the
 * program's (the thread group and comm of the calling thread). */
void sup_event_init(struct sp_event *ev, enum sp_op op, const struct sup_call *c);
/* Reads the name and process id of c's caller for a log line, while it still waits (after
 * the answer it may be gone): call before answering a call whose outcome is then logged. */
void sup_who(struct sup_call *c);
/* Logs ev ("seen by seccomp" added to its note). */
void sup_log_event(struct sp_event *ev);
/* Logs the outcome ev of a call decided by rule (none under --trace, as the shim), with the
 * options it forced (asked, and what became of them in rep; asked 0: none). */
void sup_log_outcome(struct sp_event *ev, const struct sp_rule *rule, uint32_t asked,
                     const struct bio_opt_report *rep);
/* A decision made before the call: deny, injected failure, delay, audit. */
void sup_log_decision(const struct sup_call *c, enum sp_op op);
/* A message at level, printf-style. */
void sup_log_msg(enum sp_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* At exit: suppressed count and the summary. */
void sup_log_finish(void);

/* ---- filter.c ---- */

/* Builds the filter for the policy p (NULL: trace, every op) and installs it in this (the
 * child) process with a listener. The listener fd, or -1 with errno. */
int sup_filter_install(const struct sp_policy *p, int allow_io_uring);

#endif
