/* torture_closeall: a plain program that, like a daemon at start, closes every descriptor
 * above stderr, then opens its own files and sockets, which take the lowest numbers again.
 * Whatever a library had open on those numbers is gone: nothing may write into the
 * program's new descriptors. The program makes failing connects (which a library may want to
 * log) before and after, closing by closefrom, close_range, and a raw close_range syscall.
 *   torture_closeall [ROUNDS]        default 20
 * Last, stderr is closed and its number reused by a file: nothing may be written there.
 * Checks: the program's files and its socketpair receive nothing they were not sent; every
 * refused connect reports ECONNREFUSED. Prints PASS / FAIL: why. */
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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "torture.h"

static struct sockaddr_in refused;

static int refused_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int r = connect(fd, (struct sockaddr *)&refused, sizeof refused);
    int e = errno;
    close(fd);
    return r == -1 && e == ECONNREFUSED ? 0 : -1;
}


int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 20;
    char path[64];
    signal(SIGALRM, watchdog_alarm);
    alarm(20);
    /* A port nobody listens on: bound here, never listening, kept open through the rounds
     * on a high number that the closes below spare. */
    int holder = socket(AF_INET, SOCK_STREAM, 0);
    socklen_t len = sizeof refused;
    refused.sin_family = AF_INET;
    refused.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (holder < 0 || bind(holder, (struct sockaddr *)&refused, len) ||
        getsockname(holder, (struct sockaddr *)&refused, &len) || dup2(holder, 900) != 900) {
        printf("FAIL: setup: %s\n", strerror(errno));
        return 1;
    }
    close(holder);
    snprintf(path, sizeof path, "/tmp/torture_closeall.%d", (int)getpid());

    for (int i = 0; i < rounds; i++) {
        if (refused_connect()) {
            printf("FAIL: round %d: refused connect before the close: %s\n", i, strerror(errno));
            return 1;
        }
        switch (i % 3) {
        case 0:
            closefrom(3);
            dup2(900, 900);
            break;
        case 1:
            close_range(3, 899, 0);
            break;
        default:
            syscall(SYS_close_range, 3, 899, 0);
        }
        /* The program's own descriptors, on the lowest numbers. */
        int f = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        int sv[2];
        if (f < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
            printf("FAIL: round %d: open: %s\n", i, strerror(errno));
            return 1;
        }
        for (int k = 0; k < 3; k++)
            if (refused_connect()) {
                printf("FAIL: round %d: refused connect after the close\n", i);
                return 1;
            }
        struct stat st;
        char buf[256];
        ssize_t n;
        fstat(f, &st);
        fcntl(sv[1], F_SETFL, O_NONBLOCK);
        n = read(sv[1], buf, sizeof buf - 1);
        if (st.st_size != 0 || n > 0) {
            if (st.st_size) {
                n = pread(f, buf, sizeof buf - 1, 0);
            }
            buf[n > 0 ? n : 0] = 0;
            printf("FAIL: round %d: someone wrote into the program's %s (fd %d/%d/%d): %s\n", i,
                   st.st_size ? "file" : "socketpair", f, sv[0], sv[1], buf);
            unlink(path);
            return 1;
        }
        close(f);
        close(sv[0]);
        close(sv[1]);
        unlink(path);
    }
    /* stderr itself closed and its number reused by a file of the program's. */
    int saved_err = dup(2);
    close(2);
    int f2 = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    int bad = f2 != 2;
    for (int k = 0; k < 3 && !bad; k++)
        bad = refused_connect();
    struct stat st2;
    if (f2 >= 0 && fstat(f2, &st2) == 0 && st2.st_size != 0)
        bad = 2;
    dup2(saved_err, 2);
    close(saved_err);
    if (f2 >= 0 && f2 != 2)
        close(f2);
    unlink(path);
    if (bad) {
        printf("FAIL: %s\n", bad == 2 ? "someone wrote into the file that took stderr's number"
                                       : "the file did not take fd 2, or a connect misbehaved");
        return 1;
    }
    close(900);
    printf("# rounds=%d, each: closefrom/close_range/raw close_range then 3 refused connects\n",
           rounds);
    printf("PASS\n");
    return 0;
}
