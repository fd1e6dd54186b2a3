/* tests/unit/conformance/conformance.h: what the parts of the differential test of core/
 * against Debian's libcrypto share (tests/unit/conformance.c has the whole story): the two
 * implementations behind one table (api.c), the fixtures (fixture.c), one case run and
 * observed (run.c), the cases by routine (cases.c).
 *
 * Both headers in one file on purpose: the guards in core/bio.h are part of the contract. */
#ifndef SOCKPOLICY_CONFORMANCE_H
#define SOCKPOLICY_CONFORMANCE_H

#include "bio.h"
#include "sysops.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>


struct api {
    const char *name;
    void *(*addr_new)(void);
    void (*addr_free)(void *a);
    int (*rawmake)(void *a, int fam, const void *w, size_t wl, unsigned short port);
    int (*family)(const void *a);
    int (*rawaddress)(const void *a, void *p, size_t *l);
    unsigned short (*rawport)(const void *a);
    int (*socket)(int d, int t, int p, int o);
    int (*bind)(int s, const void *a, int o);
    int (*connect)(int s, const void *a, int o);
    int (*listen)(int s, const void *a, int o);
    int (*accept_ex)(int s, void *a, int o);
    int (*closesocket)(int s);
    int (*sock_error)(int s);
    int (*sock_info)(int s, int type, void *a);
    int (*socket_nbio)(int s, int mode);
    int (*set_tcp_ndelay)(int s, int on);
    int (*should_retry)(int i);
    int (*non_fatal)(int e);
    unsigned long (*err_get)(const char **data);
    void (*err_clear)(void);
};

/* OpenSSL's BIO_* and our bio_*. */
extern const struct api openssl_api, ours_api;

enum op {
    OP_SOCKET, OP_BIND, OP_CONNECT, OP_LISTEN, OP_ACCEPT, OP_CLOSE, OP_SOCKERR, OP_INFO,
    OP_NBIO, OP_NDELAY, OP_RETRY, OP_RAWMAKE, OP_OVERFLOW,
};
enum fdkind {
    FD_TCP4, FD_TCP6, FD_UDP4, FD_UDP6, FD_UNIX, FD_UNIX_DGRAM, FD_UNIX_SEQ, FD_RAW, FD_PIPE,
    FD_DEVNULL, FD_CLOSED, FD_M1, FD_M2,
    FD_LISTEN4,       /* a TCP listener on 127.0.0.1, blocking, no client */
    FD_LISTEN4_NB,    /* the same, non-blocking */
    FD_LISTEN4_PEND,  /* a listener with a client waiting */
    FD_LISTEN_UNIX_PEND, /* an AF_UNIX listener with an unnamed client waiting */
    FD_BOUND4, FD_BOUND6, FD_CONNECTED4,
    FD_INPROGRESS4,   /* TCP, a non-blocking connect still in SYN_SENT (listener full) */
    FD_REFUSED4,      /* TCP, non-blocking connect to a dead port done: SO_ERROR pending */
};
enum addrkind {
    A_NONE, A_LO4_0, A_LO4_LISTEN, A_LO4_DEAD, A_LO4_INUSE, A_LO4_TIMEWAIT, A_LO6_0, A_ANY6_0,
    A_UNSPEC, A_UNIX_NEW, A_UNIX_LISTEN, A_UNIX_MISSING, A_UNIX_NOLISTEN, A_UNIX_FULL,
    A_UNIX_EMPTY, A_UNIX_STALE,
};
#define PRE_NB 0x100 /* make the subject non-blocking first */

struct kase {
    const char *name;
    enum op op;
    int fd;   /* enum fdkind | PRE_NB */
    int addr; /* enum addrkind */
    int arg;  /* options, mode, turn_on, info type... */
};

struct fixture {
    int fd, extra[24], nextra;
    char dir[48], path[96];
    struct sockaddr_storage ss;
    socklen_t sslen;
    int unspec;
};

/* The run's scratch directory, and the number of the last fixture made in it. */
extern const char *topdir;
extern int fixture_seq;

/* Fixtures (fixture.c): the subject socket of kind (enum fdkind) in f, returned; the address
 * of kind (enum addrkind) in f; that address as A's address object (NULL for none). */
int make_fd(struct fixture *f, int kind);
void make_addr(struct fixture *f, int kind);
void *api_addr(const struct api *A, struct fixture *f);


#define MAXQ 20

struct state {
    int open, nonblock, keepalive, nodelay, reuseaddr, v6only, acceptconn, type;
    int family, port_set;
    unsigned char addr[16];
};

struct outcome {
    long ret;
    int err;
    int nq;
    unsigned long code[MAXQ];
    char data[MAXQ][40];
    struct state subject, other; /* other: the fd accept returned */
    int peer_family, peer_port_set, peer_alen;
    unsigned char peer_addr[108];
};


/* Runs case k through A on a fresh fixture and records what it observes in *o (run.c). */
void run(const struct api *A, const struct kase *k, struct outcome *o);
/* Whether two observed socket states are the same. */
int same_state(const struct state *a, const struct state *b);

/* The cases (cases.c). */
extern const struct kase cases[];
extern const int ncases;

#endif
