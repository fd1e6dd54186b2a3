/* supervise/socket.c: a trapped socket(domain, type, protocol) (trapped only when the policy
 * has socket rules at start). Its arguments are values, not memory: a deny or an injected
 * failure is answered at once, a pass is the kernel's. A set rule's options must be on the
 * socket before the program gets it, so the supervisor makes the socket itself, forces them
 * and installs it in the program (ADDFD + SEND, SOCK_CLOEXEC as O_CLOEXEC; SOCK_NONBLOCK is
 * the socket's own); only in its own network namespace: a program in another one makes its
 * socket itself, without the options. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sup.h"

#define OPTS (((uint32_t)1 << BIO_OPT_COUNT) - 1 - BIO_OPT_BIT(BIO_OPT_TFO_QLEN))

/* Whether thread tid is in our network namespace. */
static int same_netns(pid_t tid)
{
    char path[64];
    struct stat a, b;
    snprintf(path, sizeof path, "/proc/%d/ns/net", (int)tid);
    return stat(path, &a) == 0 && stat("/proc/self/ns/net", &b) == 0 && a.st_ino == b.st_ino &&
           a.st_dev == b.st_dev;
}

int sup_install(const struct sup_call *c, int fd, int cloexec)
{
    struct seccomp_notif_addfd add;
    memset(&add, 0, sizeof add);
    add.id = c->n.id;
    add.flags = SECCOMP_ADDFD_FLAG_SEND;
    add.srcfd = (uint32_t)fd;
    add.newfd_flags = cloexec ? O_CLOEXEC : 0;
    return ioctl(sup.listener, SECCOMP_IOCTL_NOTIF_ADDFD, &add);
}

static void socket_rest(struct sup_call *c);

void sup_socket(struct sup_call *c)
{
    int domain = (int)c->n.data.args[0], type = (int)c->n.data.args[1];
    c->family = domain;
    c->type = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    c->d = sp_decide(c->p, SP_OP_SOCKET, c->family, c->type, NULL, 0);
    sup_gate_then(c, SP_OP_SOCKET, socket_rest);
}

static void socket_rest(struct sup_call *c)
{
    int domain = (int)c->n.data.args[0], type = (int)c->n.data.args[1];
    int proto = (int)c->n.data.args[2];
    const struct sp_rule *r = c->d.rule;
    if (!r || r->action != SP_ACT_SET || !(r->opts.mask || r->nonblock) ||
        !same_netns((pid_t)c->n.pid)) {
        sup_continue(c);
        return;
    }
    int fd = socket(domain, type | SOCK_CLOEXEC, proto);
    if (fd < 0) {
        sup_answer(c, 0, errno);
        return;
    }
    struct bio_opt_report rep;
    uint32_t asked = r->opts.mask & OPTS;
    if (asked)
        bio_opt_apply_kind(fd, &r->opts, OPTS, c->family, c->type, &rep);
    if (r->nonblock) {
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0)
            fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    }
    sup_pin_add(fd, r);
    if (asked && sup_log_wants(0))
        sup_who(c);
    int pfd = sup_install(c, fd, type & SOCK_CLOEXEC);
    if (pfd < 0 && errno != ENOENT)
        sup_answer(c, 0, errno);
    if (pfd >= 0 && asked && sup_log_wants(0)) {
        struct sp_event ev;
        sup_event_init(&ev, SP_OP_SOCKET, c);
        ev.fd = pfd;
        ev.rule = r;
        ev.opts_asked = asked;
        ev.opts = rep;
        sup_log_event(&ev);
    }
    close(fd);
}
