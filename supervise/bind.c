/* supervise/bind.c: a trapped bind(fd, addr, len) and listen(fd, backlog), as the shim's: the
 * decision on the local address (bind: the one asked for; listen: the one bound), the rule's
 * options forced (bind: before it; listen: around it, TCP Fast Open's queue after), the call
 * made on the duplicate with the supervisor's copy of the address. Both are served in the
 * receiving thread, but for a delay rule's sleep, which a worker takes (sup_defer). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "sup.h"

#define OPTS_ALL (((uint32_t)1 << BIO_OPT_COUNT) - 1)
#define OPT_QLEN BIO_OPT_BIT(BIO_OPT_TFO_QLEN)

static void log_local(const struct sup_call *c, enum sp_op op, int r, int err, uint64_t t0,
                      uint32_t asked, const struct bio_opt_report *rep)
{
    if (!sup_log_wants(r == 0 ? 0 : err))
        return;
    struct sp_event ev;
    sup_event_init(&ev, op, c);
    ev.err = r == 0 ? 0 : err;
    ev.duration_ns = sp_diag_now_ns() - t0;
    sp_event_set_addr(&ev, 0, (const struct sockaddr *)&c->addr, c->addrlen);
    sup_log_outcome(&ev, c->d.rule, asked, rep);
}

static void forced(struct sup_call *c, uint32_t which, uint32_t *asked, struct bio_opt_report *rep)
{
    memset(rep, 0, sizeof *rep);
    *asked = 0;
    const struct sp_rule *r = c->d.rule;
    if (!r || r->action != SP_ACT_SET || !(r->opts.mask & which))
        return;
    *asked = r->opts.mask & which;
    bio_opt_apply_kind(c->fd, &r->opts, which, c->family, c->type, rep);
    sup_pin_add(c->fd, r);
}

/* A socket file the supervisor bound gets the mode the program's own bind would have given it:
 * 0777 less the program's umask, not the supervisor's. */
static void program_mode(const struct sup_call *c)
{
    const struct sockaddr_un *un = (const struct sockaddr_un *)(const void *)&c->call;
    size_t n = c->calllen > offsetof(struct sockaddr_un, sun_path)
                   ? c->calllen - offsetof(struct sockaddr_un, sun_path) : 0;
    if (un->sun_family != AF_UNIX || !n || !un->sun_path[0])
        return; /* abstract, or autobound: no file */
    unsigned long long theirs = sup_status_field((pid_t)c->n.pid, "Umask", 8, 0777);
    if (theirs > 0777 || theirs == sup_status_field(0, "Umask", 8, 0777))
        return;
    char path[sizeof un->sun_path + 1], link[32];
    memcpy(path, un->sun_path, n);
    path[n] = 0;
    int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode))
        chmod(link, 0777 & ~(mode_t)theirs);
    close(fd);
}

/* The bind itself, after the gate. */
static void bind_rest(struct sup_call *c)
{
    uint32_t asked;
    struct bio_opt_report rep;
    forced(c, OPTS_ALL & ~OPT_QLEN, &asked, &rep);
    uint64_t t0 = sp_diag_now_ns();
    int r = bind(c->fd, (const struct sockaddr *)&c->call, c->calllen);
    int err = r == 0 ? 0 : errno;
    if (r == 0)
        program_mode(c);
    if (c->quiet) {
        sup_answer(c, 0, err);
        return;
    }
    if (sup_log_wants(err))
        sup_who(c);
    sup_answer(c, 0, err);
    log_local(c, SP_OP_BIND, r, err, t0, asked, &rep);
}

static void listen_rest(struct sup_call *c);

void sup_bind(struct sup_call *c)
{
    if (sup_take_ruled(c, sup_policy_wants(c->p, SP_OP_BIND)) != 0)
        return;
    int err = sup_read_addr(c, c->n.data.args[1], c->n.data.args[2]);
    if (err) {
        sup_fail(c, err);
        return;
    }
    if (!sup_valid(c)) {
        sup_call_free(c);
        return;
    }
    int inet = c->family == AF_INET || c->family == AF_INET6;
    err = sup_addr_norm(c, SP_OP_BIND);
    c->d = sup_decide_addr(c, SP_OP_BIND);
    /* A socket no rule can tell apart (a local one when no rule tests paths, netlink...):
     * bound here all the same, unlogged, on the socket looked at (a CONTINUE would let
     * another thread put an internet socket on the number first). */
    c->quiet = !inet && c->d.action == SP_ACT_PASS &&
               !(sp_policy_tests(c->p, SP_OP_BIND) & SP_TESTS_PATH);
    if (err) {
        sup_fail(c, err);
        return;
    }
    sup_gate_then(c, SP_OP_BIND, bind_rest);
}

void sup_listen(struct sup_call *c)
{
    if (sup_take_ruled(c, sup_policy_wants(c->p, SP_OP_LISTEN)) != 0)
        return;
    socklen_t len = sizeof c->addr;
    if (getsockname(c->fd, (struct sockaddr *)&c->addr, &len) == 0)
        c->addrlen = len;
    /* the address the kernel gives back, as the shim's listen decides on it */
    c->d = sp_decide(c->p, SP_OP_LISTEN, c->family, c->type,
                     c->addrlen ? (const struct sockaddr *)&c->addr : NULL, c->addrlen);
    sup_gate_then(c, SP_OP_LISTEN, listen_rest);
}

static void listen_rest(struct sup_call *c)
{
    uint32_t asked, asked2;
    struct bio_opt_report rep, rep2;
    forced(c, OPTS_ALL & ~OPT_QLEN, &asked, &rep);
    uint64_t t0 = sp_diag_now_ns();
    int r = listen(c->fd, (int)c->n.data.args[1]);
    int err = r == 0 ? 0 : errno;
    if (r == 0) { /* TCP Fast Open's queue is set on a listening socket */
        forced(c, OPT_QLEN, &asked2, &rep2);
        asked |= asked2;
        rep.applied |= rep2.applied;
        rep.skipped |= rep2.skipped;
        rep.failed |= rep2.failed;
        if (rep2.failed)
            rep.err[BIO_OPT_TFO_QLEN] = rep2.err[BIO_OPT_TFO_QLEN];
    }
    if (sup_log_wants(err))
        sup_who(c);
    sup_answer(c, 0, err);
    log_local(c, SP_OP_LISTEN, r, err, t0, asked, &rep);
}
