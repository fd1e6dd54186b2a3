/* torture_signal: a plain program whose SIGALRM handler calls socket, connect, getsockopt and
 * close, fired every few hundred microseconds while the main thread itself loops on socket,
 * connect and close: the handler lands in the middle of those calls.
 *   torture_signal [ROUNDS [SECONDS]]      defaults 50000 rounds, 10 s watchdog
 * Checks: every connect (main's and the handler's) succeeds or, in main, reports EINTR; a
 * connect to a closed port fails with ECONNREFUSED even when the handler ran meanwhile; a
 * successful call leaves errno as it was; no descriptor leaks; a watchdog thread turns a
 * deadlock into exit 3. Prints "# " figures (including how many sockets read back
 * TCP_NODELAY=1, for the wrapper to compare) and "PASS" / "FAIL: why". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "torture.h"

#define SENTINEL 4242

static struct sockaddr_in listen_addr, refused_addr;
static volatile sig_atomic_t h_runs, h_ok, h_nodelay, h_err, h_errno_seen;
static atomic_int stop_accept;
static int watchdog_seconds;


static void *watchdog(void *arg)
{
    static const char msg[] = "FAIL: watchdog: deadlock or far too slow\n";
    (void)arg;
    sleep(watchdog_seconds);
    (void)!write(1, msg, sizeof msg - 1);
    _exit(3);
}

static void on_alarm(int sig)
{
    int saved = errno, one = 0;
    socklen_t len = sizeof one;
    (void)sig;
    h_runs++;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        h_err++, h_errno_seen = errno;
    } else {
        if (connect(fd, (struct sockaddr *)&listen_addr, sizeof listen_addr) == 0) {
            struct linger lg = { 1, 0 };
            h_ok++;
            if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, &len) == 0 && one)
                h_nodelay++;
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        } else {
            h_err++, h_errno_seen = errno;
        }
        if (close(fd) != 0)
            h_err++, h_errno_seen = errno;
    }
    errno = saved;
}

static void *acceptor(void *arg)
{
    struct pollfd pfd = { .fd = *(int *)arg, .events = POLLIN };
    while (!atomic_load(&stop_accept)) {
        if (poll(&pfd, 1, 10) <= 0)
            continue;
        int c;
        while ((c = accept4(pfd.fd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
            close(c);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 50000;
    watchdog_seconds = argc > 2 ? atoi(argv[2]) : 10;
    long m_ok = 0, m_eintr = 0, m_nodelay = 0, m_refused = 0, fails = 0;
    char first[200] = "";
    if (rounds < 1 || watchdog_seconds < 1)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    int fds_before = count_fds();

    /* Only the main thread takes SIGALRM: block it before the helper threads start. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_t wd, acc;
    pthread_create(&wd, NULL, watchdog, NULL);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int rfd = socket(AF_INET, SOCK_STREAM, 0);
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
    pthread_create(&acc, NULL, acceptor, &lfd);

    struct sigaction sa = { .sa_handler = on_alarm }; /* no SA_RESTART: EINTR is possible */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = { { 0, 300 }, { 0, 300 } };
    setitimer(ITIMER_REAL, &it, NULL);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);

    for (int i = 0; i < rounds; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0), one = 0, r;
        socklen_t ol = sizeof one;
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            if (!fails++)
                snprintf(first, sizeof first, "socket: %s", strerror(errno));
            continue;
        }
        if (i % 16 == 0) { /* the handler must not leak its errno into ours */
            errno = 0;
            r = connect(fd, (struct sockaddr *)&refused_addr, sizeof refused_addr);
            if (r == 0 || (errno != ECONNREFUSED && errno != EINTR)) {
                if (!fails++)
                    snprintf(first, sizeof first, "refused connect: r=%d %s", r,
                             strerror(errno));
            } else if (errno == ECONNREFUSED) {
                m_refused++;
            }
            close(fd);
            continue;
        }
        errno = SENTINEL;
        r = connect(fd, (struct sockaddr *)&listen_addr, sizeof listen_addr);
        if (r == 0 && errno != SENTINEL) {
            if (!fails++)
                snprintf(first, sizeof first, "connect succeeded but errno became %d", errno);
        } else if (r == 0) {
            m_ok++;
            if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, &ol) == 0 && one)
                m_nodelay++;
            struct linger lg = { 1, 0 };
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        } else if (errno == EINTR) {
            m_eintr++;
        } else if (!fails++) {
            snprintf(first, sizeof first, "connect: %s", strerror(errno));
        }
        errno = SENTINEL;
        if (close(fd) != 0 && errno != EINTR) {
            if (!fails++)
                snprintf(first, sizeof first, "close: %s", strerror(errno));
        } else if (errno != SENTINEL && errno != EINTR && !fails++) {
            snprintf(first, sizeof first, "close succeeded but errno became %d", errno);
        }
    }
    struct itimerval off = { { 0, 0 }, { 0, 0 } };
    setitimer(ITIMER_REAL, &off, NULL);
    atomic_store(&stop_accept, 1);
    pthread_join(acc, NULL);
    close(lfd);
    close(rfd);
    int fds_after = count_fds();

    printf("# rounds=%d main_connects=%ld main_eintr=%ld main_refused=%ld main_nodelay=%ld\n",
           rounds, m_ok, m_eintr, m_refused, m_nodelay);
    printf("# handler_runs=%d handler_connects=%d handler_nodelay=%d handler_errors=%d\n",
           (int)h_runs, (int)h_ok, (int)h_nodelay, (int)h_err);
    printf("# fds before=%d after=%d\n", fds_before, fds_after);
    if (fails) {
        printf("FAIL: %ld failures; first: %s\n", fails, first);
        return 1;
    }
    if (h_err) {
        printf("FAIL: %d errors in the handler; last errno %d (%s)\n", (int)h_err,
               (int)h_errno_seen, strerror(h_errno_seen));
        return 1;
    }
    if (h_runs < 10) {
        printf("FAIL: the handler ran only %d times\n", (int)h_runs);
        return 1;
    }
    if (fds_after != fds_before) {
        printf("FAIL: descriptors leaked: %d before, %d after\n", fds_before, fds_after);
        return 1;
    }
    printf("PASS\n");
    return 0;
}
