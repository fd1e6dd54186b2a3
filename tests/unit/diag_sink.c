/* tests/unit/diag_sink.c: the sinks, read back from outside. A file sink follows rotation
 * (rename, then new lines land in a new file at the path) and a program that closed and
 * reused its descriptor; a stderr sink is never written into a reused fd 2; fake syslog and
 * journald sockets bound in a temp dir receive exactly the expected datagrams; sockets are
 * made, used and closed only through the ops table. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "diag.h"
#include "tap.h"

static int n_socket, n_sendto, n_close;
static int c_socket(int d, int t, int p)
{
    n_socket++;
    return socket(d, t, p);
}
static int c_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    return connect(fd, sa, len);
}
static ssize_t c_sendto(int fd, const void *b, size_t n, int fl, const struct sockaddr *sa,
                        socklen_t l)
{
    n_sendto++;
    return sendto(fd, b, n, fl, sa, l);
}
static int c_close(int fd)
{
    n_close++;
    return close(fd);
}
static const struct sp_diag_ops counting = {c_socket, c_connect, c_sendto, c_close, getsockopt};

static char dir[64];

static char *slurp(const char *path, char *buf, size_t cap)
{
    buf[0] = '\0';
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return buf;
    ssize_t n = read(fd, buf, cap - 1);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
    return buf;
}

/* Sleeps until CLOCK_MONOTONIC enters the next second: the rotation check runs once a second. */
static void next_second(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    /* Past the next second by 20 ms; tv_nsec must stay below 1e9 (nanosleep refuses it). */
    long ns = 1000000000L - ts.tv_nsec + 20000000L;
    struct timespec d = {ns / 1000000000L, ns % 1000000000L};
    while (nanosleep(&d, &d) != 0 && errno == EINTR)
        ;
}

static void test_file(void)
{
    char path[128], rotated[160], buf[4096];
    snprintf(path, sizeof path, "%s/sp.log", dir);
    snprintf(rotated, sizeof rotated, "%s/sp.log.1", dir);
    struct sp_sink s;
    is_int(sp_sink_file(&s, &counting, path), 0, "file sink opens %s", path);
    int fd = atomic_load(&s.fd);
    int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);
    ok(fd > 2 && (fl & O_APPEND) && (fl & O_ACCMODE) == O_WRONLY && (fdfl & FD_CLOEXEC),
       "its descriptor is > 2, O_WRONLY|O_APPEND, close-on-exec");
    errno = 1234;
    sp_sink_write(&s, "one\n", 4, NULL, LOG_INFO);
    is_int(errno, 1234, "write preserves errno");
    is_str(slurp(path, buf, sizeof buf), "one\n", "the line is in the file");

    rename(path, rotated);
    next_second();
    sp_sink_write(&s, "two\n", 4, NULL, LOG_INFO);
    is_str(slurp(path, buf, sizeof buf), "two\n", "after a rename, the next line lands in a new file at the path");
    is_str(slurp(rotated, buf, sizeof buf), "one\n", "the rotated file keeps only the old line");

    /* The program closes our descriptor and opens a file of its own that gets its number. */
    char theirs[128];
    snprintf(theirs, sizeof theirs, "%s/program.dat", dir);
    int ours = atomic_load(&s.fd);
    close(ours);
    int pfd = open(theirs, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (pfd != ours && pfd >= 0 && dup2(pfd, ours) == ours) { /* ours is high: take it */
        close(pfd);
        pfd = ours;
    }
    is_int(pfd, ours, "the program's new file reuses our descriptor number");
    sp_sink_write(&s, "three\n", 6, NULL, LOG_INFO);
    is_str(slurp(theirs, buf, sizeof buf), "", "nothing was written into the program's file");
    is_str(slurp(path, buf, sizeof buf), "two\nthree\n", "the line went to the log, reopened");
    ok(atomic_load(&s.fd) != pfd, "the sink moved to a new descriptor");
    close(pfd);
    sp_sink_close(&s);
}

static void test_stderr(void)
{
    int p[2];
    char buf[256];
    if (pipe(p) != 0) {
        skip("pipe failed");
        return;
    }
    int saved2 = dup(2);
    dup2(p[1], 2);
    close(p[1]);
    struct sp_sink s;
    int next = dup(0); /* the lowest free descriptor before the sink */
    close(next);
    is_int(sp_sink_stderr(&s, &counting), 0, "stderr sink on fd 2");
    int after = dup(0);
    close(after);
    ok(atomic_load(&s.fd) == 2 && after == next,
       "holds no descriptor of its own (next free stays %d)", next);
    sp_sink_write(&s, "to stderr\n", 10, NULL, LOG_INFO);
    /* The program closes fd 2 and opens a file there. */
    char theirs[128];
    snprintf(theirs, sizeof theirs, "%s/fd2.dat", dir);
    close(2);
    int f2 = open(theirs, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    is_int(sp_sink_write(&s, "lost\n", 5, NULL, LOG_INFO), -1, "fd 2 is another file now: dropped");
    dup2(saved2, 2);
    close(saved2);
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = '\0';
    is_str(buf, "to stderr\n", "the line reached stderr while it was the same file");
    is_str(slurp(theirs, buf, sizeof buf), "", "the file the program put on fd 2 got nothing");
    if (f2 >= 0 && f2 != 2)
        close(f2);
    sp_sink_close(&s);
    close(p[0]);
}

static int fake_server(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    strcpy(sun.sun_path, path);
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0)
        return -1;
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void test_syslog(void)
{
    char path[128], buf[8192];
    snprintf(path, sizeof path, "%s/log", dir);
    struct sp_sink s;
    n_socket = n_sendto = n_close = 0;
    is_int(sp_sink_syslog(&s, &counting, path, LOG_DAEMON, "sockpolicy"), 0,
           "syslog sink made while no daemon listens");
    errno = 77;
    is_int(sp_sink_write(&s, "lost\n", 5, NULL, LOG_ERR), -1, "no daemon: the line is dropped");
    ok(errno == 77 && atomic_load(&s.dropped) == 1, "errno preserved, one drop counted");
    int srv = fake_server(path);
    struct sp_event ev;
    sp_event_init(&ev, SP_OP_CONNECT, 4);
    ev.pid = 4321;
    sp_sink_write(&s, "sockpolicy[4321 x]: connect failed\n", 35, &ev, LOG_WARNING);
    ssize_t n = recv(srv, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    is_str(buf, "<28>sockpolicy[4321]: sockpolicy[4321 x]: connect failed",
           "fake /dev/log got exactly one RFC 3164 datagram: <daemon.warning>tag[pid]: msg");
    int fd = atomic_load(&s.fd);
    sp_sink_close(&s);
    /* two closes: the socket's first, low number once moved high, then the sink's own */
    ok(n_socket == 1 && n_sendto == 2 && n_close == 2 && fcntl(fd, F_GETFD) < 0,
       "socket, sendto and close went through the ops table (%d, %d, %d)", n_socket, n_sendto, n_close);
    close(srv);
}

static void test_journald(void)
{
    char path[128], buf[8192], want[1024];
    snprintf(path, sizeof path, "%s/journal.sock", dir);
    int srv = fake_server(path);
    struct sp_sink s;
    is_int(sp_sink_journald(&s, &counting, path, "sockpolicy"), 0, "journald sink");
    struct sp_event ev;
    sp_event_init(&ev, SP_OP_CONNECT, 5);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(80)};
    in.sin_addr.s_addr = htonl(0x0a090909);
    sp_event_set_addr(&ev, 1, (struct sockaddr *)&in, sizeof in);
    ev.type = SOCK_STREAM;
    ev.err = ECONNREFUSED;
    ev.duration_ns = 400000;
    struct sp_rule r = {.action = SP_ACT_SET, .file = "p.conf", .line = 12};
    ev.rule = &r;
    sp_sink_write(&s, "msg line\n", 9, &ev, LOG_WARNING);
    ssize_t n = recv(srv, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    snprintf(want, sizeof want,
             "MESSAGE=msg line\nPRIORITY=4\nSYSLOG_IDENTIFIER=sockpolicy\nSOCKPOLICY_OP=connect\n"
             "SOCKPOLICY_FD=5\nSOCKPOLICY_FAMILY=inet\nSOCKPOLICY_TYPE=stream\n"
             "SOCKPOLICY_RESULT=failed\nSOCKPOLICY_ERRNO=111\nSOCKPOLICY_ERRNO_NAME=ECONNREFUSED\n"
             "SOCKPOLICY_REMOTE_ADDR=10.9.9.9\nSOCKPOLICY_REMOTE_PORT=80\n"
             "SOCKPOLICY_DURATION_NS=400000\nSOCKPOLICY_RULE=p.conf:12\n");
    is_str(buf, want, "fake journald got exactly the native-protocol fields");
    sp_sink_close(&s);
    close(srv);

    /* A value with a newline uses the binary form: KEY\n, 64-bit LE length, bytes, \n. */
    size_t m = sp_journald_datagram(NULL, "a\nb", 3, LOG_INFO, "id", buf, sizeof buf);
    ok(m == 8 + 8 + 3 + 1 + 11 + 21 && memcmp(buf, "MESSAGE\n\3\0\0\0\0\0\0\0a\nb\n", 20) == 0,
       "a MESSAGE holding a newline uses the binary field form");
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/sp_diag_sink.XXXXXX");
    if (!mkdtemp(dir)) {
        plan(1);
        skip("mkdtemp failed");
        return 0;
    }
    test_file();
    test_stderr();
    test_syslog();
    test_journald();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
    return done_testing();
}
