/* tests/progs/sp_names.c: a program that happens to define functions with the shim's internal
 * names (core's, policy's, the shim's own). Under the preload, its calls must reach its own
 * functions and the shim must keep working on its sockets. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int bio_connect(int a, const void *b, int c) { (void)a; (void)b; (void)c; return 4101; }
int bio_socket(int a, int b, int c, int d) { (void)a; (void)b; (void)c; (void)d; return 4102; }
const void *sp_policy_match(const void *p, const void *q) { (void)p; (void)q; return (const void *)4103; }
int sp_policy_has_op(const void *p, int op) { (void)p; (void)op; return 4104; }
int log_init(void) { return 4105; }
int shim_connect(int a, const void *b, int c) { (void)a; (void)b; (void)c; return 4106; }
void shim_log(int level, const char *fmt, ...) { (void)level; (void)fmt; }
int shim_real_init(void) { return 4107; }
int bio_opt_apply(int a, const void *b, unsigned c, void *d) { (void)a; (void)b; (void)c; (void)d; return 4108; }

int main(int argc, char **argv)
{
    printf("own=%d,%d,%ld,%d,%d,%d,%d,%d\n", bio_connect(0, 0, 0), bio_socket(0, 0, 0, 0),
           (long)sp_policy_match(0, 0), sp_policy_has_op(0, 0), log_init(), shim_connect(0, 0, 0),
           shim_real_init(), bio_opt_apply(0, 0, 0, 0));
    if (argc < 2)
        return 0;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[1])) };
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int r = connect(fd, (struct sockaddr *)&a, sizeof a);
    int ka = -1;
    socklen_t l = sizeof ka;
    getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &ka, &l);
    printf("connect=%d keepalive=%d\n", r, ka);
    close(fd);
    return 0;
}
