/* supervise/launch.c: starting PROG under the filter and staying until its tree is gone.
 * The child installs the filter (with no_new_privs when it is not privileged), hands the
 * listener to the parent over a socketpair (SCM_RIGHTS) and execs PROG. The parent is a child
 * subreaper, so that a daemon PROG starts stays its descendant (it may read its memory and take
 * its descriptors); it serves notifications until the listener hangs up, forwards the signals
 * sent to it, and exits as PROG did. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sup.h"

/* Signals sent to `sockpolicy run` that go on to PROG, as they reached it when run exec'd it. */
static const int forwarded[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM,
                                 SIGWINCH, SIGCONT, SIGTSTP, SIGTTIN, SIGTTOU, SIGPIPE };

static pid_t child = -1;
static int child_status = -1;
static int sigfd = -1;

static void reap(void)
{
    int st;
    pid_t p;
    while ((p = waitpid(-1, &st, WNOHANG | __WALL)) > 0)
        if (p == child)
            child_status = st;
}

static void on_signal(void)
{
    struct signalfd_siginfo si;
    while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGCHLD) {
            reap();
            continue;
        }
        /* A signal from the terminal (SI_KERNEL) reached PROG's process group already. */
        if (si.ssi_code != SI_KERNEL && child > 0 && child_status == -1)
            kill(child, (int)si.ssi_signo);
    }
}

/* The child: filter, listener to the parent, exec. Reports a failure's errno on errfd. */
static void __attribute__((noreturn))
child_main(const struct sup_opts *o, const char *file, char **argv, int sock, int errfd,
           const sigset_t *mask)
{
    int err;
    sigprocmask(SIG_SETMASK, mask, NULL);
    int lfd = sup_filter_install(sup.policy, o->allow_io_uring);
    if (lfd < 0) {
        err = -errno; /* negative: the filter, not the exec */
        if (write(errfd, &err, sizeof err) < 0)
            _exit(126);
        _exit(126);
    }
    /* The parent takes the listener with pidfd_getfd, told its number here, and says when it
     * has it: a sendmsg of it (SCM_RIGHTS) would now be trapped, and wait for that parent. */
    char ack;
    if (write(sock, &lfd, sizeof lfd) != (ssize_t)sizeof lfd || read(sock, &ack, 1) != 1)
        _exit(126);
    close(lfd);
    close(sock);
    execv(file, argv);
    err = errno;
    if (write(errfd, &err, sizeof err) < 0)
        _exit(126);
    _exit(err == ENOENT ? 127 : 126);
}

static int take_err; /* why the listener could not be taken from the child, 0 none */

/* The listener, taken from the child (its number comes over sock); the child is told. */
static int recv_listener(int sock)
{
    int num, fd = -1;
    ssize_t n;
    do
        n = read(sock, &num, sizeof num);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof num)
        return -1;
    int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
    if (pidfd >= 0) {
        fd = (int)syscall(SYS_pidfd_getfd, pidfd, num, 0);
        close(pidfd);
    }
    if (fd < 0)
        take_err = errno; /* Yama's ptrace_scope 2 or 3 refuses it (EPERM) */
    if (fd >= 0 && write(sock, "L", 1) != 1) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* The policy: the file (compiled form first), specialised for the program's name; the trace
 * policy; or, with no file at all, one that lets everything through. */
static struct sp_policy *load_policy(const struct sup_opts *o, const char *prog)
{
    static const char trace_policy[] = "pass any\n";
    struct sp_policy *p;
    if (o->trace)
        p = sp_policy_load_mem("sockpolicy --trace", trace_policy, sizeof trace_policy - 1,
                               NULL, NULL);
    else if (o->conf)
        p = sp_policy_load_ex(o->conf, SP_LOAD_CACHE, o->diag, o->diag_ctx);
    else
        p = sp_policy_load_mem("(no policy)", "", 0, NULL, NULL);
    if (p && sp_policy_specialise(p, prog, getuid()) != 0) {
        sp_policy_free(p);
        p = NULL;
    }
    return p;
}

/* Live reload, as the shim's: at most once a second, a policy whose sources changed is loaded
 * again and used for the calls that come after. A policy that no longer loads keeps the old
 * one (and says so). */
static void reload_check(void)
{
    static uint64_t last;
    uint64_t now = sp_diag_now_ns();
    if (!sup.opts->conf || now - last < 1000000000u)
        return;
    last = now;
    struct sp_policy *p = sup.policy;
    if (sp_policy_sources_id(p, 1) == sp_policy_sources_id(p, 0))
        return;
    struct sp_policy *np = sp_policy_load_ex(sup.opts->conf, SP_LOAD_CACHE, NULL, NULL);
    if (np && sp_policy_specialise(np, sup.prog, getuid()) != 0) {
        sp_policy_free(np);
        np = NULL;
    }
    if (!np) {
        sup_log_msg(SP_LOG_FAILURES, "policy %s changed but does not load: the old one stays",
                    sup.opts->conf);
        return;
    }
    /* the old one stays mapped: calls in flight still read it */
    __atomic_store_n(&sup.policy, np, __ATOMIC_RELEASE);
    sup_log_setup(sp_policy_settings(np), sup.opts->log, 0); /* its log settings too */
    sup_log_msg(SP_LOG_ALL, "policy %s reloaded", sup.opts->conf);
}

/* Once a second at least: reload, connections kept for listeners the program closed, and
 * pending connects whose socket it closed. */
static void on_tick(void)
{
    reload_check();
    sup_held_sweep();
    sup_pending_sweep(0);
}

static void on_extra(void)
{
    on_signal();
}

/* PROG's status as ours: its exit code, or its death by the same signal. */
static int exit_like(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) {
        int sig = WTERMSIG(st);
        struct rlimit none = { 0, 0 };
        setrlimit(RLIMIT_CORE, &none); /* PROG dumped its core already, if it was to */
        signal(sig, SIG_DFL);
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, sig);
        sigprocmask(SIG_UNBLOCK, &s, NULL);
        raise(sig);
        return 128 + sig;
    }
    return 1;
}

int sup_run(const struct sup_opts *o, const char *file, char **argv)
{
    if (sup_kernel_check() != 0)
        return 1;
    const char *base = strrchr(argv[0], '/');
    snprintf(sup.prog, sizeof sup.prog, "%s", base ? base + 1 : argv[0]);
    sup.opts = o;
    sup.policy = load_policy(o, sup.prog);
    if (!sup.policy) {
        fprintf(stderr, "sockpolicy run: %s: the policy does not load; nothing was run\n",
                o->conf ? o->conf : "--trace");
        return 1;
    }
    sup_log_setup(o->trace ? NULL : sp_policy_settings(sup.policy), o->log, o->trace);
    int sv[2], ep[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 || pipe2(ep, O_CLOEXEC) != 0) {
        perror("sockpolicy run");
        return 1;
    }
    sigset_t mask, old;
    sigemptyset(&mask);
    for (unsigned i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
        sigaddset(&mask, forwarded[i]);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SUP_SIG_CANCEL); /* only the workers take it */
    sigprocmask(SIG_BLOCK, &mask, &old);
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    child = fork();
    if (child < 0) {
        perror("sockpolicy run: fork");
        return 1;
    }
    if (child == 0) {
        close(sv[0]);
        close(ep[0]);
        child_main(o, file, argv, sv[1], ep[1], &old);
    }
    close(sv[1]);
    close(ep[1]);
    sup_log_program(child, sup.prog);
    sup.listener = recv_listener(sv[0]);
    close(sv[0]);
    int err = 0;
    ssize_t n;
    do
        n = read(ep[0], &err, sizeof err);
    while (n < 0 && errno == EINTR);
    close(ep[0]);
    if (n == (ssize_t)sizeof err || sup.listener < 0) {
        if (err < 0)
            fprintf(stderr, "sockpolicy run: cannot install the seccomp filter: %s\n",
                    strerror(-err));
        else if (err > 0)
            fprintf(stderr, "sockpolicy run: cannot run %s: %s\n", file, strerror(err));
        else if (take_err)
            fprintf(stderr, "sockpolicy run: cannot take the seccomp listener from the child "
                    "(pidfd_getfd: %s; kernel.yama.ptrace_scope above 1?)\n", strerror(take_err));
        else
            fprintf(stderr, "sockpolicy run: the supervised process did not start\n");
        int st;
        waitpid(child, &st, 0);
        return err > 0 ? (err == ENOENT ? 127 : 126) : 1;
    }
    sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    sup_serve(sigfd, on_extra, on_tick);
    /* Every process under the filter is gone: PROG's status is here or on its way. */
    while (child_status == -1) {
        int st;
        pid_t p = waitpid(child, &st, __WALL);
        if (p == child)
            child_status = st;
        else if (p < 0 && errno != EINTR)
            break;
    }
    reap();
    sup_pending_sweep(1); /* connects still pending at the end end here, as in the shim */
    sup_log_finish();
    return child_status == -1 ? 1 : exit_like(child_status);
}
