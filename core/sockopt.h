/* core/sockopt.h: the socket options beyond the BIO flags that a policy can force.
 * Each option is set through the sysops table; each one the kernel refuses is reported by
 * name and errno, never dropped; one that does not apply to the socket (a TCP option on UDP
 * or AF_UNIX, IP_TOS on AF_UNIX) is skipped and reported as skipped. */
#ifndef SOCKPOLICY_CORE_SOCKOPT_H
#define SOCKPOLICY_CORE_SOCKOPT_H

#include <stdint.h>

enum bio_opt {
    BIO_OPT_KEEPALIVE,    /* SO_KEEPALIVE, val 0/1 */
    BIO_OPT_KEEPIDLE,     /* TCP_KEEPIDLE, seconds */
    BIO_OPT_KEEPINTVL,    /* TCP_KEEPINTVL, seconds */
    BIO_OPT_KEEPCNT,      /* TCP_KEEPCNT, count */
    BIO_OPT_NODELAY,      /* TCP_NODELAY, 0/1 */
    BIO_OPT_USER_TIMEOUT, /* TCP_USER_TIMEOUT, milliseconds */
    BIO_OPT_SYNCNT,       /* TCP_SYNCNT, count */
    BIO_OPT_TFO_CONNECT,  /* TCP_FASTOPEN_CONNECT, 0/1 (client, before connect) */
    BIO_OPT_TFO_QLEN,     /* TCP_FASTOPEN, queue length (server, after listen) */
    BIO_OPT_REUSEADDR,    /* SO_REUSEADDR, 0/1 */
    BIO_OPT_REUSEPORT,    /* SO_REUSEPORT, 0/1 */
    BIO_OPT_V6ONLY,       /* IPV6_V6ONLY, 0/1 (AF_INET6 only) */
    BIO_OPT_MARK,         /* SO_MARK, 32-bit value (needs CAP_NET_ADMIN) */
    BIO_OPT_TOS,          /* IP_TOS on AF_INET, IPV6_TCLASS on AF_INET6 */
    BIO_OPT_RCVBUF,       /* SO_RCVBUF, bytes */
    BIO_OPT_SNDBUF,       /* SO_SNDBUF, bytes */
    BIO_OPT_LINGER,       /* SO_LINGER: val < 0 off, else on with val seconds */
    BIO_OPT_CONGESTION,   /* TCP_CONGESTION, name in congestion[] */
    BIO_OPT_BINDTODEVICE, /* SO_BINDTODEVICE, name in device[] */
    BIO_OPT_COUNT
};

#define BIO_OPT_BIT(o) (1U << (o))

/* What to set: a bit per option in mask, its value in val[] (names in the two strings). */
struct bio_optset {
    uint32_t mask;
    int val[BIO_OPT_COUNT];
    char congestion[16];
    char device[16];
};

/* What happened to each option asked for. */
struct bio_opt_report {
    uint32_t applied; /* set, and the kernel said yes */
    uint32_t skipped; /* does not apply to this socket's family or type */
    uint32_t failed;  /* the kernel refused: errno in err[] */
    int err[BIO_OPT_COUNT];
};

/* Sets the options of set->mask & which on fd, in a fixed order, continuing past failures.
 * Fills rep (may be NULL). Returns the number of options that failed (0 when all were set
 * or skipped), or -1 with errno set when the socket's family and type cannot be read.
 * errno is otherwise left as it was. */
int bio_opt_apply(int fd, const struct bio_optset *set, uint32_t which, struct bio_opt_report *rep);
/* The same for a socket whose family and type the caller knows (no getsockopt to read them).
 * Returns the number of options that failed; errno preserved. */
int bio_opt_apply_kind(int fd, const struct bio_optset *set, uint32_t which, int family, int type,
                       struct bio_opt_report *rep);
/* Reads option opt of fd back into *val (for strings, 0 when it matches set's string).
 * Returns 0, or -1 with errno from getsockopt. */
int bio_opt_read(int fd, enum bio_opt opt, const struct bio_optset *set, int *val);
/* The option's name as the policy language spells it ("keepalive-idle", "user-timeout"). */
const char *bio_opt_name(enum bio_opt opt);
/* For an option set from a plain int (keepalive .. mark): its (level, name) on a socket of
 * this family, for a caller that sets it itself with setsockopt(fd, level, name, &int, 4).
 * Returns 0, or -1 for tos and the options after it in enum order (set those with
 * bio_opt_apply_kind). */
int bio_opt_int_key(enum bio_opt opt, int family, int *level, int *name);
/* Whether opt applies to a socket of this family and type: 1 yes, 0 no. */
int bio_opt_applies(enum bio_opt opt, int family, int type);

#endif
