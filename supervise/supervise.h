/* supervise/supervise.h: the seccomp front end, as `sockpolicy run --supervise` starts it.
 * PROG runs under a seccomp filter whose socket calls (connect, io_uring_setup) come to this
 * process as user notifications; the policy is applied here, on duplicates of the program's
 * sockets, with the same decisions, forced options and log lines as the preload shim. */
#ifndef SOCKPOLICY_SUPERVISE_H
#define SOCKPOLICY_SUPERVISE_H

#include "policy.h"

struct sup_opts {
    const char *conf;   /* the policy file (absolute), NULL with trace */
    int trace;          /* --trace: no policy, every call passes and is logged */
    const char *log;    /* --log DEST as `run` passes it (file, stderr, syslog, ...), or NULL */
    int allow_io_uring; /* --allow-io-uring: io_uring_setup is not failed with ENOSYS */
    void (*diag)(void *ctx, const struct sp_diag *d); /* the policy's errors and warnings */
    void *diag_ctx;
};

/* Whether this kernel has what supervision needs. 0, or -1 after printing one line on stderr
 * naming the missing feature and the Linux version that brought it. */
int sup_kernel_check(void);

/* Runs file (argv: its arguments, argv[0] first) under supervision until every process of its
 * tree is gone. Returns the exit status for `sockpolicy run`: PROG's own (128 + N when a
 * signal N killed it, after trying to die of the same signal), 126/127 when it could not be
 * run, 1 when supervision could not start (a line on stderr says why). */
int sup_run(const struct sup_opts *o, const char *file, char **argv);

#endif
