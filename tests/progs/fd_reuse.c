/* fd_reuse: a plain program that closes a socket the way libuv (Node.js), stdio and closefrom
 * do, past any close() a preloaded library hooks, and gets the same number back for another
 * socket by a path no library hooks either (SCM_RIGHTS, dup, F_DUPFD), then uses it:
 *   fd_reuse CLOSE REUSE OP PORT
 *   CLOSE  syscall (syscall(SYS_close)), fclose (fclose(fdopen(fd))), closefrom
 *   REUSE  scm (a TCP listener received over a unix socketpair), dup, dupfd (F_DUPFD)
 *   OP     accept: the number was a unix stream socket, now a TCP listener on 127.0.0.1:PORT;
 *                  one client connects and the program accepts once
 *          connect: the number was a unix stream socket, now a TCP socket; it connects to
 *                   127.0.0.1:PORT (a listener of this program)
 *          listen: the number was a unix stream socket, now a TCP socket bound to
 *                  127.0.0.1:PORT; it listens (arrived=1 when a client then connects)
 *          ctype: as connect, but the number was a UDP socket (same family, another type)
 *          send: the number was a TCP socket, now a UDP socket; it sends one datagram to
 *                127.0.0.1:PORT (a UDP socket of this program)
 *          send6: the number was an IPv4 UDP socket, now a dual-stack IPv6 one, which sends
 *                 to the IPv4 address 127.0.0.1:PORT
 *          dconnect: as send, but the UDP socket connect()s to 127.0.0.1:PORT, then send()s
 *                    (no address on the send: the connect set the destination)
 * Prints "reused=yes|no" (the number came back), "OP=ok" or "OP=ERRNAME", and
 * "arrived=N": what reached this program's own listener or UDP socket. Exit 0, or 2 when the
 * setup itself failed. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what)
{
    printf("setup failed: %s: %s\n", what, strerror(errno));
    exit(2);
}

static struct sockaddr_in lo(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

/* Closes fd the way CLOSE says, none of them through close(). */
static void close_unseen(const char *how, int fd)
{
    if (!strcmp(how, "syscall")) {
        if (syscall(SYS_close, fd) != 0)
            die("syscall close");
    } else if (!strcmp(how, "fclose")) {
        FILE *f = fdopen(fd, "r+");
        if (!f || fclose(f) != 0)
            die("fclose(fdopen)");
    } else if (!strcmp(how, "closefrom")) {
        closefrom(fd); /* everything above is closed too: the caller keeps what it needs below */
    } else {
        errno = EINVAL;
        die(how);
    }
}

static void send_fd(int via, int fd)
{
    char byte = 'x';
    struct iovec iov = { &byte, 1 };
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
                        .msg_controllen = sizeof u.b };
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    if (sendmsg(via, &m, 0) != 1)
        die("sendmsg SCM_RIGHTS");
}

static int recv_fd(int via)
{
    char byte;
    struct iovec iov = { &byte, 1 };
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } u;
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
                        .msg_controllen = sizeof u.b };
    if (recvmsg(via, &m, 0) != 1)
        die("recvmsg SCM_RIGHTS");
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    int fd;
    if (!c || c->cmsg_type != SCM_RIGHTS)
        die("no SCM_RIGHTS");
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}

/* The socket `fresh` (any number) onto the number `want`, which is free: by REUSE. */
static int reuse_as(const char *how, int fresh, int want, int sp[2])
{
    int got;
    if (!strcmp(how, "scm")) {
        send_fd(sp[0], fresh);
        got = recv_fd(sp[1]); /* the lowest free number: want */
    } else if (!strcmp(how, "dup")) {
        got = dup(fresh);
    } else if (!strcmp(how, "dupfd")) {
        got = fcntl(fresh, F_DUPFD, want);
    } else {
        errno = EINVAL;
        die(how);
        return -1;
    }
    if (got < 0)
        die("reuse");
    return got;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: fd_reuse syscall|fclose|closefrom scm|dup|dupfd "
                        "accept|listen|connect|ctype|send|send6|dconnect PORT\n");
        return 2;
    }
    const char *closeway = argv[1], *reuse = argv[2], *op = argv[3];
    int ctype = !strcmp(op, "ctype"), send6 = !strcmp(op, "send6");
    int dconnect = !strcmp(op, "dconnect");
    if (dconnect)
        op = "send";
    if (ctype)
        op = "connect";
    if (send6)
        op = "send";
    int port = atoi(argv[4]);
    setvbuf(stdout, NULL, _IONBF, 0);
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) != 0)
        die("socketpair");
    struct sockaddr_in a = lo(port);
    int fresh, mine = -1; /* mine: this program's own listener / UDP socket on PORT */
    if (!strcmp(op, "accept") || !strcmp(op, "listen")) {
        fresh = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(fresh, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (fresh < 0 || bind(fresh, (struct sockaddr *)&a, sizeof a) != 0 ||
            (!strcmp(op, "accept") && listen(fresh, 8) != 0))
            die("listener");
    } else if (!strcmp(op, "connect")) {
        mine = socket(AF_INET, SOCK_STREAM, 0);
        if (mine < 0 || bind(mine, (struct sockaddr *)&a, sizeof a) != 0 || listen(mine, 8) != 0)
            die("own listener");
        fresh = socket(AF_INET, SOCK_STREAM, 0);
    } else {
        mine = socket(AF_INET, SOCK_DGRAM, 0);
        if (mine < 0 || bind(mine, (struct sockaddr *)&a, sizeof a) != 0)
            die("own UDP socket");
        fresh = socket(send6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
    }
    if (fresh < 0)
        die("socket");
    /* The number, first the other kind of socket, known to any hook of socket(). */
    int n = send6 || ctype           ? socket(AF_INET, SOCK_DGRAM, 0)
            : !strcmp(op, "send") ? socket(AF_INET, SOCK_STREAM, 0)
                                  : socket(AF_UNIX, SOCK_STREAM, 0);
    if (n < 0)
        die("the first socket");
    if (!strcmp(closeway, "closefrom") && (fresh > n || mine > n || sp[0] > n || sp[1] > n)) {
        errno = EBADF;
        die("closefrom would close the program's other sockets");
    }
    close_unseen(closeway, n);
    int got = reuse_as(reuse, fresh, n, sp);
    printf("reused=%s\n", got == n ? "yes" : "no");
    int r, err = 0;
    if (!strcmp(op, "accept")) {
        pid_t pid = fork();
        if (pid == 0) { /* the client: connects, waits for the server to decide */
            int c = socket(AF_INET, SOCK_STREAM, 0);
            connect(c, (struct sockaddr *)&a, sizeof a);
            struct pollfd p = { c, POLLIN, 0 };
            poll(&p, 1, 2000);
            _exit(0);
        }
        errno = 0;
        r = accept(got, NULL, NULL);
        err = errno;
        /* arrived: the program holds an accepted connection */
        printf("arrived=%d\n", r >= 0 ? 1 : 0);
        if (r >= 0)
            close(r);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    } else if (!strcmp(op, "listen")) {
        r = listen(got, 8);
        err = errno;
        int c = socket(AF_INET, SOCK_STREAM, 0);
        printf("arrived=%d\n", connect(c, (struct sockaddr *)&a, sizeof a) == 0 ? 1 : 0);
        close(c);
    } else if (!strcmp(op, "connect")) {
        r = connect(got, (struct sockaddr *)&a, sizeof a);
        err = errno;
        struct pollfd p = { mine, POLLIN, 0 };
        printf("arrived=%d\n", poll(&p, 1, 200) == 1 ? 1 : 0);
    } else if (dconnect) {
        r = connect(got, (struct sockaddr *)&a, sizeof a);
        if (r == 0)
            r = (int)send(got, "x", 1, 0);
        err = errno;
        op = "dconnect";
        struct pollfd p = { mine, POLLIN, 0 };
        printf("arrived=%d\n", poll(&p, 1, 200) == 1 ? 1 : 0);
    } else {
        r = (int)sendto(got, "x", 1, 0, (struct sockaddr *)&a, sizeof a);
        err = errno;
        struct pollfd p = { mine, POLLIN, 0 };
        printf("arrived=%d\n", poll(&p, 1, 200) == 1 ? 1 : 0);
    }
    printf("%s=%s\n", op, r >= 0 ? "ok" : strerrorname_np(err));
    return 0;
}
