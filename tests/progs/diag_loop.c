/* tests/progs/diag_loop.c: a plain program for tests/diag_shim.t, written as programs are.
 *   refuse N PORT [MS]      N blocking connects to 127.0.0.1:PORT (MS ms apart), fresh socket each
 *   pending ADDR PORT MS    a non-blocking connect, MS ms of waiting, close (never SO_ERROR)
 *   closeall PORT FILE      like a daemon: close every descriptor, open FILE on 0, 1 and 2,
 *                           then 3 refused connects, each followed by a line of its own output
 * Prints "done" (or the error) on stdout. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int connect_to(const char *addr, int port, int flags)
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)port);
    inet_pton(AF_INET, addr, &sin.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM | flags, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return -2;
    }
    return fd;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
    if (argc >= 4 && !strcmp(argv[1], "refuse")) {
        int n = atoi(argv[2]), port = atoi(argv[3]), ms = argc > 4 ? atoi(argv[4]) : 0;
        int refused = 0;
        for (int i = 0; i < n && i < 100000; i++) {
            if (connect_to("127.0.0.1", port, 0) == -2 && errno == ECONNREFUSED)
                refused++;
            if (ms)
                sleep_ms(ms);
        }
        printf("refused=%d\ndone\n", refused);
        return 0;
    }
    if (argc >= 5 && !strcmp(argv[1], "pending")) {
        int fd = connect_to(argv[2], atoi(argv[3]), SOCK_NONBLOCK);
        if (fd < 0) {
            printf("connect: %s\n", strerror(errno));
            return 1;
        }
        sleep_ms(atoi(argv[4]));
        close(fd);
        printf("done\n");
        return 0;
    }
    if (argc >= 4 && !strcmp(argv[1], "closeall")) {
        int port = atoi(argv[2]);
        /* the first connect makes the shim open its log before the program closes all */
        connect_to("127.0.0.1", port, 0);
        for (int fd = 0; fd < 1024; fd++)
            close(fd);
        int f = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644); /* fd 0 */
        if (f != 0)
            return 3;
        dup2(0, 1);
        dup2(0, 2);
        for (int i = 0; i < 3; i++) {
            connect_to("127.0.0.1", port, 0);
            dprintf(1, "program line %d\n", i);
        }
        dprintf(1, "done\n");
        return 0;
    }
    fprintf(stderr, "usage: diag_loop refuse N PORT [MS] | pending ADDR PORT MS | closeall PORT FILE\n");
    return 2;
}
