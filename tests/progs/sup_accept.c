/* tests/progs/sup_accept.c: a blocking accept loop under a storm of signals.
 *   sup_accept FILE N: listens on 127.0.0.1 (a free port), writes "PORT PID" to FILE, and
 *   accepts N connections with a blocking accept, a SIGUSR1 handler without SA_RESTART
 *   interrupting it (EINTR: it accepts again); prints how many it accepted and how many times
 *   an accept was interrupted. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void on_usr1(int sig)
{
    (void)sig;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    int n = atoi(argv[2]), got = 0, intr = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1; /* no SA_RESTART: accept fails with EINTR */
    sigaction(SIGUSR1, &sa, NULL);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 1024) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &al) != 0)
        return 1;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return 1;
    fprintf(f, "%d %d\n", ntohs(a.sin_port), (int)getpid());
    fclose(f);
    rename(tmp, argv[1]);
    while (got < n) {
        int c = accept(l, NULL, NULL);
        if (c >= 0) {
            got++;
            close(c);
        } else if (errno == EINTR) {
            intr++;
        } else {
            perror("accept");
            break;
        }
    }
    printf("accepted=%d interrupted=%s\n", got, intr ? "yes" : "no");
    return 0;
}
