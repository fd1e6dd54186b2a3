/* tests/bench/churn.c: connection churn on loopback, written as any program would be (it calls
 * nothing of ours), for issue 7's benchmarks. A server thread accepts and closes; the client
 * loop is socket, connect, close with SO_LINGER 0 (an RST, so TIME_WAIT never runs out).
 *
 *   churn [-n N] [-s connect|both] [-m] [-H K] [-V]
 *     -n N   iterations (default 20000)
 *     -s     the program sets keepalive 60/10/5 and nodelay itself: on the client socket
 *            (connect) or on the client and the accepted socket (both): the floor
 *     -m     after the loop, print VmRSS/Pss of this process (from /proc/self/smaps_rollup)
 *     -H K   after the loop, hold K connected client sockets open, then print memory
 *     -V     verify: read back, with getsockopt, the options of the first client and accepted
 *            socket and print them (to check that a policy really forced them)
 * Prints one line of key=value pairs; exits 1 when the server did not see N connections. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum self_mode { SELF_NONE, SELF_CONNECT, SELF_BOTH };

struct opts_seen {
    int keepalive, idle, intvl, cnt, nodelay;
};

static long n_iter = 20000;
static enum self_mode self_mode = SELF_NONE;
static int verify;
static int listen_fd;
static long accepted;
static struct opts_seen seen_client, seen_accepted;

static void die(const char *what)
{
    fprintf(stderr, "churn: %s: %s\n", what, strerror(errno));
    exit(2);
}

/* What the program would write itself to get keepalive(3) and nodelay. */
static void set_opts(int fd)
{
    int on = 1, idle = 60, intvl = 10, cnt = 5;

    if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) < 0)
        die("setsockopt");
}

static void read_opts(int fd, struct opts_seen *s)
{
    socklen_t len = sizeof(int);

    getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &s->keepalive, &len);
    len = sizeof(int);
    getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &s->idle, &len);
    len = sizeof(int);
    getsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &s->intvl, &len);
    len = sizeof(int);
    getsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &s->cnt, &len);
    len = sizeof(int);
    getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &s->nodelay, &len);
}

/* Accepts until it has seen n_iter connections, or until accept times out (SO_RCVTIMEO on
 * the listener): the count then tells the client loop that something went wrong. */
static void *server(void *arg)
{
    (void)arg;
    while (accepted < n_iter) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break;
        }
        if (self_mode == SELF_BOTH)
            set_opts(fd);
        if (verify && accepted == 0)
            read_opts(fd, &seen_accepted);
        close(fd);
        accepted++;
    }
    return NULL;
}

static int client_connect(const struct sockaddr_in *sin, int first)
{
    static const struct linger lin = { .l_onoff = 1, .l_linger = 0 };
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        die("socket");
    if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, sizeof lin) < 0)
        die("setsockopt SO_LINGER");
    if (self_mode != SELF_NONE)
        set_opts(fd);
    if (connect(fd, (const struct sockaddr *)sin, sizeof *sin) < 0)
        die("connect");
    if (verify && first)
        read_opts(fd, &seen_client);
    return fd;
}

/* The loop being measured; noinline so callgrind's --toggle-collect can find it. */
__attribute__((noinline)) static void client_loop(const struct sockaddr_in *sin)
{
    for (long i = 0; i < n_iter; i++)
        close(client_connect(sin, i == 0));
}

static void print_memory(void)
{
    char line[256];
    FILE *f = fopen("/proc/self/smaps_rollup", "r");

    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        long kb;
        if (sscanf(line, "Rss: %ld kB", &kb) == 1)
            printf(" rss_kb=%ld", kb);
        else if (sscanf(line, "Pss: %ld kB", &kb) == 1)
            printf(" pss_kb=%ld", kb);
        else if (sscanf(line, "Private_Dirty: %ld kB", &kb) == 1)
            printf(" private_dirty_kb=%ld", kb);
        else if (sscanf(line, "Anonymous: %ld kB", &kb) == 1)
            printf(" anon_kb=%ld", kb);
    }
    fclose(f);
}

static void print_opts(const char *who, const struct opts_seen *s)
{
    printf(" %s=%d/%d/%d/%d/%d", who, s->keepalive, s->idle, s->intvl, s->cnt, s->nodelay);
}

int main(int argc, char **argv)
{
    struct sockaddr_in sin = { .sin_family = AF_INET };
    socklen_t len = sizeof sin;
    struct timeval tmo = { .tv_sec = 3 };
    struct timespec t0, t1;
    long hold = -1;
    int memory = 0, c;
    pthread_t th;

    while ((c = getopt(argc, argv, "n:s:mH:V")) != -1) {
        switch (c) {
        case 'n': n_iter = strtol(optarg, NULL, 10); break;
        case 's': self_mode = strcmp(optarg, "both") == 0 ? SELF_BOTH : SELF_CONNECT; break;
        case 'm': memory = 1; break;
        case 'H': hold = strtol(optarg, NULL, 10); break;
        case 'V': verify = 1; break;
        default:
            fprintf(stderr, "usage: churn [-n N] [-s connect|both] [-m] [-H K] [-V]\n");
            return 2;
        }
    }
    if (n_iter < 1)
        n_iter = 1;

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (listen_fd < 0)
        die("socket");
    if (bind(listen_fd, (struct sockaddr *)&sin, sizeof sin) < 0)
        die("bind");
    if (listen(listen_fd, 4096) < 0)
        die("listen");
    if (getsockname(listen_fd, (struct sockaddr *)&sin, &len) < 0)
        die("getsockname");
    if (setsockopt(listen_fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof tmo) < 0)
        die("setsockopt SO_RCVTIMEO");
    if (pthread_create(&th, NULL, server, NULL) != 0)
        die("pthread_create");

    clock_gettime(CLOCK_MONOTONIC, &t0);
    client_loop(&sin);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pthread_join(th, NULL);

    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("iters=%ld accepted=%ld secs=%.6f ips=%.1f", n_iter, accepted, secs,
           (double)n_iter / secs);
    if (verify) {
        print_opts("client", &seen_client);
        print_opts("accepted", &seen_accepted);
    }
    if (memory)
        print_memory();
    if (hold >= 0) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)hold + 64) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
        /* The listener's backlog keeps them; nobody accepts any more. */
        for (long i = 0; i < hold; i++)
            client_connect(&sin, 0);
        printf(" held=%ld", hold);
        print_memory();
    }
    printf("\n");
    return accepted == n_iter ? 0 : 1;
}
