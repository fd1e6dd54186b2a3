/* shim/load_priv.h: what the loader's files (load.c, load_file.c, reload.c) share and
 * nothing else includes: the watcher's state and the functions each calls in another. The
 * public contract is state.h. */
#ifndef SOCKPOLICY_SHIM_LOAD_PRIV_H
#define SOCKPOLICY_SHIM_LOAD_PRIV_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "state.h"

#ifndef SP_SYSCONFDIR
#define SP_SYSCONFDIR "/etc"
#endif
#define SYSTEM_CONF SP_SYSCONFDIR "/sockpolicy.conf"

/* What the loader keeps between looks at the policy file. Written only by the first loader
 * and then by the one thread that holds `looking`. */
struct shim_watcher {
    char path[4096];       /* the file watched: the host's, or the user's; empty when none */
    char user[4096];       /* with the host's: the user's own policy (SOCKPOLICY_CONF), or "" */
    int secure;
    int host;              /* path is the host-wide policy */
    int trace;             /* SOCKPOLICY_TRACE=1 under the host's policy: log every event */
    struct sp_policy *obj; /* the policy in force, also while published as SHIM_IDLE */
    uint64_t obj_id;       /* its sources' fingerprint when it was read, and the files' */
    uint64_t obj_main;     /* the files' own identity (shim_files_id) when it was read */
    uint64_t fail_id;      /* the sources' fingerprint when a load last failed (0: none) */
    uint64_t seen_id, seen_ns; /* a change first seen (settle), and when */
    uint64_t next_look_ns;
    int retrying;          /* the last load failed for a passing reason (logged once) */
};
extern struct shim_watcher shim_watcher __attribute__((visibility("hidden")));

#define LOOK_EVERY_NS 1000000000ull  /* stat the sources at most once a second */
#define CLOCK_EVERY_NS 250000000ull  /* and read the clock about four times a second */
#define RETRY_NS 50000000ull         /* a load that failed for a passing reason: again soon */
#define SETTLE_NS 300000000ull       /* a file changed less than this ago may be half written */
#define EMPTY_SETTLE_NS 1000000000ull /* an empty rewrite of rules: until it has stayed so */
#define TICKS_UNCALIBRATED 20000000ull /* 20 ms at 1 GHz, before the rate is known */

/* A load's first error, for the one line that reports it. */
struct shim_load_diag {
    int have;
    int transient;       /* a file could not be read for a reason that passes (EMFILE, ENOMEM) */
    int top_unreadable;  /* the top file itself could not be opened */
    const char *top;
    char text[400];
};

/* The loader runs with every signal blocked and cancellation disabled: no signal handler can
 * run nested in it (and find the policy half loaded, or longjmp out of it), and no
 * pthread_cancel can end the thread inside it. errno preserved. */
struct shim_quiet {
    sigset_t mask;
    int cancel;
};
void shim_quiet_enter(struct shim_quiet *q);
void shim_quiet_leave(const struct shim_quiet *q);
/* This thread's id (gettid), and whether thread tid of this process still exists (errno
 * preserved): the owners of the load and of the look are thread ids, so a stale one is seen. */
int shim_thread_id(void);
int shim_thread_alive(int tid);

/* ---- load.c: what is published ---- */

/* Publishes pub with its op bits (ops stored first). */
void shim_publish(struct sp_policy *pub, uint32_t ops);
/* Sets up p's log settings (first: the start-up load; else a reload), makes p the policy in
 * force (its sources' fingerprint taken against main, the files' identity before they were
 * read), and returns what to publish (p, SHIM_IDLE or SHIM_WATCH) with its op bits in *ops. */
struct sp_policy *shim_adopt(struct sp_policy *p, uint32_t *ops, uint64_t main, int first);
/* A load failed (diag) with no policy ever in force: logs it (once in a streak of passing
 * failures) and returns what to publish, SHIM_DENY_ALL under strict else SHIM_IDLE, with its
 * op bits in *ops; the next look is soon when the failure may pass, else after a change. */
struct sp_policy *shim_load_failed(const struct shim_load_diag *diag, int strict, uint64_t id,
                                   uint32_t *ops, const char *what);

/* ---- load_file.c: what is read ---- */

/* Loads and specialises what shim_watcher names (the file; or the host's with the user's
 * stacked), the compiled form first. NULL with the first error in *diag and, in *strict,
 * whether the policy asked for strict. Logs through shim_log; errno set on failure. */
struct sp_policy *shim_load_file(struct shim_load_diag *diag, int *strict);
/* Whether the host-wide policy file is there (and, when secure, root's alone: else one line). */
int shim_host_conf(int secure);
/* $SOCKPOLICY_CONF made absolute into buf: 1, 0 when unset, -1 when refused (one line). */
int shim_user_conf(char *buf, size_t size);
/* Whether paths a and b name the same file. errno preserved. */
int shim_same_file(const char *a, const char *b);
/* Whether $SOCKPOLICY_TRACE is "1" (another value than "", "0" is refused with one line). */
int shim_trace_wanted(void);
/* `sockpolicy run --trace` with no policy file ($SOCKPOLICY_TRACE set, not secure): the
 * logger set up for tracing and a policy of `pass any`; NULL when not tracing or on failure. */
struct sp_policy *shim_trace_policy(int secure);

/* ---- reload.c: the watch ---- */

/* CLOCK_MONOTONIC in nanoseconds. */
/* The identity of the files named (the policy file, and the user's own beside the host's) as a
 * fingerprint. errno preserved. */
uint64_t shim_files_id(void);
/* The fingerprint a look compares: obj's sources (as recorded in it when now == 0, as they are
 * when now != 0) and the watched files' own identity, main. */
uint64_t shim_sources_id(const struct sp_policy *obj, int now, uint64_t main);

#endif
