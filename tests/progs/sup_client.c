/* sup_client: a plain TCP client (it knows nothing of sockpolicy) for tests/supervise_*.t.
 * Built as usual and, by the tests, with -static. One thing per run:
 *   sup_client connect HOST PORT [raw] [hold MS]
 *       one connect (raw: syscall(SYS_connect)); prints "connect=0 keepalive=K idle=I
 *       intvl=V cnt=C nodelay=N" read back from the kernel, or "connect=-1 errno=NAME";
 *       with hold, keeps the connection open MS milliseconds (for ss -tie)
 *   sup_client nonblock HOST PORT [raw]
 *       a non-blocking connect, poll, then getsockopt(SO_ERROR): "connect=-1 errno=EINPROGRESS
 *       so_error=NAME" (raw: both through syscall())
 *   sup_client loop HOST PORT COUNT INTERVAL_MS
 *       COUNT connects, one line each: "I connect=0" or "I connect=-1 errno=NAME"
 *   sup_client threads HOST PORT THREADS COUNT
 *       THREADS threads x COUNT blocking connects; "ok=N failed=M"
 *   sup_client toctou HOST GOODPORT BADPORT SECONDS
 *       one thread flips a shared sockaddr's port between GOODPORT and BADPORT while another
 *       connects with it in a loop: "ok=N refused=M other=K"
 *   sup_client server PORTFILE COUNT [raw] [nonblock]
 *       listens on 127.0.0.1 (a free port, written to PORTFILE), then COUNT accept4(...,
 *       SOCK_CLOEXEC) calls (raw: through syscall(); nonblock: on a non-blocking listener,
 *       waiting with poll), one line each: "accept=ok keepalive=K idle=I nodelay=N cloexec=C
 *       peer=ADDR" or "accept=-1 errno=NAME"
 *   sup_client churn N
 *       a thread accepts (and closes) on 127.0.0.1 while the main thread connects N times, with
 *       stdin closed so that both take the lowest descriptors: "made=N accepted=M bad=K" (bad:
 *       an accepted descriptor that was not the accepted socket, or a connect that failed)
 *   sup_client intr
 *       a blocking connect to a listener whose backlog is full, interrupted after 300 ms by
 *       SIGALRM (handler without SA_RESTART): "connect=-1 errno=NAME"
 *   sup_client stall
 *       the same without the alarm (for connect-timeout): "connect=-1 errno=NAME waited=MS"
 *       with MS rounded down to 100 ms (gives up after 3 s: "connect=-1 errno=EINTR")
 *   sup_client timed HOST PORT
 *       one connect: "connect=0 waited=MS" or "connect=-1 errno=NAME waited=MS", MS rounded
 *       down to 100 ms (for delay rules)
 *   sup_client jam HOST PORT
 *       three threads block in connects to a loopback listener whose backlog is full (they
 *       never end), then the main thread makes the timed connect to HOST PORT and exits */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *ename(int e)
{
    const char *n = e ? strerrorname_np(e) : "0";
    return n ? n : "?";
}

static int geti(int fd, int level, int name)
{
    int v = -1;
    socklen_t l = sizeof v;
    return getsockopt(fd, level, name, &v, &l) == 0 ? v : -1;
}

static struct sockaddr_in addr_of(const char *host, const char *port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };
    inet_pton(AF_INET, host, &sin.sin_addr);
    return sin;
}

static int one_connect(const struct sockaddr_in *sin, int raw, int *fdp)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    int r = raw ? (int)syscall(SYS_connect, fd, sin, sizeof *sin)
                : connect(fd, (const struct sockaddr *)sin, sizeof *sin);
    int err = r == 0 ? 0 : errno;
    if (fdp && r == 0)
        *fdp = fd;
    else
        close(fd);
    return err;
}

static int cmd_connect(int argc, char **argv)
{
    struct sockaddr_in sin = addr_of(argv[2], argv[3]);
    int raw = 0, hold = 0, fd = -1;
    for (int i = 4; i < argc; i++) {
        if (!strcmp(argv[i], "raw"))
            raw = 1;
        else if (!strcmp(argv[i], "hold") && i + 1 < argc)
            hold = atoi(argv[++i]);
    }
    int err = one_connect(&sin, raw, &fd);
    if (err) {
        printf("connect=-1 errno=%s\n", ename(err));
        return 0;
    }
    printf("connect=0 keepalive=%d idle=%d intvl=%d cnt=%d nodelay=%d\n",
           geti(fd, SOL_SOCKET, SO_KEEPALIVE), geti(fd, IPPROTO_TCP, TCP_KEEPIDLE),
           geti(fd, IPPROTO_TCP, TCP_KEEPINTVL), geti(fd, IPPROTO_TCP, TCP_KEEPCNT),
           geti(fd, IPPROTO_TCP, TCP_NODELAY));
    fflush(stdout);
    if (hold)
        usleep((useconds_t)hold * 1000);
    close(fd);
    return 0;
}

static int cmd_nonblock(int argc, char **argv)
{
    struct sockaddr_in sin = addr_of(argv[2], argv[3]);
    int raw = argc > 4 && !strcmp(argv[4], "raw");
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int r = raw ? (int)syscall(SYS_connect, fd, &sin, sizeof sin)
                : connect(fd, (const struct sockaddr *)&sin, sizeof sin);
    int err = r == 0 ? 0 : errno;
    printf("connect=%d errno=%s", r, ename(err));
    if (err == EINPROGRESS) {
        struct pollfd p = { fd, POLLOUT, 0 };
        poll(&p, 1, 5000);
        int v = -1;
        socklen_t l = sizeof v;
        if (raw)
            syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_ERROR, &v, &l);
        else
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &v, &l);
        printf(" so_error=%s", ename(v));
    }
    printf("\n");
    close(fd);
    return 0;
}

static int cmd_loop(char **argv)
{
    struct sockaddr_in sin = addr_of(argv[2], argv[3]);
    int n = atoi(argv[4]), ms = atoi(argv[5]);
    for (int i = 0; i < n; i++) {
        int err = one_connect(&sin, 0, NULL);
        if (err)
            printf("%d connect=-1 errno=%s\n", i, ename(err));
        else
            printf("%d connect=0\n", i);
        fflush(stdout);
        usleep((useconds_t)ms * 1000);
    }
    return 0;
}

static struct sockaddr_in t_sin;
static int t_count;
static _Atomic int t_ok, t_failed;

static void *thread_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < t_count; i++) {
        if (one_connect(&t_sin, 0, NULL) == 0)
            atomic_fetch_add(&t_ok, 1);
        else
            atomic_fetch_add(&t_failed, 1);
    }
    return NULL;
}

static int cmd_threads(char **argv)
{
    t_sin = addr_of(argv[2], argv[3]);
    int n = atoi(argv[4]);
    t_count = atoi(argv[5]);
    pthread_t t[256];
    if (n > 256)
        n = 256;
    for (int i = 0; i < n; i++)
        pthread_create(&t[i], NULL, thread_main, NULL);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    printf("ok=%d failed=%d\n", atomic_load(&t_ok), atomic_load(&t_failed));
    return 0;
}

/* The address both threads share: the flipper writes its port, the connector passes it. */
static struct sockaddr_in shared;
static _Atomic int stop;
static uint16_t good, bad;

static void *flipper(void *arg)
{
    (void)arg;
    volatile uint16_t *port = &shared.sin_port;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        *port = bad;
        *port = good;
    }
    return NULL;
}

static int cmd_toctou(char **argv)
{
    shared = addr_of(argv[2], argv[3]);
    good = htons((uint16_t)atoi(argv[3]));
    bad = htons((uint16_t)atoi(argv[4]));
    int secs = atoi(argv[5]);
    pthread_t t;
    pthread_create(&t, NULL, flipper, NULL);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    long ok = 0, refused = 0, other = 0;
    do {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int r = connect(fd, (const struct sockaddr *)&shared, sizeof shared);
        if (r == 0)
            ok++;
        else if (errno == ECONNREFUSED || errno == EACCES)
            refused++;
        else
            other++;
        close(fd);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (now.tv_sec - start.tv_sec < secs);
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    printf("ok=%ld refused=%ld other=%ld\n", ok, refused, other);
    return 0;
}

static int cmd_server(int argc, char **argv)
{
    int raw = 0, nonblock = 0;
    for (int i = 4; i < argc; i++) {
        raw |= !strcmp(argv[i], "raw");
        nonblock |= !strcmp(argv[i], "nonblock");
    }
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof sin;
    if (bind(l, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(l, 64) != 0) {
        printf("listen=-1 errno=%s\n", ename(errno));
        return 1;
    }
    getsockname(l, (struct sockaddr *)&sin, &len);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[2]);
    FILE *f = fopen(tmp, "w");
    fprintf(f, "%d\n", ntohs(sin.sin_port));
    fclose(f);
    rename(tmp, argv[2]);
    for (int i = 0, n = atoi(argv[3]); i < n; i++) {
        struct sockaddr_in peer;
        socklen_t plen = sizeof peer;
        if (nonblock) {
            struct pollfd p = { l, POLLIN, 0 };
            poll(&p, 1, 10000);
        }
        int fd = raw ? (int)syscall(SYS_accept4, l, &peer, &plen, SOCK_CLOEXEC)
                     : accept4(l, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
        if (fd < 0) {
            printf("accept=-1 errno=%s\n", ename(errno));
            continue;
        }
        char a[64];
        inet_ntop(AF_INET, &peer.sin_addr, a, sizeof a);
        printf("accept=ok keepalive=%d idle=%d nodelay=%d cloexec=%d peer=%s plen=%u\n",
               geti(fd, SOL_SOCKET, SO_KEEPALIVE), geti(fd, IPPROTO_TCP, TCP_KEEPIDLE),
               geti(fd, IPPROTO_TCP, TCP_NODELAY), (fcntl(fd, F_GETFD) & FD_CLOEXEC) ? 1 : 0, a,
               (unsigned)plen);
        close(fd);
    }
    return 0;
}

static int churn_l;
static _Atomic long churn_accepted, churn_bad;

static void *churn_server(void *arg)
{
    long n = (long)arg;
    for (long i = 0; i < n; i++) {
        int fd = accept4(churn_l, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            atomic_fetch_add(&churn_bad, 1);
            continue;
        }
        /* the accepted socket has the listener's port (the peer may have reset it already) */
        struct sockaddr_in me, l;
        socklen_t mlen = sizeof me, llen = sizeof l;
        if (getsockname(fd, (struct sockaddr *)&me, &mlen) != 0 ||
            getsockname(churn_l, (struct sockaddr *)&l, &llen) != 0 || me.sin_port != l.sin_port)
            atomic_fetch_add(&churn_bad, 1);
        atomic_fetch_add(&churn_accepted, 1);
        close(fd);
    }
    return NULL;
}

static int cmd_churn(char **argv)
{
    long n = atol(argv[2]), made = 0, bad = 0;
    close(0);
    churn_l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof sin;
    bind(churn_l, (struct sockaddr *)&sin, sizeof sin);
    listen(churn_l, 128);
    getsockname(churn_l, (struct sockaddr *)&sin, &len);
    pthread_t t;
    pthread_create(&t, NULL, churn_server, (void *)n);
    for (long i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct linger lg = { 1, 0 };
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0)
            made++;
        else
            bad++;
        close(fd);
    }
    pthread_join(t, NULL);
    printf("made=%ld accepted=%ld bad=%ld\n", made, atomic_load(&churn_accepted),
           bad + atomic_load(&churn_bad));
    return 0;
}

static void on_alarm(int sig)
{
    (void)sig;
}

/* A loopback listener whose backlog is full: the kernel drops further SYNs, so a connect to
 * it waits. */
static struct sockaddr_in full_listener(void)
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof sin;
    bind(l, (struct sockaddr *)&sin, sizeof sin);
    listen(l, 0);
    getsockname(l, (struct sockaddr *)&sin, &len);
    for (int i = 0; i < 4; i++) {
        int f = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        connect(f, (struct sockaddr *)&sin, sizeof sin);
    }
    usleep(100000);
    return sin;
}

static int cmd_intr(int stall)
{
    struct sockaddr_in sin = full_listener();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART */
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = { { 0, 0 }, { stall ? 3 : 0, stall ? 0 : 300000 } };
    setitimer(ITIMER_REAL, &it, NULL);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int r = connect(fd, (struct sockaddr *)&sin, sizeof sin);
    int err = r == 0 ? 0 : errno;
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    if (stall)
        printf("connect=%d errno=%s waited=%ld\n", r, ename(err), ms / 100 * 100);
    else
        printf("connect=%d errno=%s waited=%s\n", r, ename(err), ms >= 250 && ms < 1500 ? "about-300ms" : "other");
    return 0;
}

/* One connect to sin, timed: "connect=0 waited=MS" or "connect=-1 errno=NAME waited=MS". */
static int cmd_timed(const struct sockaddr_in *sin)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int err = one_connect(sin, 0, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    if (err)
        printf("connect=-1 errno=%s waited=%ld\n", ename(err), ms / 100 * 100);
    else
        printf("connect=0 waited=%ld\n", ms / 100 * 100);
    return 0;
}

static struct sockaddr_in jam_sin;

static void *jam_main(void *arg)
{
    (void)arg;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    connect(fd, (struct sockaddr *)&jam_sin, sizeof jam_sin); /* waits: nobody accepts */
    return NULL;
}

static int cmd_jam(char **argv)
{
    jam_sin = full_listener();
    for (int i = 0; i < 3; i++) {
        pthread_t t;
        pthread_create(&t, NULL, jam_main, NULL);
    }
    usleep(200000);
    struct sockaddr_in sin = addr_of(argv[2], argv[3]);
    cmd_timed(&sin);
    _exit(0); /* the three connects still wait */
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 4 && !strcmp(argv[1], "connect"))
        return cmd_connect(argc, argv);
    if (argc >= 4 && !strcmp(argv[1], "nonblock"))
        return cmd_nonblock(argc, argv);
    if (argc >= 6 && !strcmp(argv[1], "loop"))
        return cmd_loop(argv);
    if (argc >= 6 && !strcmp(argv[1], "threads"))
        return cmd_threads(argv);
    if (argc >= 6 && !strcmp(argv[1], "toctou"))
        return cmd_toctou(argv);
    if (argc >= 3 && !strcmp(argv[1], "churn"))
        return cmd_churn(argv);
    if (argc >= 4 && !strcmp(argv[1], "server"))
        return cmd_server(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "intr"))
        return cmd_intr(0);
    if (argc >= 2 && !strcmp(argv[1], "stall"))
        return cmd_intr(1);
    if (argc >= 4 && !strcmp(argv[1], "timed")) {
        struct sockaddr_in sin = addr_of(argv[2], argv[3]);
        return cmd_timed(&sin);
    }
    if (argc >= 4 && !strcmp(argv[1], "jam"))
        return cmd_jam(argv);
    fprintf(stderr, "usage: see tests/progs/sup_client.c\n");
    return 2;
}
