/* core/sockopt.c: the options a policy can force beyond the BIO flags. Each one is set through
 * the sysops table in enum order; what the kernel refuses is reported with its errno, what
 * does not apply to the socket's family and type is reported as skipped. errno is preserved. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include "sockopt.h"
#include "err_int.h"
#include "sysops.h"

enum scope {
    SCOPE_ANY,  /* every socket */
    SCOPE_INET, /* AF_INET and AF_INET6, any type */
    SCOPE_INET6,
    SCOPE_TCP, /* AF_INET/AF_INET6 SOCK_STREAM */
};

struct optdef {
    const char *name;
    enum scope scope;
    int level, optname; /* TOS: the AF_INET pair; AF_INET6 uses IPV6_TCLASS */
};

static const struct optdef optdefs[BIO_OPT_COUNT] = {
    [BIO_OPT_KEEPALIVE] = {"keepalive", SCOPE_TCP, SOL_SOCKET, SO_KEEPALIVE},
    [BIO_OPT_KEEPIDLE] = {"keepalive-idle", SCOPE_TCP, IPPROTO_TCP, TCP_KEEPIDLE},
    [BIO_OPT_KEEPINTVL] = {"keepalive-interval", SCOPE_TCP, IPPROTO_TCP, TCP_KEEPINTVL},
    [BIO_OPT_KEEPCNT] = {"keepalive-count", SCOPE_TCP, IPPROTO_TCP, TCP_KEEPCNT},
    [BIO_OPT_NODELAY] = {"nodelay", SCOPE_TCP, IPPROTO_TCP, TCP_NODELAY},
    [BIO_OPT_USER_TIMEOUT] = {"user-timeout", SCOPE_TCP, IPPROTO_TCP, TCP_USER_TIMEOUT},
    [BIO_OPT_SYNCNT] = {"syn-count", SCOPE_TCP, IPPROTO_TCP, TCP_SYNCNT},
    [BIO_OPT_TFO_CONNECT] = {"tfo", SCOPE_TCP, IPPROTO_TCP, TCP_FASTOPEN_CONNECT},
    [BIO_OPT_TFO_QLEN] = {"tfo-queue", SCOPE_TCP, IPPROTO_TCP, TCP_FASTOPEN},
    [BIO_OPT_REUSEADDR] = {"reuseaddr", SCOPE_INET, SOL_SOCKET, SO_REUSEADDR},
    [BIO_OPT_REUSEPORT] = {"reuseport", SCOPE_INET, SOL_SOCKET, SO_REUSEPORT},
    [BIO_OPT_V6ONLY] = {"v6only", SCOPE_INET6, IPPROTO_IPV6, IPV6_V6ONLY},
    [BIO_OPT_MARK] = {"mark", SCOPE_INET, SOL_SOCKET, SO_MARK},
    [BIO_OPT_TOS] = {"tos", SCOPE_INET, IPPROTO_IP, IP_TOS},
    [BIO_OPT_RCVBUF] = {"rcvbuf", SCOPE_ANY, SOL_SOCKET, SO_RCVBUF},
    [BIO_OPT_SNDBUF] = {"sndbuf", SCOPE_ANY, SOL_SOCKET, SO_SNDBUF},
    [BIO_OPT_LINGER] = {"linger", SCOPE_ANY, SOL_SOCKET, SO_LINGER},
    [BIO_OPT_CONGESTION] = {"congestion", SCOPE_TCP, IPPROTO_TCP, TCP_CONGESTION},
    [BIO_OPT_BINDTODEVICE] = {"bind-device", SCOPE_INET, SOL_SOCKET, SO_BINDTODEVICE},
};

const char *bio_opt_name(enum bio_opt opt)
{
    if ((unsigned)opt >= BIO_OPT_COUNT)
        return NULL;
    return optdefs[opt].name;
}

/* Whether a socket of this kind takes an option of this scope. */
static inline int scope_takes(enum scope sc, int family, int type)
{
    int inet = family == AF_INET || family == AF_INET6;

    switch (sc) {
    case SCOPE_ANY:
        return 1;
    case SCOPE_INET:
        return inet;
    case SCOPE_INET6:
        return family == AF_INET6;
    case SCOPE_TCP:
        return inet && type == SOCK_STREAM;
    }
    return 0;
}

int bio_opt_applies(enum bio_opt opt, int family, int type)
{
    return (unsigned)opt < BIO_OPT_COUNT && scope_takes(optdefs[opt].scope, family, type);
}

/* The (level, name) pair for opt on a socket of this family. */
static void opt_key(enum bio_opt opt, int family, int *level, int *name)
{
    *level = optdefs[opt].level;
    *name = optdefs[opt].optname;
    if (opt == BIO_OPT_TOS && family == AF_INET6) {
        *level = IPPROTO_IPV6;
        *name = IPV6_TCLASS;
    }
}

/* Reads the socket's family and type. Returns 0, or -1 with errno from getsockopt. */
static int sock_kind(const struct bio_sysops *ops, int fd, int *family, int *type)
{
    socklen_t len = sizeof *family;

    if (ops->getsockopt(fd, SOL_SOCKET, SO_DOMAIN, family, &len) != 0)
        return -1;
    len = sizeof *type;
    if (ops->getsockopt(fd, SOL_SOCKET, SO_TYPE, type, &len) != 0)
        return -1;
    return 0;
}

static int opt_set(const struct bio_sysops *ops, int fd, enum bio_opt opt, int family,
                   const struct bio_optset *set)
{
    int level, name, v = set->val[opt];
    struct linger lg;

    opt_key(opt, family, &level, &name);
    switch (opt) {
    case BIO_OPT_LINGER:
        lg.l_onoff = v >= 0;
        lg.l_linger = v >= 0 ? v : 0;
        return ops->setsockopt(fd, level, name, &lg, sizeof lg);
    case BIO_OPT_CONGESTION:
        return ops->setsockopt(fd, level, name, set->congestion,
                               strnlen(set->congestion, sizeof set->congestion));
    case BIO_OPT_BINDTODEVICE:
        return ops->setsockopt(fd, level, name, set->device,
                               strnlen(set->device, sizeof set->device));
    default:
        return ops->setsockopt(fd, level, name, &v, sizeof v);
    }
}

int bio_opt_apply_kind(int fd, const struct bio_optset *set, uint32_t which, int family, int type,
                       struct bio_opt_report *rep)
{
    const struct bio_sysops *ops = bio__ops;
    int saved = errno, failures = 0, r;
    uint32_t todo = set->mask & which;

    rep->applied = rep->skipped = rep->failed = 0;
    while (todo) {
        unsigned opt = (unsigned)__builtin_ctz(todo);
        const struct optdef *d = &optdefs[opt];

        todo &= todo - 1;
        if (!scope_takes(d->scope, family, type)) {
            rep->skipped |= BIO_OPT_BIT(opt);
            continue;
        }
        /* Plain int options (all but TOS, linger and the two names) straight from the set. */
        if (opt < BIO_OPT_TOS)
            r = ops->setsockopt(fd, d->level, d->optname, &set->val[opt], sizeof(int));
        else
            r = opt_set(ops, fd, opt, family, set);
        if (r != 0) {
            rep->failed |= BIO_OPT_BIT(opt);
            rep->err[opt] = errno;
            failures++;
        } else {
            rep->applied |= BIO_OPT_BIT(opt);
        }
    }
    errno = saved;
    return failures;
}

int bio_opt_apply(int fd, const struct bio_optset *set, uint32_t which, struct bio_opt_report *rep)
{
    const struct bio_sysops *ops = bio__ops;
    int family, type;
    struct bio_opt_report local;

    if (rep == NULL)
        rep = &local;
    memset(rep, 0, sizeof *rep);
    if ((set->mask & which) == 0)
        return 0;
    if (sock_kind(ops, fd, &family, &type) != 0)
        return -1;
    return bio_opt_apply_kind(fd, set, which, family, type, rep);
}

int bio_opt_read(int fd, enum bio_opt opt, const struct bio_optset *set, int *val)
{
    const struct bio_sysops *ops = bio__ops;
    int level, name, family = AF_UNSPEC, v = 0;
    socklen_t len;
    struct linger lg;
    char buf[32];

    if ((unsigned)opt >= BIO_OPT_COUNT) {
        errno = EINVAL;
        return -1;
    }
    if (opt == BIO_OPT_TOS) {
        len = sizeof family;
        if (ops->getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len) != 0)
            return -1;
    }
    opt_key(opt, family, &level, &name);
    switch (opt) {
    case BIO_OPT_LINGER:
        memset(&lg, 0, sizeof lg);
        len = sizeof lg;
        if (ops->getsockopt(fd, level, name, &lg, &len) != 0)
            return -1;
        *val = lg.l_onoff ? lg.l_linger : -1;
        return 0;
    case BIO_OPT_CONGESTION:
    case BIO_OPT_BINDTODEVICE: {
        const char *want = set == NULL               ? ""
                           : opt == BIO_OPT_CONGESTION ? set->congestion
                                                       : set->device;
        size_t wlen = strnlen(want, 16);

        memset(buf, 0, sizeof buf);
        len = sizeof buf - 1;
        if (ops->getsockopt(fd, level, name, buf, &len) != 0)
            return -1;
        *val = !(strnlen(buf, sizeof buf) == wlen && memcmp(buf, want, wlen) == 0);
        return 0;
    }
    default:
        len = sizeof v;
        if (ops->getsockopt(fd, level, name, &v, &len) != 0)
            return -1;
        *val = v;
        return 0;
    }
}

int bio_opt_int_key(enum bio_opt opt, int family, int *level, int *name)
{
    if ((unsigned)opt >= BIO_OPT_TOS)
        return -1; /* TOS depends on the family's pair, linger and the names are not an int */
    (void)family;
    opt_key(opt, family, level, name);
    return 0;
}
