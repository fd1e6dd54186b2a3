/* fd_memo_signal: a plain program whose main thread connects a UDP socket in a tight loop,
 * alternately to ALLOWED and to OTHER (which the policy denies with ECONNABORTED: no system
 * call, so the loop spends its time deciding), while a SIGALRM timer (every 30 us) runs a
 * handler that connects a TCP socket to DENIED, which the policy denies with EPERM. A hook
 * remembers its last decision per thread: the handler's calls land between the main thread's
 * reading and writing of it.
 *   fd_memo_signal ALLOWED OTHER DENIED [CALLS [SECONDS]]   defaults 100000 handler calls,
 *                                                            3 s
 * The program listens on DENIED itself (backlog 4096) and counts what reached it at the end.
 * Prints "handler_calls=N handler_denied=N handler_other=N main_calls=N main_failed=N
 * arrived=N"; handler_other counts the handler's connects that did not fail with EPERM,
 * main_failed the main thread's that did not get what the policy says. Exit 0, or 2
 * when the setup failed. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in denied;
static volatile sig_atomic_t calls, refused, other;
static int hs = -1;
static long max_calls = 100000;
static double end_at; /* CLOCK_MONOTONIC seconds: the handler does nothing after it */

static struct sockaddr_in lo(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static void on_alarm(int sig)
{
    (void)sig;
    int saved = errno;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (calls >= max_calls || (double)ts.tv_sec + ts.tv_nsec / 1e9 > end_at) {
        errno = saved;
        return;
    }
    calls++;
    if (hs < 0)
        hs = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (hs >= 0) {
        int r = connect(hs, (struct sockaddr *)&denied, sizeof denied);
        if (r == 0 || errno != EPERM) {
            other++;
            if (r == 0 || errno == EINPROGRESS) {
                close(hs); /* it went somewhere: a fresh socket for the next call */
                hs = -1;
            }
        } else {
            refused++;
        }
    }
    errno = saved;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: fd_memo_signal ALLOWED OTHER DENIED [CALLS [SECONDS]]\n");
        return 2;
    }
    struct sockaddr_in a1 = lo(atoi(argv[1])), a2 = lo(atoi(argv[2]));
    denied = lo(atoi(argv[3]));
    if (argc > 4)
        max_calls = atol(argv[4]);
    double seconds = argc > 5 ? atof(argv[5]) : 3.0;
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ls < 0 || bind(ls, (struct sockaddr *)&denied, sizeof denied) != 0 || listen(ls, 4096) != 0) {
        printf("setup failed: listener: %s\n", strerror(errno));
        return 2;
    }
    int us = socket(AF_INET, SOCK_DGRAM, 0);
    if (us < 0)
        return 2;
    /* The policy loads at the first call, before any signal. */
    connect(us, (struct sockaddr *)&a1, sizeof a1);
    double end = now() + seconds;
    end_at = end;
    struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = { { 0, 30 }, { 0, 30 } };
    setitimer(ITIMER_REAL, &it, NULL);
    long main_calls = 0, main_failed = 0;
    while (calls < max_calls && (main_calls & 1023 || now() < end)) {
        int r = connect(us, (struct sockaddr *)(main_calls & 1 ? &a1 : &a2), sizeof a1);
        if (main_calls & 1 ? r != 0 && errno != EINTR : r == 0 || errno != ECONNABORTED)
            main_failed++; /* not what the policy says for this address */
        main_calls++;
    }
    struct itimerval off = { { 0, 0 }, { 0, 0 } };
    setitimer(ITIMER_REAL, &off, NULL);
    fcntl(ls, F_SETFL, fcntl(ls, F_GETFL) | O_NONBLOCK);
    long arrived = 0;
    for (int c; (c = accept(ls, NULL, NULL)) >= 0; arrived++)
        close(c);
    printf("handler_calls=%ld handler_denied=%ld handler_other=%ld main_calls=%ld "
           "main_failed=%ld arrived=%ld\n",
           (long)calls, (long)refused, (long)other, main_calls, main_failed, arrived);
    return 0;
}
