/* torture_threads: a plain program (it knows nothing of sockpolicy) that hammers connect,
 * accept and close from many threads while other threads fork and the children connect too.
 *   torture_threads [THREADS [CONNECTS [FORKERS [FORKS [SECONDS]]]]]
 * defaults 64 2000 4 25 20. Every loop is bounded in count and in time (a thread stops at
 * the deadline, SECONDS/2); a watchdog alarm at SECONDS turns a deadlock into exit 3.
 * Checks: every connect to the listener succeeds, every connect to a closed port fails with
 * ECONNREFUSED, a successful call leaves errno as it was, each forked child's connects work,
 * and no descriptor is leaked. Prints "# " figures and "PASS" / "FAIL: why"; exits 0 / 1. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <poll.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#define TORTURE_WATCHDOG_FD 2
#include "torture.h"

#define SENTINEL 4242

static struct sockaddr_in listen_addr, refused_addr;
static atomic_long n_connects, n_refused, n_accepted, n_forks, n_child_fail, n_fail;
static atomic_int stop_accept;
static double deadline;
static int connects_per_thread, forks_per_thread;
static char first_fail[256];
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fail(const char *what, int err)
{
    atomic_fetch_add(&n_fail, 1);
    pthread_mutex_lock(&fail_lock);
    if (!first_fail[0])
        snprintf(first_fail, sizeof first_fail, "%s: %s (errno %d)", what, strerror(err), err);
    pthread_mutex_unlock(&fail_lock);
}



/* One connect to the listener and one to the closed port. Returns 0 when both behaved. */
static int one_round(int linger0)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail("socket", errno), -1;
    errno = SENTINEL;
    if (connect(fd, (struct sockaddr *)&listen_addr, sizeof listen_addr) != 0) {
        fail("connect to the listener", errno);
        close(fd);
        return -1;
    }
    if (errno != SENTINEL)
        fail("connect succeeded but changed errno", errno);
    if (linger0) { /* no TIME_WAIT: thousands of connects must not exhaust the ports */
        struct linger lg = { 1, 0 };
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    errno = SENTINEL;
    if (close(fd) != 0)
        fail("close", errno);
    else if (errno != SENTINEL)
        fail("close succeeded but changed errno", errno);
    atomic_fetch_add(&n_connects, 1);
    return 0;
}

static void refused_round(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return fail("socket", errno);
    errno = 0;
    if (connect(fd, (struct sockaddr *)&refused_addr, sizeof refused_addr) == 0)
        fail("connect to a closed port succeeded", 0);
    else if (errno != ECONNREFUSED)
        fail("connect to a closed port: wrong errno", errno);
    else
        atomic_fetch_add(&n_refused, 1);
    close(fd);
}

static void *connector(void *arg)
{
    (void)arg;
    for (int i = 0; i < connects_per_thread && now() < deadline; i++) {
        one_round(1);
        if (i % 64 == 0)
            refused_round();
    }
    return NULL;
}

static void *forker(void *arg)
{
    (void)arg;
    for (int i = 0; i < forks_per_thread && now() < deadline; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            fail("fork", errno);
            break;
        }
        if (pid == 0) {
            alarm(5); /* a child that deadlocks on a lock held by a parent thread dies */
            for (int k = 0; k < 4; k++) {
                int fd = socket(AF_INET, SOCK_STREAM, 0);
                struct linger lg = { 1, 0 };
                if (fd < 0 || connect(fd, (struct sockaddr *)&listen_addr, sizeof listen_addr))
                    _exit(1);
                setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
                if (close(fd))
                    _exit(2);
            }
            _exit(0);
        }
        int st = 0, r;
        while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
            ;
        if (r < 0) {
            fail("waitpid", errno);
            continue;
        }
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            char why[64];
            atomic_fetch_add(&n_child_fail, 1);
            snprintf(why, sizeof why, WIFSIGNALED(st) ? "forked child killed by signal %d"
                                                      : "forked child exited %d",
                     WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
            fail(why, 0);
        }
        atomic_fetch_add(&n_forks, 1);
    }
    return NULL;
}

static void *acceptor(void *arg)
{
    struct pollfd pfd = { .fd = *(int *)arg, .events = POLLIN };
    while (!atomic_load(&stop_accept)) {
        if (poll(&pfd, 1, 10) <= 0)
            continue;
        for (;;) { /* drain the queue; the peer resets, we only close */
            int c = accept4(pfd.fd, NULL, NULL, SOCK_CLOEXEC);
            if (c < 0) {
                if (errno == ECONNABORTED) /* the peer reset before we took it */
                    atomic_fetch_add(&n_accepted, 1);
                else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                    fail("accept", errno);
                break;
            }
            atomic_fetch_add(&n_accepted, 1);
            close(c);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 64;
    connects_per_thread = argc > 2 ? atoi(argv[2]) : 2000;
    int forkers = argc > 3 ? atoi(argv[3]) : 4;
    forks_per_thread = argc > 4 ? atoi(argv[4]) : 25;
    int seconds = argc > 5 ? atoi(argv[5]) : 20;
    if (threads < 1 || threads > 512 || forkers < 0 || forkers > 64 || seconds < 2) {
        fprintf(stderr, "usage: %s [THREADS [CONNECTS [FORKERS [FORKS [SECONDS]]]]]\n", argv[0]);
        return 2;
    }
    signal(SIGALRM, watchdog_alarm);
    signal(SIGPIPE, SIG_IGN);
    alarm(seconds);
    deadline = now() + seconds / 2.0;
    int fds_before = count_fds();

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int rfd = socket(AF_INET, SOCK_STREAM, 0); /* bound, never listening: connects refused */
    socklen_t len = sizeof listen_addr;
    listen_addr.sin_family = AF_INET;
    listen_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    refused_addr = listen_addr;
    if (lfd < 0 || rfd < 0 || bind(lfd, (struct sockaddr *)&listen_addr, len) ||
        bind(rfd, (struct sockaddr *)&refused_addr, len) || listen(lfd, 4096) ||
        getsockname(lfd, (struct sockaddr *)&listen_addr, &len) ||
        getsockname(rfd, (struct sockaddr *)&refused_addr, &len)) {
        printf("FAIL: listener setup: %s\n", strerror(errno));
        return 1;
    }

    enum { ACCEPTORS = 4 };
    pthread_t acc[ACCEPTORS], *th = calloc(threads + forkers, sizeof *th);
    for (int i = 0; i < ACCEPTORS; i++)
        pthread_create(&acc[i], NULL, acceptor, &lfd);
    double t0 = now();
    for (int i = 0; i < threads; i++)
        if (pthread_create(&th[i], NULL, connector, NULL)) {
            printf("FAIL: pthread_create\n");
            return 1;
        }
    for (int i = 0; i < forkers; i++)
        pthread_create(&th[threads + i], NULL, forker, NULL);
    for (int i = 0; i < threads + forkers; i++)
        pthread_join(th[i], NULL);
    double t1 = now();
    /* Let the acceptors drain: every connect (parents' and children's) must be accepted. */
    long want = atomic_load(&n_connects) + 4 * (atomic_load(&n_forks) - atomic_load(&n_child_fail));
    for (int i = 0; i < 2000 && atomic_load(&n_accepted) < want; i++)
        usleep(1000);
    atomic_store(&stop_accept, 1);
    for (int i = 0; i < ACCEPTORS; i++)
        pthread_join(acc[i], NULL);
    close(lfd);
    close(rfd);
    free(th);
    int fds_after = count_fds();

    printf("# threads=%d connects=%ld refused=%ld accepted=%ld forks=%ld child_failures=%ld "
           "seconds=%.2f connects_per_s=%.0f\n", threads, (long)n_connects, (long)n_refused,
           (long)n_accepted, (long)n_forks, (long)n_child_fail, t1 - t0,
           n_connects / (t1 - t0 > 0 ? t1 - t0 : 1));
    printf("# fds before=%d after=%d\n", fds_before, fds_after);
    if (atomic_load(&n_fail)) {
        printf("FAIL: %ld failures; first: %s\n", (long)n_fail, first_fail);
        return 1;
    }
    if (fds_after != fds_before) {
        printf("FAIL: descriptors leaked: %d before, %d after\n", fds_before, fds_after);
        return 1;
    }
    if (atomic_load(&n_accepted) < want - want / 1000) { /* a reset may beat accept */
        printf("FAIL: %ld connects but only %ld accepted\n", want, (long)n_accepted);
        return 1;
    }
    if (atomic_load(&n_connects) < threads) {
        printf("FAIL: fewer than one connect per thread before the deadline\n");
        return 1;
    }
    printf("PASS\n");
    return 0;
}
