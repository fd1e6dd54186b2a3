/* tests/unit/diag_emit.c: the pipeline the shim will call: level filter, rate limit with its
 * "suppressed" line, summary at exit, one line per event in the file. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "tap.h"

static char path[64], buf[65536];

static int count_lines(const char *needle)
{
    int fd = open(path, O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    int c = 0;
    for (char *p = buf; (p = strstr(p, needle)); p++)
        c++;
    return c;
}

static void ev_of(struct sp_event *ev, int err)
{
    sp_event_init(ev, SP_OP_CONNECT, 3);
    ev->type = SOCK_STREAM;
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(9)};
    in.sin_addr.s_addr = htonl(0x7f000001);
    sp_event_set_addr(ev, 1, (struct sockaddr *)&in, sizeof in);
    ev->err = err;
}

/* Stack use: sp_diag_emit run on a painted thread stack, with the sink that needs the most
 * (journald: the line plus its fields), against a thread that does nothing. */
#define STACK_SIZE (64 * 1024)
static struct sp_diagnosis *stack_d;
static struct sp_event stack_ev;

static void *emit_thread(void *arg)
{
    if (arg)
        sp_diag_emit(stack_d, &stack_ev);
    return NULL;
}

static size_t stack_used(int emit)
{
    static unsigned char stack[STACK_SIZE] __attribute__((aligned(4096)));
    memset(stack, 0xa5, sizeof stack);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstack(&a, stack, sizeof stack);
    pthread_t t;
    if (pthread_create(&t, &a, emit_thread, emit ? stack : NULL) != 0)
        return 0;
    pthread_join(t, NULL);
    pthread_attr_destroy(&a);
    size_t i = 0;
    while (i < sizeof stack && stack[i] == 0xa5)
        i++;
    return sizeof stack - i;
}

static void test_stack(void)
{
    char sock[64];
    snprintf(sock, sizeof sock, "/tmp/sp_diag_emit.%d.sock", (int)getpid());
    unlink(sock);
    int srv = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    memcpy(un.sun_path, sock, strlen(sock) + 1);
    bind(srv, (struct sockaddr *)&un, sizeof un);
    static struct sp_diagnosis d = {.level = SP_LOG_ALL, .format = SP_FMT_TEXT};
    sp_sink_journald(&d.sink, NULL, sock, "test");
    sp_rate_init(&d.rate, 0, 0);
    stack_d = &d;
    ev_of(&stack_ev, ECONNREFUSED);
    static char note[300];
    memset(note, '\\', sizeof note - 1); /* every byte escaped: the longest line */
    stack_ev.note = note;
    /* once first: lazy binding of libc's functions (the shim is linked -z now) costs stack */
    stack_used(1);
    char got[8192];
    ssize_t n = recv(srv, got, sizeof got, MSG_DONTWAIT);
    size_t base = stack_used(0), used = stack_used(1);
    ok(n > 0 && memmem(got, (size_t)n, "SOCKPOLICY_ERRNO_NAME=ECONNREFUSED", 34) != NULL,
       "journald datagram sent from the measured thread (%zd bytes)", n);
#if defined(__SANITIZE_ADDRESS__)
    (void)base, (void)used;
    skip("stack use under AddressSanitizer is not the real one");
#else
    ok(used - base < 4096, "sp_diag_emit to journald uses %zu bytes of stack (< 4096; thread start %zu)",
       used - base, base);
#endif
    sp_sink_close(&d.sink);
    close(srv);
    unlink(sock);
}

int main(void)
{
    test_stack();
    snprintf(path, sizeof path, "/tmp/sp_diag_emit.%d.log", (int)getpid());
    unlink(path);
    static struct sp_summary sum;
    struct sp_diagnosis d = {.level = SP_LOG_FAILURES, .format = SP_FMT_TEXT, .summary = &sum};
    sp_sink_file(&d.sink, NULL, path);
    sp_rate_init(&d.rate, 5, 5);
    struct sp_event ev;
    ev_of(&ev, 0);
    errno = 99;
    is_int(sp_diag_emit(&d, &ev), 0, "level failures: a success is not logged");
    ev_of(&ev, EINPROGRESS);
    is_int(sp_diag_emit(&d, &ev), 0, "nor an EINPROGRESS (its outcome will be)");
    is_int(errno, 99, "errno preserved");
    int written = 0;
    for (int i = 0; i < 20; i++) {
        ev_of(&ev, ECONNREFUSED);
        written += sp_diag_emit(&d, &ev);
    }
    is_int(written, 5, "20 refused connects in a burst, rate 5/s: 5 lines");
    sp_diag_finish(&d);
    is_int(count_lines("failed ECONNREFUSED (111)"), 5, "the file holds 5 event lines");
    ok(count_lines("suppressed 15 events (rate limit)\n") == 1, "and one 'suppressed 15 events' line at exit");
    ok(count_lines("summary: connections made 1, failed 20\n") == 1 &&
           count_lines("summary: to 127.0.0.1:9 made 1, failed 20 (last ECONNREFUSED)\n") == 1,
       "the summary counts every final connect (EINPROGRESS not counted), logged or not");
    int lines = 0;
    for (char *p = buf; *p; p++)
        lines += *p == '\n';
    is_int(lines, 5 + 1 + 3, "nothing else: 5 events, 1 suppressed, 3 summary lines");
    sp_sink_close(&d.sink);

    unlink(path);
    struct sp_diagnosis j = {.level = SP_LOG_ALL, .format = SP_FMT_JSON};
    sp_sink_file(&j.sink, NULL, path);
    sp_rate_init(&j.rate, 0, 0);
    ev_of(&ev, 0);
    sp_diag_emit(&j, &ev);
    ev_of(&ev, EINPROGRESS);
    sp_diag_emit(&j, &ev);
    ev.phase = SP_PHASE_SO_ERROR;
    ev.err = ETIMEDOUT;
    sp_diag_emit(&j, &ev);
    sp_sink_close(&j.sink);
    ok(count_lines("\"result\":\"ok\"") == 1 && count_lines("\"result\":\"in-progress\"") == 1 &&
           count_lines("\"phase\":\"so_error\"") == 1,
       "level all, JSON: success, in-progress and its SO_ERROR outcome are three objects");
    char cmd[128];
    snprintf(cmd, sizeof cmd, "python3 -m json.tool --json-lines %s >/dev/null 2>&1", path);
    int r = system(cmd);
    is_int(r, 0, "and they parse with python3 -m json.tool");
    unlink(path);
    return done_testing();
}
