/* torture_vfork: a plain program whose vfork children close descriptors (one by one, with
 * close_range, and through posix_spawn's file actions) before _exit or exec. A vfork child
 * shares the parent's memory: whatever a preloaded library records about descriptors is
 * shared too, while the descriptor table is not. After each child the parent checks that its
 * own sockets still work and behave exactly as they did before the first child.
 *   torture_vfork [ROUNDS [SECONDS]]        defaults 300 rounds, 10 s watchdog
 * Per round, on fresh sockets: the listener accepts, the client and the accepted socket
 * exchange bytes, and the options read back (SO_KEEPALIVE, TCP_NODELAY on both ends, the
 * listener's SO_ACCEPTCONN) equal those of round 0. Prints "# " figures and PASS / FAIL. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "torture.h"

extern char **environ;



static int getopt_int(int fd, int level, int name)
{
    int v = -1;
    socklen_t l = sizeof v;
    if (getsockopt(fd, level, name, &v, &l) != 0)
        return -errno;
    return v;
}

struct obs {
    int lst_acceptconn, cli_keepalive, cli_nodelay, acc_keepalive, acc_nodelay;
};

/* The three sockets of a round: a listener, a client connected to it, the accepted end. */
struct trio {
    int lst, cli, acc;
};

static int trio_open(struct trio *t)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    t->lst = socket(AF_INET, SOCK_STREAM, 0);
    t->cli = socket(AF_INET, SOCK_STREAM, 0);
    if (t->lst < 0 || t->cli < 0 || bind(t->lst, (struct sockaddr *)&a, len) ||
        listen(t->lst, 16) || getsockname(t->lst, (struct sockaddr *)&a, &len) ||
        connect(t->cli, (struct sockaddr *)&a, len))
        return -1;
    t->acc = accept(t->lst, NULL, NULL);
    return t->acc < 0 ? -1 : 0;
}

static void trio_close(struct trio *t)
{
    close(t->acc);
    close(t->cli);
    close(t->lst);
}

/* Bytes go both ways, and a second connection is accepted on the same listener. */
static int trio_check(const struct trio *t, struct obs *o)
{
    char buf[8];
    if (write(t->cli, "ping", 4) != 4 || read(t->acc, buf, sizeof buf) != 4 ||
        write(t->acc, "pong", 4) != 4 || read(t->cli, buf, sizeof buf) != 4 ||
        memcmp(buf, "pong", 4))
        return -1;
    o->lst_acceptconn = getopt_int(t->lst, SOL_SOCKET, SO_ACCEPTCONN);
    o->cli_keepalive = getopt_int(t->cli, SOL_SOCKET, SO_KEEPALIVE);
    o->cli_nodelay = getopt_int(t->cli, IPPROTO_TCP, TCP_NODELAY);
    o->acc_keepalive = getopt_int(t->acc, SOL_SOCKET, SO_KEEPALIVE);
    o->acc_nodelay = getopt_int(t->acc, IPPROTO_TCP, TCP_NODELAY);
    return 0;
}

/* One more connection through an existing listener: the accepted end's options. */
static int accept_again(int lst, struct obs *o)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int c = socket(AF_INET, SOCK_STREAM, 0), s = -1, r = -1;
    if (c >= 0 && getsockname(lst, (struct sockaddr *)&a, &len) == 0 &&
        connect(c, (struct sockaddr *)&a, len) == 0 && (s = accept(lst, NULL, NULL)) >= 0) {
        o->cli_keepalive = getopt_int(c, SOL_SOCKET, SO_KEEPALIVE);
        o->cli_nodelay = getopt_int(c, IPPROTO_TCP, TCP_NODELAY);
        o->acc_keepalive = getopt_int(s, SOL_SOCKET, SO_KEEPALIVE);
        o->acc_nodelay = getopt_int(s, IPPROTO_TCP, TCP_NODELAY);
        o->lst_acceptconn = getopt_int(lst, SOL_SOCKET, SO_ACCEPTCONN);
        r = 0;
    }
    if (s >= 0)
        close(s);
    if (c >= 0)
        close(c);
    return r;
}

static int wait_ok(pid_t pid)
{
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 300;
    int seconds = argc > 2 ? atoi(argv[2]) : 10;
    struct obs first, o;
    int vforks = 0, spawns = 0;
    if (rounds < 1 || seconds < 1)
        return 2;
    signal(SIGALRM, watchdog_alarm);
    alarm(seconds);
    int fds_before = count_fds();

    for (int i = 0; i < rounds; i++) {
        struct trio t, t2;
        if (trio_open(&t)) {
            printf("FAIL: round %d: setup: %s\n", i, strerror(errno));
            return 1;
        }
        if (i == 0 && trio_check(&t, &first)) {
            printf("FAIL: round 0: exchange: %s\n", strerror(errno));
            return 1;
        }
        pid_t pid;
        switch (i % 3) {
        case 0: /* close one by one, then _exit */
            pid = vfork();
            if (pid == 0) {
                close(t.acc);
                close(t.cli);
                close(t.lst);
                _exit(0);
            }
            vforks++;
            break;
        case 1: /* close_range everything above stderr, then exec */
            pid = vfork();
            if (pid == 0) {
                char *av[] = { "true", NULL };
                close_range(3, ~0U, 0);
                execve("/bin/true", av, environ);
                _exit(127);
            }
            vforks++;
            break;
        default: { /* posix_spawn (clone with CLONE_VM|CLONE_VFORK) with close actions */
            posix_spawn_file_actions_t fa;
            char *av[] = { "true", NULL };
            posix_spawn_file_actions_init(&fa);
            posix_spawn_file_actions_addclose(&fa, t.acc);
            posix_spawn_file_actions_addclose(&fa, t.cli);
            posix_spawn_file_actions_addclose(&fa, t.lst);
            if (posix_spawn(&pid, "/bin/true", &fa, NULL, av, environ) != 0)
                pid = -1;
            posix_spawn_file_actions_destroy(&fa);
            spawns++;
        }
        }
        if (pid < 0 || wait_ok(pid)) {
            printf("FAIL: round %d: child failed (%s)\n", i, strerror(errno));
            return 1;
        }
        /* The parent's sockets survive the child's closes and behave as in round 0. */
        if (trio_check(&t, &o)) {
            printf("FAIL: round %d: sockets broken after the child closed its copies: %s\n", i,
                   strerror(errno));
            return 1;
        }
        if (memcmp(&o, &first, sizeof o)) {
            printf("FAIL: round %d: options changed after the child: acceptconn %d->%d "
                   "cli keepalive %d->%d nodelay %d->%d acc keepalive %d->%d nodelay %d->%d\n",
                   i, first.lst_acceptconn, o.lst_acceptconn, first.cli_keepalive,
                   o.cli_keepalive, first.cli_nodelay, o.cli_nodelay, first.acc_keepalive,
                   o.acc_keepalive, first.acc_nodelay, o.acc_nodelay);
            return 1;
        }
        /* The listener the child closed in its copy still accepts, with the same options. */
        if (accept_again(t.lst, &o) || memcmp(&o, &first, sizeof o)) {
            printf("FAIL: round %d: a connection accepted after the child differs from round "
                   "0: keepalive %d->%d nodelay %d->%d (%s)\n", i, first.acc_keepalive,
                   o.acc_keepalive, first.acc_nodelay, o.acc_nodelay, strerror(errno));
            return 1;
        }
        /* New sockets made after the child (reusing nothing the child touched in our
         * table) also behave as in round 0. */
        if (trio_open(&t2) || trio_check(&t2, &o) || memcmp(&o, &first, sizeof o)) {
            printf("FAIL: round %d: fresh sockets after the child differ from round 0\n", i);
            return 1;
        }
        trio_close(&t2);
        trio_close(&t);
    }
    int fds_after = count_fds();
    printf("# rounds=%d vforks=%d posix_spawns=%d\n", rounds, vforks, spawns);
    printf("# observed: listener acceptconn=%d client keepalive=%d nodelay=%d accepted "
           "keepalive=%d nodelay=%d\n", first.lst_acceptconn, first.cli_keepalive,
           first.cli_nodelay, first.acc_keepalive, first.acc_nodelay);
    printf("# fds before=%d after=%d\n", fds_before, fds_after);
    if (fds_after != fds_before) {
        printf("FAIL: descriptors leaked: %d before, %d after\n", fds_before, fds_after);
        return 1;
    }
    printf("PASS\n");
    return 0;
}
