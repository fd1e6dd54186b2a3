/* tests/unit/diag_explain.c: every errno that connect(2), bind(2), listen(2) and accept(2)
 * document (Linux pages, plus the seed connect(2) page's list and the Linux cases it lacks)
 * has a plain-language explanation, for TCP and AF_UNIX sockets; the specific ones say what
 * the issue asks (the sysctl, the route type, the firewall, the backlog). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "diag.h"
#include "tap.h"

static const int connect_errs[] = {
    EACCES, EPERM, EADDRINUSE, EADDRNOTAVAIL, EAFNOSUPPORT, EAGAIN, EALREADY, EBADF,
    ECONNREFUSED, EFAULT, EINPROGRESS, EINTR, EISCONN, ENETUNREACH, ENOTSOCK, EPROTOTYPE,
    ETIMEDOUT, EINVAL, EHOSTUNREACH, ENOTDIR, ENAMETOOLONG, ENOENT, ELOOP, /* seed page */
    ENETDOWN, ECONNRESET, EHOSTDOWN, ENOBUFS,                             /* Linux */
};
static const int bind_errs[] = {
    EACCES, EADDRINUSE, EBADF, EINVAL, ENOTSOCK, EADDRNOTAVAIL, EFAULT, ELOOP, ENAMETOOLONG,
    ENOENT, ENOMEM, ENOTDIR, EROFS, EAFNOSUPPORT,
};
static const int listen_errs[] = {EADDRINUSE, EBADF, ENOTSOCK, EOPNOTSUPP};
static const int accept_errs[] = {
    EAGAIN, EBADF, ECONNABORTED, EFAULT, EINTR, EINVAL, EMFILE, ENFILE, ENOBUFS, ENOMEM,
    ENOTSOCK, EOPNOTSUPP, EPERM, EPROTO, ENETDOWN, ENOPROTOOPT, EHOSTDOWN, ENONET,
    EHOSTUNREACH, ENETUNREACH,
};

static void all_have(enum sp_op op, const int *errs, size_t n)
{
    static const int fams[] = {AF_INET, AF_INET6, AF_UNIX};
    int missing = 0;
    for (size_t f = 0; f < 3; f++)
        for (size_t i = 0; i < n; i++)
            if (!sp_explain(op, errs[i], fams[f]) && missing++ < 5)
                diag("  %s errno %d family %d: none", sp_diag_op_name(op), errs[i], fams[f]);
    is_int(missing, 0, "%s: all %zu documented errnos explained for inet, inet6 and unix",
           sp_diag_op_name(op), n);
}

static void says(enum sp_op op, int err, int family, const char *word, const char *what)
{
    const char *e = sp_explain(op, err, family);
    ok(e && strstr(e, word), "%s %s: %s ('%s')", sp_diag_op_name(op),
       sp_diag_errno_name(err), what, word);
    if (e && !strstr(e, word))
        diag("  got: %s", e);
}

int main(void)
{
    all_have(SP_OP_CONNECT, connect_errs, sizeof connect_errs / sizeof connect_errs[0]);
    all_have(SP_OP_BIND, bind_errs, sizeof bind_errs / sizeof bind_errs[0]);
    all_have(SP_OP_LISTEN, listen_errs, sizeof listen_errs / sizeof listen_errs[0]);
    all_have(SP_OP_ACCEPT, accept_errs, sizeof accept_errs / sizeof accept_errs[0]);

    says(SP_OP_CONNECT, ECONNREFUSED, AF_INET, "nothing listens", "closed port");
    says(SP_OP_CONNECT, ETIMEDOUT, AF_INET, "net.ipv4.tcp_syn_retries", "names the sysctl");
    says(SP_OP_CONNECT, ENETUNREACH, AF_INET6, "no route", "no route");
    says(SP_OP_CONNECT, EHOSTUNREACH, AF_INET, "unreachable", "unreachable route");
    says(SP_OP_CONNECT, EACCES, AF_INET, "prohibit", "prohibit route");
    says(SP_OP_CONNECT, EPERM, AF_INET, "firewall", "local firewall");
    says(SP_OP_CONNECT, EAGAIN, AF_UNIX, "backlog", "full AF_UNIX backlog");
    says(SP_OP_CONNECT, EAGAIN, AF_INET, "ip_local_port_range", "no free local port");
    says(SP_OP_CONNECT, ENETDOWN, AF_INET, "down", "interface down");
    says(SP_OP_CONNECT, ECONNRESET, AF_INET, "reset", "reset during setup");
    says(SP_OP_CONNECT, EINPROGRESS, AF_INET, "SO_ERROR", "followed");
    says(SP_OP_BIND, EADDRNOTAVAIL, AF_INET, "not configured", "address not on the host");
    says(SP_OP_BIND, EADDRINUSE, AF_INET, "already uses", "port in use");
    says(SP_OP_BIND, EADDRINUSE, AF_UNIX, "stale socket", "AF_UNIX path exists");
    says(SP_OP_CONNECT, EACCES, AF_UNIX, "write permission", "AF_UNIX permission");

    struct sp_rule deny = {.action = SP_ACT_DENY, .file = "p.conf", .line = 1};
    struct sp_event ev;
    sp_event_init(&ev, SP_OP_CONNECT, 3);
    ev.err = EACCES;
    ev.family = AF_INET;
    ev.rule = &deny;
    const char *e = sp_explain_event(&ev);
    ok(e && strstr(e, "denied by a sockpolicy rule"), "a denied rule is explained as ours, not the kernel's");
    ev.rule = NULL;
    ev.flags = SP_EVF_DEFAULT_DENY;
    e = sp_explain_event(&ev);
    ok(e && strstr(e, "default"), "a default deny says so");
    ev.flags = 0;
    ev.err = 0;
    ok(sp_explain_event(&ev) == NULL, "success has no explanation");
    ok(sp_explain(SP_OP_CONNECT, 4095, AF_INET) == NULL, "an unknown errno has none (the name alone is printed)");
    return done_testing();
}
