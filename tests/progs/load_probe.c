/* tests/progs/load_probe.c: a plain program for the policy-loading tests (shim_load_*.t). It
 * connects to 127.0.0.1:PORT in situations that stress the moment the shim loads its policy,
 * and prints one "name=outcome" line per connect ("0", or the errno's name).
 *
 *   load_probe connect PORT            one connect
 *   load_probe emfile PORT MS          the first socket call made with no descriptor free,
 *                                      then connects for MS milliseconds (counts)
 *   load_probe threads PORT            the first load slowed (see open below) in one thread:
 *                                      another thread connects meanwhile, and a signal
 *                                      handler connects in the loading thread itself
 *   load_probe cancel PORT             the loading thread is cancelled in the load
 *   load_probe longjmp PORT            a signal handler siglongjmps out of the load
 *   load_probe loop PORT MS            connects every 5 ms for MS milliseconds (counts)
 *   load_probe chdir DIR PORT MS       connect, chdir(DIR), then connects for MS ms (counts)
 *   load_probe reloadcancel PORT DIR   a thread that connects in a loop is cancelled while it
 *                                      reloads (the test edits the policy; see its .t)
 *   load_probe emfile_reload PORT DIR MS  the policy changes while no descriptor is free
 *   load_probe timeline PORT MS        connects every 5 ms for MS ms: "at=EPOCH_MS r=OUTCOME"
 *
 * open() below is the program's own, as any program may have one: when LOAD_SLOW_MS is set,
 * opening a file whose name contains "slow" takes that long (the shim's loader calls it). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* A thread cancelled in a frame AddressSanitizer instrumented leaves that frame's stack
 * poisoned, and ASan then reports its own thread teardown (a known false positive): the
 * program's own frames a cancelled thread can be in are not instrumented (the hooks' are:
 * shim_load_wait.t skips its cancelled-reload case under SANITIZE=1). */
#define NO_ASAN __attribute__((no_sanitize_address))

NO_ASAN int open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    const char *slow = getenv("LOAD_SLOW_MS");
    if (slow && strstr(path, "slow")) {
        long ms = atol(slow);
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ; /* a cancellation point, as the real open is */
    }
    return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

static int port;

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *ename(int e)
{
    const char *n = e ? strerrorname_np(e) : "0";
    return n ? n : "?";
}

/* One connect: 0, or the errno. */
NO_ASAN static int try_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return errno;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int r = connect(fd, (struct sockaddr *)&a, sizeof a) == 0 ? 0 : errno;
    close(fd);
    return r;
}

NO_ASAN static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Connects every 5 ms for ms milliseconds: how many passed and failed, and the last outcome. */
static void loop(const char *name, long ms)
{
    long end = now_ms() + ms, passed = 0, failed = 0;
    int last = -1;
    while (now_ms() < end) {
        last = try_connect();
        last ? failed++ : passed++;
        sleep_ms(5);
    }
    printf("%s.passed=%ld\n%s.failed=%ld\n%s.last=%s\n", name, passed, name, failed, name,
           last < 0 ? "none" : ename(last));
}

static int exists(const char *dir, const char *name)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

/* Waits (60 s at most) for DIR/NAME, making no socket call meanwhile. */
static int wait_for(const char *dir, const char *name)
{
    for (int i = 0; i < 6000; i++) {
        if (exists(dir, name))
            return 0;
        sleep_ms(10);
    }
    return -1;
}

NO_ASAN static void *connect_forever(void *arg)
{
    (void)arg;
    for (;;) {
        try_connect();
        sleep_ms(5);
    }
    return NULL;
}

static long epoch_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static volatile int handler_result = -1;
static void on_usr1(int sig)
{
    (void)sig;
    int saved = errno;
    handler_result = try_connect();
    errno = saved;
}

static int other_result = -1;
static long other_ms;
static void *other_thread(void *arg)
{
    (void)arg;
    sleep_ms(300); /* the main thread is in the load by now */
    long t0 = now_ms();
    other_result = try_connect();
    other_ms = now_ms() - t0;
    return NULL;
}

struct kick {
    pthread_t target;
    int sig;
};
static void *kicker(void *arg)
{
    struct kick *k = arg;
    sleep_ms(300);
    pthread_kill(k->target, k->sig);
    return NULL;
}

static void *first_call(void *arg)
{
    (void)arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0); /* the load, in this thread */
    if (fd >= 0)
        close(fd);
    return NULL;
}

static sigjmp_buf jb;
static void on_alarm(int sig)
{
    (void)sig;
    siglongjmp(jb, 1);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: load_probe connect|emfile|threads|cancel|longjmp|loop|chdir ...\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *cmd = argv[1];
    if (!strcmp(cmd, "chdir")) {
        port = atoi(argv[3]);
        printf("before.connect=%s\n", ename(try_connect()));
        if (chdir(argv[2]) != 0)
            return 2;
        loop("after", atol(argv[4]));
        return 0;
    }
    port = atoi(argv[2]);
    if (!strcmp(cmd, "reloadcancel") && argc > 3) {
        printf("before.connect=%s\n", ename(try_connect()));
        pthread_t t;
        pthread_create(&t, NULL, connect_forever, NULL);
        if (wait_for(argv[3], "edited") != 0)
            return 2;
        sleep_ms(2000); /* the thread is in the (slowed) reload by now */
        pthread_cancel(t);
        pthread_join(t, NULL);
        printf("cancelled=yes\n");
        if (wait_for(argv[3], "edited-again") != 0)
            return 2;
        loop("after", 4000);
        return 0;
    }
    if (!strcmp(cmd, "emfile_reload") && argc > 4) {
        printf("before.connect=%s\n", ename(try_connect()));
        struct rlimit rl = { 64, 64 };
        setrlimit(RLIMIT_NOFILE, &rl);
        int fds[64], n = 0;
        while (n < 64 && (fds[n] = dup(0)) >= 0)
            n++;
        printf("full=yes\n");
        if (wait_for(argv[3], "edited") != 0)
            return 2;
        long end = now_ms() + 2500; /* socket calls (EMFILE) that make the shim look */
        while (now_ms() < end) {
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            if (fd >= 0)
                close(fd);
            sleep_ms(10);
        }
        while (n > 0)
            close(fds[--n]);
        loop("after", atol(argv[4]));
        return 0;
    }
    if (!strcmp(cmd, "timeline") && argc > 3) {
        long end = now_ms() + atol(argv[3]);
        while (now_ms() < end) {
            int r = try_connect();
            printf("at=%ld r=%s\n", epoch_ms(), ename(r));
            sleep_ms(5);
        }
        return 0;
    }
    if (!strcmp(cmd, "connect")) {
        long t0 = now_ms();
        int r = try_connect();
        long ms = now_ms() - t0;
        printf("connect=%s\n", ename(r));
        if (getenv("LOAD_TIME"))
            printf("connect_ms=%ld\n", ms);
        return r ? 1 : 0;
    }
    if (!strcmp(cmd, "loop")) {
        loop("loop", atol(argv[3]));
        return 0;
    }
    if (!strcmp(cmd, "emfile")) {
        struct rlimit rl = { 64, 64 };
        setrlimit(RLIMIT_NOFILE, &rl);
        int fds[64], n = 0;
        while (n < 64 && (fds[n] = dup(0)) >= 0)
            n++;
        int fd = socket(AF_INET, SOCK_STREAM, 0); /* the first socket call: no fd free */
        printf("first.socket=%s\n", fd < 0 ? ename(errno) : "0");
        while (n > 0)
            close(fds[--n]);
        loop("after", atol(argv[3]));
        return 0;
    }
    if (!strcmp(cmd, "threads")) {
        signal(SIGUSR1, on_usr1);
        pthread_t t, k;
        struct kick kk = { pthread_self(), SIGUSR1 };
        pthread_create(&t, NULL, other_thread, NULL);
        pthread_create(&k, NULL, kicker, &kk);
        long t0 = now_ms();
        int fd = socket(AF_INET, SOCK_STREAM, 0); /* the first load, slowed */
        long load_ms = now_ms() - t0;
        if (fd >= 0)
            close(fd);
        pthread_join(t, NULL);
        pthread_join(k, NULL);
        for (int i = 0; i < 200 && handler_result < 0; i++)
            sleep_ms(10);
        printf("load_ms=%ld\nother.connect=%s\nother.waited_ms=%ld\nhandler.connect=%s\n", load_ms,
               ename(other_result), other_ms, handler_result < 0 ? "none" : ename(handler_result));
        return 0;
    }
    if (!strcmp(cmd, "cancel")) {
        pthread_t t;
        pthread_create(&t, NULL, first_call, NULL);
        sleep_ms(300);
        pthread_cancel(t);
        pthread_join(t, NULL);
        long t0 = now_ms();
        int r = try_connect();
        printf("after_cancel.connect=%s\nafter_cancel.ms=%ld\n", ename(r), now_ms() - t0);
        return 0;
    }
    if (!strcmp(cmd, "longjmp")) {
        signal(SIGALRM, on_alarm);
        if (sigsetjmp(jb, 1) == 0) {
            struct itimerval it = { { 0, 0 }, { 0, 300000 } };
            setitimer(ITIMER_REAL, &it, NULL);
            int fd = socket(AF_INET, SOCK_STREAM, 0); /* the load, slowed */
            if (fd >= 0)
                close(fd);
            printf("jumped=no\n");
            pause(); /* the alarm comes after the load: jump from here */
        } else {
            printf("jumped=yes\n");
        }
        long t0 = now_ms();
        int r = try_connect();
        printf("after_jump.connect=%s\nafter_jump.ms=%ld\n", ename(r), now_ms() - t0);
        return 0;
    }
    return 2;
}
