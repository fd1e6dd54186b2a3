/* supervise/notify.c: the notification loop. Receiving threads take each trapped call and
 * serve it themselves; one that is about to block (a blocking connect, an accept) first makes
 * sure another one receives, so that one slow peer never holds up the other threads of the
 * program. The main thread watches: a call whose program thread stops waiting (a signal
 * interrupted it, or the process died) is cancelled, its thread interrupted with
 * SUP_SIG_CANCEL, exactly as the signal interrupted the program's call. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "sup.h"

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

struct sup sup = { .listener = -1, .lock = PTHREAD_MUTEX_INITIALIZER };

/* Receiving threads at most: beyond, a call waits until a busy one is free. */
#define MAX_WORKERS 512
/* How often calls in flight are checked for cancellation and timeouts. */
#define TICK_MS 10

static size_t notif_size, resp_size;
/* The main thread sleeps up to a second when nothing is in flight; a call that starts
 * blocking meanwhile wakes it (kick), so that its cancellation and connect-timeout are
 * looked at within a tick. */
static int kick_fd = -1;
static _Atomic int sleeping_long;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int sup_answer(const struct sup_call *c, long val, int err)
{
    union {
        struct seccomp_notif_resp r;
        char pad[256];
    } u;
    memset(&u, 0, sizeof u);
    u.r.id = c->n.id;
    u.r.val = err ? -1 : val;
    u.r.error = err ? -err : 0;
    return ioctl(sup.listener, SECCOMP_IOCTL_NOTIF_SEND, &u.r) == 0 ? 0 : -1;
}

int sup_continue(const struct sup_call *c)
{
    union {
        struct seccomp_notif_resp r;
        char pad[256];
    } u;
    memset(&u, 0, sizeof u);
    u.r.id = c->n.id;
    u.r.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    return ioctl(sup.listener, SECCOMP_IOCTL_NOTIF_SEND, &u.r) == 0 ? 0 : -1;
}

int sup_valid(const struct sup_call *c)
{
    uint64_t id = c->n.id;
    return ioctl(sup.listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

int sup_read_mem(const struct sup_call *c, uint64_t addr, void *buf, size_t len)
{
    struct iovec local = { buf, len }, remote = { (void *)(uintptr_t)addr, len };
    ssize_t n = process_vm_readv((pid_t)c->n.pid, &local, 1, &remote, 1, 0);
    if (n == (ssize_t)len)
        return 0;
    if (n >= 0 || errno == EFAULT)
        errno = EFAULT;
    return -1;
}

int sup_write_mem(const struct sup_call *c, uint64_t addr, const void *buf, size_t len)
{
    struct iovec local = { (void *)buf, len }, remote = { (void *)(uintptr_t)addr, len };
    ssize_t n = process_vm_writev((pid_t)c->n.pid, &local, 1, &remote, 1, 0);
    if (n == (ssize_t)len)
        return 0;
    if (n >= 0)
        errno = EFAULT;
    return -1;
}

/* The thread group of thread tid, from /proc; tid itself when it cannot be read. */
static pid_t tgid_of(pid_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/status", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tid;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return tid;
    buf[n] = 0;
    const char *t = strstr(buf, "\nTgid:");
    return t ? (pid_t)strtol(t + 6, NULL, 10) : tid;
}

int sup_take_fd(struct sup_call *c, int fd)
{
    pid_t tid = (pid_t)c->n.pid;
    int pidfd = (int)syscall(SYS_pidfd_open, tid, PIDFD_THREAD);
    if (pidfd < 0 && errno == EINVAL) /* before Linux 6.9: only a thread group's leader */
        pidfd = (int)syscall(SYS_pidfd_open, tgid_of(tid), 0);
    if (pidfd < 0)
        return -1;
    /* The pid named the calling thread when the notification was made: still waiting, it is
     * still that thread (a pid is not reused while its task waits here). */
    if (!sup_valid(c)) {
        close(pidfd);
        errno = ENOENT;
        return -1;
    }
    c->fd = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
    int err = errno;
    close(pidfd);
    if (c->fd < 0) {
        errno = err == ESRCH ? ENOENT : err;
        return -1;
    }
    socklen_t l1 = sizeof c->family, l2 = sizeof c->type;
    if (getsockopt(c->fd, SOL_SOCKET, SO_DOMAIN, &c->family, &l1) != 0 ||
        getsockopt(c->fd, SOL_SOCKET, SO_TYPE, &c->type, &l2) != 0) {
        c->family = c->type = 0;
        errno = ENOTSOCK;
        return -1;
    }
    int fl = fcntl(c->fd, F_GETFL);
    c->nonblock = fl >= 0 && (fl & O_NONBLOCK);
    return 0;
}

uint32_t sup_random_ppm(void)
{
    static _Thread_local uint64_t s;
    if (!s)
        s = (mono_ns() ^ ((uint64_t)(uintptr_t)&s << 7) ^ (uint64_t)syscall(SYS_gettid)) | 1;
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return (uint32_t)(s % 1000000u);
}

int sup_policy_wants(const struct sp_policy *p, enum sp_op op)
{
    return sp_policy_has_op(p, op) || sp_policy_settings(p)->default_action[op] == SP_ACT_DENY;
}

void sup_call_free(struct sup_call *c)
{
    int saved = errno;
    if (c->fd >= 0)
        close(c->fd);
    free(c);
    errno = saved;
}

static void on_cancel(int sig)
{
    (void)sig; /* only there to interrupt the worker's blocking call (no SA_RESTART) */
}

static void unlink_inflight(struct sup_call *c)
{
    for (struct sup_call **pp = &sup.inflight; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            return;
        }
}

/* Workers keep SUP_SIG_CANCEL blocked except inside a blocking call made for a job: a signal
 * meant for a job that has just finished then waits for the next such call, and is taken
 * when the mask opens, before that call starts; it never cuts short anything else (an ADDFD
 * + SEND whose wait is interrupted can leave the program's call answered with 0). */
void sup_cancel_enter(void)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SUP_SIG_CANCEL);
    pthread_sigmask(SIG_UNBLOCK, &s, NULL);
}

void sup_cancel_leave(void)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SUP_SIG_CANCEL);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
}

int sup_poll(struct pollfd *p, unsigned n, int ms)
{
    sigset_t open;
    pthread_sigmask(SIG_SETMASK, NULL, &open);
    sigdelset(&open, SUP_SIG_CANCEL);
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    return ppoll(p, n, ms < 0 ? NULL : &ts, &open);
}

void sup_sleep_ms(struct sup_call *c, uint32_t ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    int r = -1;
    while (!sup_cancelled(c) && r != 0) {
        sup_cancel_enter();
        r = sup_cancelled(c) ? 0 : nanosleep(&ts, &ts);
        sup_cancel_leave();
        if (r != 0 && errno != EINTR)
            break;
    }
}

static void serve_one(void *buf);
static void *receiver_main(void *arg);

/* A receiver more (under sup.lock: the caller counted it in sup.workers). */
static void spawn_receiver(void)
{
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&a, 256 * 1024);
    if (pthread_create(&t, &a, receiver_main, NULL) != 0) {
        pthread_mutex_lock(&sup.lock);
        sup.workers--;
        pthread_mutex_unlock(&sup.lock);
        fprintf(stderr, "sockpolicy run: cannot start a thread: calls wait for the busy ones\n");
    }
    pthread_attr_destroy(&a);
}

/* Receivers wait in SECCOMP_IOCTL_NOTIF_RECV (idle) and serve what they receive themselves,
 * blocking calls included (sup_defer): no hand-over to another thread on the way. One that is
 * about to block first makes sure another one receives meanwhile. */
static void *receiver_main(void *arg)
{
    (void)arg;
    void *buf = calloc(1, notif_size);
    if (!buf)
        goto out; /* counted in sup.workers by whoever started it: uncount, or the exit waits */
    for (;;) {
        pthread_mutex_lock(&sup.lock);
        sup.idle++;
        pthread_mutex_unlock(&sup.lock);
        memset(buf, 0, notif_size);
        int r = ioctl(sup.listener, SECCOMP_IOCTL_NOTIF_RECV, buf);
        int err = errno;
        pthread_mutex_lock(&sup.lock);
        sup.idle--;
        pthread_mutex_unlock(&sup.lock);
        if (r != 0 && (err == ENOENT || err == EINTR))
            continue; /* the task went away between the notification and the receive */
        if (r != 0)
            break;
        serve_one(buf);
    }
    free(buf);
out:
    pthread_mutex_lock(&sup.lock);
    sup.workers--;
    pthread_mutex_unlock(&sup.lock);
    return NULL;
}

void sup_defer(struct sup_call *c)
{
    pthread_mutex_lock(&sup.lock);
    int spawn = sup.idle == 0 && sup.workers < MAX_WORKERS;
    if (spawn)
        sup.workers++;
    c->worker = pthread_self();
    c->running = 1;
    c->next = sup.inflight;
    sup.inflight = c;
    pthread_mutex_unlock(&sup.lock);
    if (spawn)
        spawn_receiver();
    if (atomic_exchange(&sleeping_long, 0)) {
        uint64_t one = 1;
        if (write(kick_fd, &one, sizeof one) < 0) {
            /* the counter is full: the main thread is awake anyway */
        }
    }
    c->work(c);
    pthread_mutex_lock(&sup.lock);
    unlink_inflight(c);
    pthread_mutex_unlock(&sup.lock);
    sup_call_free(c);
}

/* Interrupts workers whose call is gone or past its deadline. Returns how many are in flight. */
static unsigned check_inflight(void)
{
    unsigned n = 0;
    uint64_t now = 0;
    pthread_mutex_lock(&sup.lock);
    for (struct sup_call *c = sup.inflight; c; c = c->next) {
        n++;
        if (!atomic_load(&c->cancelled)) {
            if (c->deadline_ns && (now ? now : (now = mono_ns())) >= c->deadline_ns)
                atomic_store(&c->cancelled, 2);
            else if (!sup_valid(c))
                atomic_store(&c->cancelled, 1);
        }
        /* Again at every tick until the worker is out: a signal that came just before it
         * entered the blocking call interrupted nothing. */
        if (atomic_load(&c->cancelled) && c->running)
            pthread_kill(c->worker, SUP_SIG_CANCEL);
    }
    pthread_mutex_unlock(&sup.lock);
    return n;
}

/* Serves the notification just received into buf. */
static void serve_one(void *buf)
{
    struct sup_call *c = calloc(1, sizeof *c);
    if (!c) {
        /* no memory: the program's call must not wait for ever */
        struct sup_call tmp;
        memcpy(&tmp.n, buf, sizeof tmp.n);
        sup_answer(&tmp, 0, ENOMEM);
        return;
    }
    memcpy(&c->n, buf, sizeof c->n);
    c->fd = -1;
    c->p = sup_policy_for((pid_t)c->n.pid);
    switch (c->n.data.nr) {
    case SYS_connect:
        sup_connect(c);
        return;
#ifdef SYS_accept
    case SYS_accept:
#endif
    case SYS_accept4:
        sup_accept(c);
        return;
    case SYS_socket:
        sup_socket(c);
        return;
    case SYS_sendto:
    case SYS_sendmsg:
    case SYS_sendmmsg:
        sup_send(c);
        return;
    case SYS_bind:
        sup_bind(c);
        return;
    case SYS_listen:
        sup_listen(c);
        return;
    case SYS_setsockopt:
        sup_setsockopt(c);
        return;
    case SYS_getsockopt:
        sup_getsockopt(c);
        return;
    default:
        sup_continue(c); /* not ours (the filter traps nothing else) */
        sup_call_free(c);
        return;
    }
}

int sup_serve(int fd_extra, void (*on_extra)(void), void (*on_tick)(void))
{
    struct seccomp_notif_sizes sizes;
    if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0)
        return -1;
    notif_size = sizes.seccomp_notif > sizeof(struct seccomp_notif) ? sizes.seccomp_notif
                                                                     : sizeof(struct seccomp_notif);
    resp_size = sizes.seccomp_notif_resp;
    if (resp_size > 256)
        return -1; /* sup_answer's buffer */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_cancel; /* no SA_RESTART: the worker's call returns EINTR */
    sigaction(SUP_SIG_CANCEL, &sa, NULL);
    pthread_mutex_lock(&sup.lock);
    sup.workers += 2;
    pthread_mutex_unlock(&sup.lock);
    spawn_receiver();
    spawn_receiver();
    /* This thread: signals, cancellation and timeouts, reloads, and the end (the listener
     * hangs up when no process is left under the filter; events 0: only that is reported). */
    kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    for (;;) {
        atomic_store(&sleeping_long, 1); /* before the look: a call registered after it kicks */
        unsigned inflight = check_inflight();
        if (inflight)
            atomic_store(&sleeping_long, 0);
        struct pollfd pfd[3] = { { sup.listener, 0, 0 }, { kick_fd, POLLIN, 0 },
                                 { fd_extra, POLLIN, 0 } };
        int r = poll(pfd, fd_extra >= 0 ? 3 : 2, inflight ? TICK_MS : on_tick ? 1000 : -1);
        atomic_store(&sleeping_long, 0);
        if (on_tick)
            on_tick();
        if (r < 0 && errno != EINTR)
            break;
        if (r <= 0)
            continue;
        uint64_t v;
        if ((pfd[1].revents & POLLIN) && read(kick_fd, &v, sizeof v) < 0) {
            /* drained by nobody else: nothing to do */
        }
        if (fd_extra >= 0 && (pfd[2].revents & POLLIN))
            on_extra();
        if (pfd[0].revents & (POLLHUP | POLLERR | POLLNVAL))
            break;
    }
    /* No process is left, but a thread may still be logging what a call did after answering
     * it: wait for them (every call left is gone, so a blocking one is cancelled), 2 s at most. */
    for (int i = 0; i < 200; i++) {
        check_inflight();
        pthread_mutex_lock(&sup.lock);
        unsigned busy = sup.workers - sup.idle;
        pthread_mutex_unlock(&sup.lock);
        if (!busy)
            break;
        struct timespec ts = { 0, 10000000 };
        nanosleep(&ts, NULL);
    }
    return 0;
}
