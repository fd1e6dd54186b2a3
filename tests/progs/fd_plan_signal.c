/* fd_plan_signal: a plain program whose main thread connects UDP sockets to 127.0.0.1:MAIN in
 * a loop while a SIGALRM timer (every 50 us) runs a handler that connects UDP sockets to
 * 127.0.0.1:HANDLER. The policy forces SO_REUSEADDR, SO_REUSEPORT and SO_MARK on both, the
 * mark differing per port; the hook works out the setsockopt calls for a rule once per
 * thread and keeps them: a handler's connect lands while the main thread is going through
 * its calls. Each socket is read back after its connect.
 *   fd_plan_signal MAIN HANDLER MAIN_MARK HANDLER_MARK [SECONDS]   default 2 s, 100,000
 *                                                                   handler calls at most
 * Prints "main=N main_wrong=N handler=N handler_wrong=N": sockets whose SO_MARK is not their
 * own port's (SO_MARK needs CAP_NET_ADMIN). Exit 0, or 2 when the setup failed. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in hdst;
static int hmark;
static volatile sig_atomic_t hcalls, hwrong;
static double end_at;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int mark_of(int fd)
{
    int v = -1;
    socklen_t l = sizeof v;
    getsockopt(fd, SOL_SOCKET, SO_MARK, &v, &l);
    return v;
}

static void on_alarm(int sig)
{
    (void)sig;
    int saved = errno;
    if (hcalls < 100000 && now() < end_at) {
        int s = socket(AF_INET, SOCK_DGRAM, 0);
        if (s >= 0) {
            hcalls++;
            if (connect(s, (struct sockaddr *)&hdst, sizeof hdst) != 0 || mark_of(s) != hmark)
                hwrong++;
            close(s);
        }
    }
    errno = saved;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: fd_plan_signal MAIN HANDLER MAIN_MARK HANDLER_MARK [SECONDS]\n");
        return 2;
    }
    struct sockaddr_in mdst = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])) };
    mdst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    hdst = mdst;
    hdst.sin_port = htons((uint16_t)atoi(argv[2]));
    int mmark = (int)strtol(argv[3], NULL, 0);
    hmark = (int)strtol(argv[4], NULL, 0);
    double seconds = argc > 5 ? atof(argv[5]) : 2.0;
    /* The policy loads at the first call, before any signal. */
    int s0 = socket(AF_INET, SOCK_DGRAM, 0);
    if (s0 < 0)
        return 2;
    close(s0);
    end_at = now() + seconds;
    struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = { { 0, 50 }, { 0, 50 } };
    setitimer(ITIMER_REAL, &it, NULL);
    long mcalls = 0, mwrong = 0;
    while (now() < end_at) {
        int s = socket(AF_INET, SOCK_DGRAM, 0);
        if (s < 0)
            continue;
        mcalls++;
        int r;
        while ((r = connect(s, (struct sockaddr *)&mdst, sizeof mdst)) != 0 && errno == EINTR)
            ;
        if (r != 0 || mark_of(s) != mmark)
            mwrong++;
        close(s);
    }
    struct itimerval off = { { 0, 0 }, { 0, 0 } };
    setitimer(ITIMER_REAL, &off, NULL);
    printf("main=%ld main_wrong=%ld handler=%ld handler_wrong=%ld\n", mcalls, mwrong, (long)hcalls,
           (long)hwrong);
    return 0;
}
