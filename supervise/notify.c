/* supervise/notify.c: the notification loop. Receiving threads take each trapped call and
 * serve it themselves; one that is about to block (a blocking connect, an accept) first makes
 * sure another one receives, so that one slow peer never holds up the other threads of the
 * program (the turns, below). The main thread watches: a call whose program thread stops
 * waiting (a signal interrupted it, or the process died) is cancelled, its thread interrupted
 * with SUP_SIG_CANCEL, exactly as the signal interrupted the program's call; a thread that
 * serves one call for too long gives its turn up. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sup.h"

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, uint64_t)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

struct sup sup = { .listener = -1, .lock = PTHREAD_MUTEX_INITIALIZER };

/* Receiving threads at most: beyond, a call waits until a busy one is free. */
#define MAX_WORKERS 512
/* How often calls in flight are checked for cancellation and timeouts. */
#define TICK_MS 10
/* The longest a call holds the receiver's turn before another thread receives (watch_turn),
 * and how long after the last call the main thread keeps watching at that pace. */
#define WATCH_MS 1
#define QUIET_MS 200

static size_t notif_size, resp_size;
/* The main thread sleeps up to a second when nothing is in flight and no call came lately;
 * a call received or starting to block meanwhile wakes it (kick), so that the turn is watched
 * and its cancellation and connect-timeout looked at within a tick. */
static int kick_fd = -1;
static _Atomic int sleeping_long;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
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
    pthread_mutex_lock(&sup.lock);
    sup.idle++; /* until it runs: it serves nothing the end should wait for */
    pthread_mutex_unlock(&sup.lock);
    if (pthread_create(&t, &a, receiver_main, NULL) != 0) {
        pthread_mutex_lock(&sup.lock);
        sup.workers--;
        sup.idle--;
        pthread_mutex_unlock(&sup.lock);
        fprintf(stderr, "sockpolicy run: cannot start a thread: calls wait for the busy ones\n");
    }
    pthread_attr_destroy(&a);
}

/* The receivers' turns. At most NTURNS threads wait in SECCOMP_IOCTL_NOTIF_RECV: the kernel
 * wakes every thread waiting there for each notification, so that many receivers cost a herd
 * of wake-ups per trapped call; two let one of them block without the next call waiting for
 * another thread to wake up (tens of microseconds from an idle CPU). A thread that holds a turn
 * receives, serves what it received itself and receives again: no hand-over of the call. The
 * free threads wait on `follow`. A turn is handed over (a follower woken, or a thread started)
 * when its holder is about to block (sup_defer), or, for a call that should not block
 * (sup_defer_soon) or a quick one, when the main thread sees it serving the same call for
 * WATCH_MS: one slow peer never holds up the other threads of the program for longer. */
#define NTURNS 2
struct receiver {
    int holds, serving;    /* a turn; serving a call (not receiving) */
    unsigned seq;          /* + 1 at each call received */
    unsigned seen_seq;     /* the main thread's last look: that call, since seen_at */
    uint64_t seen_at;
    struct receiver *next;
};
/* Under sup.lock: */
static pthread_cond_t follow = PTHREAD_COND_INITIALIZER;
static struct receiver *receivers; /* every receiving thread */
static unsigned turns;             /* turns held */
static unsigned followers;         /* threads waiting on follow */
static unsigned signalled;         /* of them, woken and not yet running */
static unsigned serve_seq;         /* + 1 at each call received */
static int closing;                /* the listener failed: every thread leaves */
static _Thread_local struct receiver *self;

/* r gives its turn up (it is about to block); 1: the caller starts a thread (counted). */
static int hand_off_locked(struct receiver *r)
{
    r->holds = 0;
    turns--;
    if (followers > signalled) {
        signalled++;
        pthread_cond_signal(&follow);
        return 0;
    }
    if (sup.workers >= MAX_WORKERS)
        return 0; /* the next thread that is free takes the turn */
    sup.workers++;
    return 1;
}

static void kick_main(void)
{
    if (atomic_load(&sleeping_long) && atomic_exchange(&sleeping_long, 0)) {
        uint64_t one = 1;
        if (write(kick_fd, &one, sizeof one) < 0) {
            /* the counter is full: the main thread is awake anyway */
        }
    }
}

/* Whether no process is left under the filter. */
static int hung_up(void)
{
    struct pollfd p = { sup.listener, 0, 0 };
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR | POLLNVAL));
}

static void *receiver_main(void *arg)
{
    (void)arg;
    struct receiver me = { 0 };
    void *buf = calloc(1, notif_size);
    self = &me;
    pthread_mutex_lock(&sup.lock);
    sup.idle--; /* counted by spawn_receiver */
    me.next = receivers;
    receivers = &me;
    while (buf && !closing) {
        if (!me.holds && turns >= NTURNS) { /* a follower */
            sup.idle++;
            followers++;
            pthread_cond_wait(&follow, &sup.lock);
            followers--;
            if (signalled)
                signalled--;
            sup.idle--;
            continue;
        }
        if (!me.holds) {
            me.holds = 1;
            turns++;
        }
        me.serving = 0;
        sup.idle++;
        pthread_mutex_unlock(&sup.lock);
        int r, err;
        do {
            memset(buf, 0, notif_size);
            r = ioctl(sup.listener, SECCOMP_IOCTL_NOTIF_RECV, buf);
            err = errno;
            /* ENOENT: the task went away between the notification and the receive, or
             * (the listener hung up) no process is left: every receive fails at once */
        } while (r != 0 && (err == EINTR || (err == ENOENT && !hung_up())));
        pthread_mutex_lock(&sup.lock);
        sup.idle--;
        if (r != 0) {
            closing = 1;
            pthread_cond_broadcast(&follow);
            break;
        }
        me.serving = 1;
        me.seq++;
        serve_seq++;
        pthread_mutex_unlock(&sup.lock);
        kick_main(); /* it watches the turns while calls come */
        serve_one(buf);
        pthread_mutex_lock(&sup.lock);
    }
    if (me.holds)
        turns--;
    for (struct receiver **pp = &receivers; *pp; pp = &(*pp)->next)
        if (*pp == &me) {
            *pp = me.next;
            break;
        }
    sup.workers--; /* counted by whoever started it */
    pthread_mutex_unlock(&sup.lock);
    free(buf);
    return NULL;
}

/* Runs c->work in this thread; hand: give the turn up first. */
static void defer(struct sup_call *c, int hand)
{
    pthread_mutex_lock(&sup.lock);
    int spawn = hand && self && self->holds ? hand_off_locked(self) : 0;
    c->worker = pthread_self();
    c->running = 1;
    c->next = sup.inflight;
    sup.inflight = c;
    pthread_mutex_unlock(&sup.lock);
    if (spawn)
        spawn_receiver();
    kick_main(); /* cancellation and connect-timeout are looked at within a tick */
    c->work(c);
    pthread_mutex_lock(&sup.lock);
    unlink_inflight(c);
    pthread_mutex_unlock(&sup.lock);
    sup_call_free(c);
}

void sup_defer(struct sup_call *c)
{
    defer(c, 1);
}

void sup_defer_soon(struct sup_call *c)
{
    defer(c, 0);
}

/* The main thread's look at the turns: a holder seen serving the same call for WATCH_MS gives
 * its turn up. Returns whether to look again in WATCH_MS (a call is served, or was lately). */
static int watch_turns(void)
{
    static unsigned last_seq;
    static uint64_t active_at;
    uint64_t now = mono_ns();
    int spawn = 0, serving = 0;
    pthread_mutex_lock(&sup.lock);
    if (serve_seq != last_seq) {
        last_seq = serve_seq;
        active_at = now;
    }
    for (struct receiver *r = receivers; r; r = r->next) {
        if (!r->holds || !r->serving)
            continue;
        if (r->seq != r->seen_seq) {
            r->seen_seq = r->seq;
            r->seen_at = now;
            serving = 1;
        } else if (now - r->seen_at >= WATCH_MS * 1000000u) {
            spawn += hand_off_locked(r);
        } else {
            serving = 1;
        }
    }
    pthread_mutex_unlock(&sup.lock);
    while (spawn-- > 0)
        spawn_receiver();
    return serving || now - active_at < QUIET_MS * 1000000u;
}

/* Interrupts workers whose call is gone (asked the kernel only when full) or past its
 * deadline. Returns how many are in flight. */
static unsigned check_inflight(int full)
{
    unsigned n = 0;
    uint64_t now = 0;
    pthread_mutex_lock(&sup.lock);
    for (struct sup_call *c = sup.inflight; c; c = c->next) {
        n++;
        if (!atomic_load(&c->cancelled)) {
            if (c->deadline_ns && (now ? now : (now = mono_ns())) >= c->deadline_ns)
                atomic_store(&c->cancelled, 2);
            else if (full && !sup_valid(c))
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
    /* The program's thread and the receiver hand the CPU to each other (Linux 6.6): the
     * kernel wakes the other on this CPU, not on an idle one it must first wake up (a
     * supervised call took 27-32 us without, 1.7 us with). Older kernels: the same, slower. */
    if (ioctl(sup.listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS,
              (uint64_t)SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) != 0) {
        /* EINVAL / ENOTTY before 6.6: nothing to do */
    }
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
    uint64_t checked = 0;
    for (;;) {
        /* before the look: a call received or deferred after it kicks */
        atomic_store(&sleeping_long, 1);
        uint64_t now = mono_ns();
        int full = now - checked >= TICK_MS * 1000000u - WATCH_MS * 500000u;
        if (full)
            checked = now;
        unsigned inflight = check_inflight(full);
        int watch = watch_turns();
        if (watch)
            atomic_store(&sleeping_long, 0);
        struct pollfd pfd[3] = { { sup.listener, 0, 0 }, { kick_fd, POLLIN, 0 },
                                 { fd_extra, POLLIN, 0 } };
        int r = poll(pfd, fd_extra >= 0 ? 3 : 2,
                     watch ? WATCH_MS : inflight ? TICK_MS : on_tick ? 1000 : -1);
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
    for (int i = 0; i < 2000; i++) {
        check_inflight(1);
        pthread_mutex_lock(&sup.lock);
        unsigned busy = sup.workers - sup.idle;
        pthread_mutex_unlock(&sup.lock);
        if (!busy)
            break;
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    return 0;
}
