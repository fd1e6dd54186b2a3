/* tests/unit/conformance.c: a differential test of core/ against Debian's libcrypto 3.0.
 * Each case builds the same fresh fixture twice (plain libc: sockets, listeners, a TIME_WAIT
 * port, a full AF_UNIX backlog...), runs one call through OpenSSL's BIO_* and through our
 * bio_*, and compares the return value, errno, every error-queue entry (packed code and data
 * string, via ERR_get_error_all) and the socket state afterwards (O_NONBLOCK, SO_KEEPALIVE,
 * TCP_NODELAY, SO_REUSEADDR, IPV6_V6ONLY, SO_ACCEPTCONN, SO_TYPE, getsockname, still open).
 * Ports the kernel picks differ between the two runs, so a port compares as "zero or not".
 *
 * Both headers in one file on purpose: the guards in core/bio.h are part of the contract.
 * BIO_SOCK_TFO is left out: 3.0 ignores it, ours implements 3.2's Linux TFO (core_tfo.t). */
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

#include "tap.h"

/* ---- the two implementations behind one table ---- */

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

static void *o_addr_new(void) { return BIO_ADDR_new(); }
static void o_addr_free(void *a) { BIO_ADDR_free(a); }
static int o_rawmake(void *a, int f, const void *w, size_t wl, unsigned short p)
{
    return BIO_ADDR_rawmake(a, f, w, wl, p);
}
static int o_family(const void *a) { return BIO_ADDR_family(a); }
static int o_rawaddress(const void *a, void *p, size_t *l) { return BIO_ADDR_rawaddress(a, p, l); }
static unsigned short o_rawport(const void *a) { return BIO_ADDR_rawport(a); }
static int o_bind(int s, const void *a, int o) { return BIO_bind(s, a, o); }
static int o_connect(int s, const void *a, int o) { return BIO_connect(s, a, o); }
static int o_listen(int s, const void *a, int o) { return BIO_listen(s, a, o); }
static int o_accept_ex(int s, void *a, int o) { return BIO_accept_ex(s, a, o); }
static int o_sock_info(int s, int type, void *a)
{
    union BIO_sock_info_u u;

    u.addr = a;
    return BIO_sock_info(s, (enum BIO_sock_info_type)type, &u);
}
static unsigned long o_err_get(const char **data)
{
    int flags = 0;
    unsigned long e;

    if (data)
        *data = NULL; /* an empty queue leaves it unset */
    e = ERR_get_error_all(NULL, NULL, NULL, data, &flags);

    if (data && *data && **data == 0)
        *data = NULL;
    return e;
}

static void *s_addr_new(void)
{
    bio_addr *a = calloc(1, sizeof *a);

    bio_addr_clear(a);
    return a;
}
static int s_rawmake(void *a, int f, const void *w, size_t wl, unsigned short p)
{
    return bio_addr_rawmake(a, f, w, wl, p);
}
static int s_family(const void *a) { return bio_addr_family(a); }
static int s_rawaddress(const void *a, void *p, size_t *l) { return bio_addr_rawaddress(a, p, l); }
static unsigned short s_rawport(const void *a) { return bio_addr_rawport(a); }
static int s_bind(int s, const void *a, int o) { return bio_bind(s, a, o); }
static int s_connect(int s, const void *a, int o) { return bio_connect(s, a, o); }
static int s_listen(int s, const void *a, int o) { return bio_listen(s, a, o); }
static int s_accept_ex(int s, void *a, int o) { return bio_accept_ex(s, a, o); }
static int s_sock_info(int s, int type, void *a)
{
    union bio_sock_info_u u;

    u.addr = a;
    return bio_sock_info(s, (enum bio_sock_info_type)type, &u);
}

static const struct api openssl_api = {
    "openssl",      o_addr_new,          o_addr_free,    o_rawmake,     o_family,
    o_rawaddress,   o_rawport,           BIO_socket,     o_bind,        o_connect,
    o_listen,       o_accept_ex,         BIO_closesocket, BIO_sock_error, o_sock_info,
    BIO_socket_nbio, BIO_set_tcp_ndelay, BIO_sock_should_retry, BIO_sock_non_fatal_error,
    o_err_get,      ERR_clear_error,
};
static const struct api ours_api = {
    "ours",         s_addr_new,          free,           s_rawmake,     s_family,
    s_rawaddress,   s_rawport,           bio_socket,     s_bind,        s_connect,
    s_listen,       s_accept_ex,         bio_closesocket, bio_sock_error, s_sock_info,
    bio_socket_nbio, bio_set_tcp_ndelay, bio_sock_should_retry, bio_sock_non_fatal_error,
    bio_err_get,    bio_err_clear,
};

/* ---- fixtures ---- */

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

static const char *topdir;
static int fixture_seq;

static void keep(struct fixture *f, int fd)
{
    if (fd >= 0 && f->nextra < 24)
        f->extra[f->nextra++] = fd;
}

static int port_of(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;

    getsockname(fd, (struct sockaddr *)&ss, &len);
    return ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                    : ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static int listen4(int backlog, int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

    bind(fd, (struct sockaddr *)&sin, sizeof sin);
    listen(fd, backlog);
    *port = port_of(fd);
    return fd;
}

static void set_sin(struct fixture *f, const char *ip, int port)
{
    struct sockaddr_in *s = (struct sockaddr_in *)&f->ss;

    memset(&f->ss, 0, sizeof f->ss);
    s->sin_family = AF_INET;
    s->sin_port = htons((unsigned short)port);
    inet_pton(AF_INET, ip, &s->sin_addr);
    f->sslen = sizeof *s;
}

static void set_sun(struct fixture *f, const char *name)
{
    struct sockaddr_un *s = (struct sockaddr_un *)&f->ss;

    memset(&f->ss, 0, sizeof f->ss);
    s->sun_family = AF_UNIX;
    snprintf(f->path, sizeof f->path, "%s/%s", f->dir, name);
    memcpy(s->sun_path, f->path, strlen(f->path) + 1);
    f->sslen = sizeof *s;
}

static void pause_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};

    nanosleep(&ts, NULL);
}

/* A port in TIME_WAIT on 127.0.0.1: the server side closes first. Its listener had
 * SO_REUSEADDR, which the TIME_WAIT socket inherits: Linux lets a new bind share the port only
 * when both sides asked for it. */
static int timewait_port(void)
{
    int port, l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0), s;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int));
    bind(l, (struct sockaddr *)&sin, sizeof sin);
    listen(l, 4);
    port = port_of(l);
    sin.sin_port = htons((unsigned short)port);

    connect(c, (struct sockaddr *)&sin, sizeof sin);
    s = accept(l, NULL, NULL);
    close(s);
    pause_ms(5);
    close(c);
    close(l);
    pause_ms(5);
    return port;
}

static void make_addr(struct fixture *f, int kind)
{
    int port, fd;

    f->unspec = 0;
    switch (kind) {
    case A_NONE:
    case A_LO4_0:
        set_sin(f, "127.0.0.1", 0);
        break;
    case A_LO4_LISTEN:
        keep(f, listen4(16, &port));
        set_sin(f, "127.0.0.1", port);
        break;
    case A_LO4_DEAD:
        fd = listen4(1, &port);
        close(fd);
        set_sin(f, "127.0.0.1", port);
        break;
    case A_LO4_INUSE:
        keep(f, listen4(1, &port));
        set_sin(f, "127.0.0.1", port);
        break;
    case A_LO4_TIMEWAIT:
        set_sin(f, "127.0.0.1", timewait_port());
        break;
    case A_LO6_0:
    case A_ANY6_0: {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&f->ss;

        memset(&f->ss, 0, sizeof f->ss);
        s->sin6_family = AF_INET6;
        if (kind == A_LO6_0)
            s->sin6_addr = in6addr_loopback;
        f->sslen = sizeof *s;
        break;
    }
    case A_UNSPEC:
        f->unspec = 1;
        break;
    case A_UNIX_NEW:
    case A_UNIX_MISSING:
        set_sun(f, "s");
        break;
    case A_UNIX_LISTEN:
    case A_UNIX_NOLISTEN:
    case A_UNIX_FULL:
        set_sun(f, "s");
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        bind(fd, (struct sockaddr *)&f->ss, f->sslen);
        if (kind != A_UNIX_NOLISTEN)
            listen(fd, kind == A_UNIX_FULL ? 0 : 8);
        keep(f, fd);
        if (kind == A_UNIX_FULL) {
            for (int i = 0; i < 16; i++) {
                int c = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

                keep(f, c);
                if (connect(c, (struct sockaddr *)&f->ss, f->sslen) != 0)
                    break;
            }
        }
        break;
    case A_UNIX_EMPTY:
        memset(&f->ss, 0, sizeof f->ss);
        f->ss.ss_family = AF_UNIX;
        f->sslen = sizeof(struct sockaddr_un);
        break;
    case A_UNIX_STALE: /* an accept target prefilled with a path the kernel will not overwrite */
        set_sun(f, "stale-bytes-here");
        break;
    }
}

static void *api_addr(const struct api *A, struct fixture *f)
{
    void *a = A->addr_new();
    const struct sockaddr *sa = (const struct sockaddr *)&f->ss;

    if (f->unspec)
        return a;
    if (sa->sa_family == AF_INET)
        A->rawmake(a, AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, 4,
                   ((const struct sockaddr_in *)sa)->sin_port);
    else if (sa->sa_family == AF_INET6)
        A->rawmake(a, AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16,
                   ((const struct sockaddr_in6 *)sa)->sin6_port);
    else if (sa->sa_family == AF_UNIX) {
        const char *p = ((const struct sockaddr_un *)sa)->sun_path;

        A->rawmake(a, AF_UNIX, p, strlen(p), 0);
    }
    return a;
}

static int make_fd(struct fixture *f, int kind)
{
    int fd = -1, p[2], port;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};

    switch (kind) {
    case FD_TCP4: return socket(AF_INET, SOCK_STREAM, 0);
    case FD_TCP6: return socket(AF_INET6, SOCK_STREAM, 0);
    case FD_UDP4: return socket(AF_INET, SOCK_DGRAM, 0);
    case FD_UDP6: return socket(AF_INET6, SOCK_DGRAM, 0);
    case FD_UNIX: return socket(AF_UNIX, SOCK_STREAM, 0);
    case FD_UNIX_DGRAM: return socket(AF_UNIX, SOCK_DGRAM, 0);
    case FD_UNIX_SEQ: return socket(AF_UNIX, SOCK_SEQPACKET, 0);
    case FD_RAW: return socket(AF_INET, SOCK_RAW, IPPROTO_UDP);
    case FD_PIPE:
        if (pipe(p) != 0)
            return -1;
        keep(f, p[1]);
        return p[0];
    case FD_DEVNULL: return open("/dev/null", O_RDWR);
    case FD_CLOSED:
        fd = dup(0);
        close(fd);
        return fd;
    case FD_M1: return -1;
    case FD_M2: return -2;
    case FD_LISTEN4:
    case FD_LISTEN4_NB:
        fd = listen4(8, &port);
        if (kind == FD_LISTEN4_NB)
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        return fd;
    case FD_LISTEN4_PEND: {
        int c = socket(AF_INET, SOCK_STREAM, 0);

        fd = listen4(8, &port);
        sin.sin_port = htons((unsigned short)port);
        connect(c, (struct sockaddr *)&sin, sizeof sin);
        keep(f, c);
        return fd;
    }
    case FD_LISTEN_UNIX_PEND: {
        struct sockaddr_un sun;
        int c = socket(AF_UNIX, SOCK_STREAM, 0);

        memset(&sun, 0, sizeof sun);
        sun.sun_family = AF_UNIX;
        snprintf(sun.sun_path, sizeof sun.sun_path, "%s/l", f->dir);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        bind(fd, (struct sockaddr *)&sun, sizeof sun);
        listen(fd, 8);
        connect(c, (struct sockaddr *)&sun, sizeof sun);
        keep(f, c);
        return fd;
    }
    case FD_BOUND4:
        fd = socket(AF_INET, SOCK_STREAM, 0);
        bind(fd, (struct sockaddr *)&sin, sizeof sin);
        return fd;
    case FD_BOUND6:
        fd = socket(AF_INET6, SOCK_STREAM, 0);
        bind(fd, (struct sockaddr *)&s6, sizeof s6);
        return fd;
    case FD_CONNECTED4:
        keep(f, listen4(8, &port));
        fd = socket(AF_INET, SOCK_STREAM, 0);
        sin.sin_port = htons((unsigned short)port);
        connect(fd, (struct sockaddr *)&sin, sizeof sin);
        return fd;
    case FD_INPROGRESS4: {
        /* Backlog 0 holds one connection; with it queued, further SYNs are dropped and a
         * non-blocking connect stays in SYN_SENT long enough to see EALREADY. */
        int l = listen4(0, &port), c = socket(AF_INET, SOCK_STREAM, 0);

        keep(f, l);
        sin.sin_port = htons((unsigned short)port);
        connect(c, (struct sockaddr *)&sin, sizeof sin);
        keep(f, c);
        pause_ms(5);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fd, (struct sockaddr *)&sin, sizeof sin);
        return fd;
    }
    case FD_REFUSED4: {
        int l = listen4(1, &port);

        close(l);
        sin.sin_port = htons((unsigned short)port);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fd, (struct sockaddr *)&sin, sizeof sin);
        pause_ms(5);
        return fd;
    }
    }
    return -1;
}

/* ---- what a run observes ---- */

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

static int getint(int fd, int level, int name)
{
    int v = 0;
    socklen_t len = sizeof v;

    if (getsockopt(fd, level, name, &v, &len) != 0)
        return -1000 - errno;
    return v;
}

static void read_state(int fd, struct state *s)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fl;

    memset(s, 0, sizeof *s);
    if (fd < 0 || (fl = fcntl(fd, F_GETFL)) == -1)
        return;
    s->open = 1;
    s->nonblock = (fl & O_NONBLOCK) != 0;
    s->keepalive = getint(fd, SOL_SOCKET, SO_KEEPALIVE);
    s->nodelay = getint(fd, IPPROTO_TCP, TCP_NODELAY);
    s->reuseaddr = getint(fd, SOL_SOCKET, SO_REUSEADDR);
    s->v6only = getint(fd, IPPROTO_IPV6, IPV6_V6ONLY);
    s->acceptconn = getint(fd, SOL_SOCKET, SO_ACCEPTCONN);
    s->type = getint(fd, SOL_SOCKET, SO_TYPE);
    memset(&ss, 0, sizeof ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        s->family = -1000 - errno;
        return;
    }
    s->family = ss.ss_family;
    if (ss.ss_family == AF_INET) {
        s->port_set = ((struct sockaddr_in *)&ss)->sin_port != 0;
        memcpy(s->addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
    } else if (ss.ss_family == AF_INET6) {
        s->port_set = ((struct sockaddr_in6 *)&ss)->sin6_port != 0;
        memcpy(s->addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
    } else if (ss.ss_family == AF_UNIX) {
        /* the path differs between runs (its own directory); compare whether it has one */
        s->port_set = len > sizeof(sa_family_t);
    }
}

static void run(const struct api *A, const struct kase *k, struct outcome *o)
{
    struct fixture f;
    void *addr = NULL, *peer = NULL;
    int i, newfd = -1;
    const char *data;

    memset(&f, 0, sizeof f);
    memset(o, 0, sizeof *o);
    o->peer_alen = -1;
    snprintf(f.dir, sizeof f.dir, "%s/%d", topdir, ++fixture_seq);
    mkdir(f.dir, 0700);
    make_addr(&f, k->addr);
    f.fd = make_fd(&f, k->fd & 0xff);
    if (k->fd & PRE_NB)
        fcntl(f.fd, F_SETFL, fcntl(f.fd, F_GETFL) | O_NONBLOCK);
    addr = api_addr(A, &f);
    A->err_clear();
    errno = 31337;
    switch (k->op) {
    case OP_SOCKET:
        o->ret = newfd = A->socket(k->arg >> 16, (k->arg >> 8) & 0xff, k->arg & 0xff, 0x1f);
        break;
    case OP_BIND: o->ret = A->bind(f.fd, addr, k->arg); break;
    case OP_CONNECT: o->ret = A->connect(f.fd, addr, k->arg); break;
    case OP_LISTEN: o->ret = A->listen(f.fd, addr, k->arg); break;
    case OP_ACCEPT:
        peer = k->addr == A_NONE ? NULL : addr;
        o->ret = newfd = A->accept_ex(f.fd, peer, k->arg);
        break;
    case OP_CLOSE:
        o->ret = A->closesocket(k->fd == FD_M2 ? -5 : f.fd);
        break;
    case OP_SOCKERR: o->ret = A->sock_error(f.fd); break;
    case OP_INFO: o->ret = A->sock_info(f.fd, k->arg, addr); peer = addr; break;
    case OP_NBIO: o->ret = A->socket_nbio(f.fd, k->arg); break;
    case OP_NDELAY: o->ret = A->set_tcp_ndelay(f.fd, k->arg); break;
    case OP_RETRY: /* a bitmap over errno 0..140 and i in {-2,-1,0,1} */
        for (i = 0; i <= 140; i++) {
            errno = i;
            o->ret = o->ret * 3 + A->non_fatal(i) + A->should_retry(k->arg);
            o->ret %= 1000000007L;
        }
        errno = 31337;
        break;
    case OP_RAWMAKE: {
        /* k->arg selects the shape; the result is read back through the accessors */
        static const char longp[] = "/tmp/0123456789012345678901234567890123456789012345678901"
                                    "23456789012345678901234567890123456789012345678901234";
        unsigned char in6[16] = {0xfe, 0x80, [15] = 1}, in4[4] = {10, 1, 2, 3};
        void *b = A->addr_new();

        switch (k->arg) {
        case 0: o->ret = A->rawmake(b, AF_INET, in4, 4, htons(443)); break;
        case 1: o->ret = A->rawmake(b, AF_INET, in4, 3, htons(443)); break;
        case 2: o->ret = A->rawmake(b, AF_INET6, in6, 16, htons(8443)); break;
        case 3: o->ret = A->rawmake(b, AF_INET6, in6, 4, 1); break;
        case 4: o->ret = A->rawmake(b, AF_UNIX, longp, 107, 99); break;
        case 5:
            A->rawmake(b, AF_INET, in4, 4, htons(1));
            o->ret = A->rawmake(b, AF_UNIX, longp, 108, 0); /* fails, leaves b alone */
            break;
        case 6: o->ret = A->rawmake(b, AF_UNIX, "/run/x.sock-and-more", 6, 0); break;
        case 7: o->ret = A->rawmake(b, 12345, in4, 4, 0); break;
        case 8: o->ret = 0; break; /* a fresh AF_UNSPEC address */
        }
        o->peer_family = A->family(b);
        o->peer_port_set = A->rawport(b);
        i = A->rawaddress(b, NULL, NULL);
        {
            size_t l = 0;

            if (i && A->rawaddress(b, o->peer_addr, &l))
                o->peer_alen = (int)l;
            else
                o->peer_alen = -1;
        }
        A->addr_free(b);
        break;
    }
    case OP_OVERFLOW: /* ten failing binds push twenty entries */
        for (i = 0; i < 10; i++)
            o->ret += A->bind(-2, addr, i & 1);
        break;
    }
    o->err = errno;
    while (o->nq < MAXQ && (o->code[o->nq] = A->err_get(&data)) != 0) {
        snprintf(o->data[o->nq], sizeof o->data[0], "%s", data ? data : "");
        o->nq++;
    }
    if ((k->op == OP_SOCKET || k->op == OP_ACCEPT) && o->ret >= 0)
        o->ret = 1000; /* an fd: its number is not part of the behaviour */
    read_state(k->op == OP_CLOSE && k->fd == FD_TCP4 ? -1 : f.fd, &o->subject);
    if (k->op == OP_CLOSE && k->fd == FD_TCP4)
        o->subject.open = fcntl(f.fd, F_GETFD) != -1;
    read_state(newfd, &o->other);
    if (peer && (o->ret == 1000 || k->op == OP_INFO)) {
        size_t l = 0;

        o->peer_family = A->family(peer);
        o->peer_port_set = A->rawport(peer) != 0;
        if (A->rawaddress(peer, o->peer_addr, &l))
            o->peer_alen = (int)l;
        if (o->peer_family == AF_UNIX && o->peer_alen > 0) { /* paths embed the run's dir */
            char base[108];
            const char *slash = strrchr((char *)o->peer_addr, '/');

            snprintf(base, sizeof base, "%s", slash ? slash + 1 : (char *)o->peer_addr);
            memset(o->peer_addr, 0, sizeof o->peer_addr);
            memcpy(o->peer_addr, base, strlen(base));
            o->peer_alen = (int)strlen(base);
        }
    }
    if (newfd >= 0)
        close(newfd);
    if (f.fd >= 0 && k->op != OP_CLOSE)
        close(f.fd);
    if (k->op == OP_CLOSE && k->fd != FD_TCP4 && f.fd >= 0)
        close(f.fd);
    for (i = 0; i < f.nextra; i++)
        close(f.extra[i]);
    if (addr)
        A->addr_free(addr);
    if (f.path[0])
        unlink(f.path);
    {
        char l[160];

        snprintf(l, sizeof l, "%s/l", f.dir);
        unlink(l);
    }
    rmdir(f.dir);
}

static int same_state(const struct state *a, const struct state *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}

static void show(const char *who, const struct outcome *o)
{
    int i;

    diag("  %-8s ret=%ld errno=%d(%s) queue=%d", who, o->ret, o->err,
         bio_errno_name(o->err) ? bio_errno_name(o->err) : "?", o->nq);
    for (i = 0; i < o->nq; i++)
        diag("  %-8s   %08lx \"%s\"", who, o->code[i], o->data[i]);
    diag("  %-8s subject open=%d nb=%d ka=%d nd=%d ra=%d v6=%d acc=%d type=%d fam=%d port=%d", who,
         o->subject.open, o->subject.nonblock, o->subject.keepalive, o->subject.nodelay,
         o->subject.reuseaddr, o->subject.v6only, o->subject.acceptconn, o->subject.type,
         o->subject.family, o->subject.port_set);
    diag("  %-8s other open=%d nb=%d; peer fam=%d port=%d alen=%d", who, o->other.open,
         o->other.nonblock, o->peer_family, o->peer_port_set, o->peer_alen);
}

#define SOCKARGS(d, t, p) (((d) << 16) | ((t) << 8) | (p))
#define KA BIO_SOCK_KEEPALIVE
#define ND BIO_SOCK_NODELAY
#define NB BIO_SOCK_NONBLOCK
#define RA BIO_SOCK_REUSEADDR
#define V6 BIO_SOCK_V6_ONLY

static const struct kase cases[] = {
    /* BIO_socket: options ignored; failures */
    {"socket AF_INET stream, options ignored", OP_SOCKET, FD_M1, A_NONE, SOCKARGS(AF_INET, SOCK_STREAM, 0)},
    {"socket AF_UNIX dgram", OP_SOCKET, FD_M1, A_NONE, SOCKARGS(AF_UNIX, SOCK_DGRAM, 0)},
    {"socket bogus family", OP_SOCKET, FD_M1, A_NONE, SOCKARGS(200, SOCK_STREAM, 0)},
    {"socket stream with UDP protocol", OP_SOCKET, FD_M1, A_NONE, SOCKARGS(AF_INET, SOCK_STREAM, IPPROTO_UDP)},
    /* BIO_bind */
    {"bind -1 (invalid socket, no syscall)", OP_BIND, FD_M1, A_LO4_0, RA},
    {"bind -2 reaches the kernel", OP_BIND, FD_M2, A_LO4_0, 0},
    {"bind closed fd", OP_BIND, FD_CLOSED, A_LO4_0, 0},
    {"bind closed fd REUSEADDR", OP_BIND, FD_CLOSED, A_LO4_0, RA},
    {"bind pipe", OP_BIND, FD_PIPE, A_LO4_0, 0},
    {"bind TCP REUSEADDR", OP_BIND, FD_TCP4, A_LO4_0, RA},
    {"bind ignores every other flag, keeps O_NONBLOCK", OP_BIND, FD_TCP4 | PRE_NB, A_LO4_0, KA | ND | NB | V6},
    {"bind a port in use", OP_BIND, FD_TCP4, A_LO4_INUSE, RA},
    {"bind a TIME_WAIT port without REUSEADDR", OP_BIND, FD_TCP4, A_LO4_TIMEWAIT, 0},
    {"bind a TIME_WAIT port with REUSEADDR", OP_BIND, FD_TCP4, A_LO4_TIMEWAIT, RA},
    {"bind UDP", OP_BIND, FD_UDP4, A_LO4_0, 0},
    {"bind AF_UNIX path (length 110)", OP_BIND, FD_UNIX, A_UNIX_NEW, RA},
    {"bind AF_UNIX existing path, REUSEADDR no help", OP_BIND, FD_UNIX, A_UNIX_NOLISTEN, RA},
    {"bind AF_UNSPEC on AF_INET (INADDR_ANY:0)", OP_BIND, FD_TCP4, A_UNSPEC, 0},
    {"bind AF_UNSPEC on AF_INET6", OP_BIND, FD_TCP6, A_UNSPEC, 0},
    {"bind AF_UNIX empty path (abstract NULs)", OP_BIND, FD_UNIX, A_UNIX_EMPTY, 0},
    {"bind AF_INET6 ::1", OP_BIND, FD_TCP6, A_LO6_0, RA},
    {"bind AF_INET6 address on AF_INET socket", OP_BIND, FD_TCP4, A_LO6_0, 0},
    /* BIO_connect */
    {"connect -1", OP_CONNECT, FD_M1, A_LO4_LISTEN, 0},
    {"connect -2: ioctl entry only", OP_CONNECT, FD_M2, A_LO4_LISTEN, KA},
    {"connect closed fd", OP_CONNECT, FD_CLOSED, A_LO4_LISTEN, NB},
    {"connect pipe: FIONBIO works, connect ENOTSOCK", OP_CONNECT, FD_PIPE | PRE_NB, A_LO4_LISTEN, 0},
    {"connect pipe KEEPALIVE", OP_CONNECT, FD_PIPE, A_LO4_LISTEN, KA},
    {"connect /dev/null", OP_CONNECT, FD_DEVNULL, A_LO4_LISTEN, NB},
    {"connect blocking forces blocking mode", OP_CONNECT, FD_TCP4 | PRE_NB, A_LO4_LISTEN, 0},
    {"connect KEEPALIVE|NODELAY", OP_CONNECT, FD_TCP4, A_LO4_LISTEN, KA | ND},
    {"connect ignores REUSEADDR and V6_ONLY", OP_CONNECT, FD_TCP4, A_LO4_LISTEN, RA | V6},
    {"connect NONBLOCK: EINPROGRESS, queue empty", OP_CONNECT, FD_TCP4, A_LO4_LISTEN, NB},
    {"connect NONBLOCK|KEEPALIVE|NODELAY", OP_CONNECT, FD_TCP4, A_LO4_LISTEN, NB | KA | ND},
    {"connect refused", OP_CONNECT, FD_TCP4, A_LO4_DEAD, 0},
    {"connect refused with options set first", OP_CONNECT, FD_TCP4, A_LO4_DEAD, KA | ND},
    {"connect while in progress: EALREADY", OP_CONNECT, FD_INPROGRESS4, A_LO4_LISTEN, NB},
    {"connect already connected: EISCONN", OP_CONNECT, FD_CONNECTED4, A_LO4_LISTEN, 0},
    {"connect UDP NODELAY fails after KEEPALIVE", OP_CONNECT, FD_UDP4, A_LO4_LISTEN, KA | ND},
    {"connect UDP KEEPALIVE succeeds", OP_CONNECT, FD_UDP4, A_LO4_LISTEN, KA},
    {"connect UDP NONBLOCK returns 1", OP_CONNECT, FD_UDP4, A_LO4_DEAD, NB},
    {"connect UDP6 NODELAY", OP_CONNECT, FD_UDP6, A_LO6_0, ND},
    {"connect AF_UNIX NODELAY: EOPNOTSUPP", OP_CONNECT, FD_UNIX, A_UNIX_LISTEN, ND},
    {"connect AF_UNIX KEEPALIVE", OP_CONNECT, FD_UNIX, A_UNIX_LISTEN, KA},
    {"connect AF_UNIX NONBLOCK never EINPROGRESS", OP_CONNECT, FD_UNIX, A_UNIX_LISTEN, NB},
    {"connect AF_UNIX missing path: ENOENT", OP_CONNECT, FD_UNIX, A_UNIX_MISSING, 0},
    {"connect AF_UNIX not listening: ECONNREFUSED", OP_CONNECT, FD_UNIX, A_UNIX_NOLISTEN, 0},
    {"connect AF_UNIX full backlog: EAGAIN non-fatal", OP_CONNECT, FD_UNIX, A_UNIX_FULL, NB},
    {"connect AF_UNSPEC on UDP (dissolve): 1", OP_CONNECT, FD_UDP4, A_UNSPEC, 0},
    {"connect AF_UNSPEC on TCP: 1", OP_CONNECT, FD_TCP4, A_UNSPEC, 0},
    {"connect AF_UNSPEC on AF_UNIX stream: EINVAL", OP_CONNECT, FD_UNIX, A_UNSPEC, 0},
    {"connect AF_UNSPEC on AF_UNIX dgram: 1", OP_CONNECT, FD_UNIX_DGRAM, A_UNSPEC, 0},
    {"connect AF_INET6 address on AF_INET socket", OP_CONNECT, FD_TCP4, A_LO6_0, 0},
    /* BIO_listen */
    {"listen -1", OP_LISTEN, FD_M1, A_LO4_0, 0},
    {"listen -2: getting socktype", OP_LISTEN, FD_M2, A_LO4_0, 0},
    {"listen closed fd", OP_LISTEN, FD_CLOSED, A_LO4_0, RA},
    {"listen pipe", OP_LISTEN, FD_PIPE, A_LO4_0, 0},
    {"listen TCP forces blocking mode", OP_LISTEN, FD_TCP4 | PRE_NB, A_LO4_0, 0},
    {"listen TCP all flags", OP_LISTEN, FD_TCP4, A_LO4_0, RA | KA | ND | NB | V6},
    {"listen AF_INET6 without V6_ONLY writes 0", OP_LISTEN, FD_TCP6, A_ANY6_0, RA},
    {"listen AF_INET6 with V6_ONLY", OP_LISTEN, FD_TCP6, A_ANY6_0, V6 | NB},
    {"listen AF_INET6 ::1", OP_LISTEN, FD_TCP6, A_LO6_0, 0},
    {"listen AF_INET socket, AF_INET6 address: LISTEN_V6_ONLY", OP_LISTEN, FD_TCP4, A_ANY6_0, 0},
    {"listen on a bound AF_INET socket binds twice", OP_LISTEN, FD_BOUND4, A_LO4_0, 0},
    {"listen on a bound AF_INET6 socket: V6ONLY EINVAL", OP_LISTEN, FD_BOUND6, A_ANY6_0, 0},
    {"listen UDP: no listen()", OP_LISTEN, FD_UDP4, A_LO4_0, NB | RA},
    {"listen UDP NODELAY", OP_LISTEN, FD_UDP4, A_LO4_0, KA | ND},
    {"listen UDP6 V6_ONLY", OP_LISTEN, FD_UDP6, A_ANY6_0, V6},
    {"listen AF_UNIX stream", OP_LISTEN, FD_UNIX, A_UNIX_NEW, RA | NB},
    {"listen AF_UNIX NODELAY", OP_LISTEN, FD_UNIX, A_UNIX_NEW, ND},
    {"listen AF_UNIX SEQPACKET gets listen()", OP_LISTEN, FD_UNIX_SEQ, A_UNIX_NEW, 0},
    {"listen AF_UNIX dgram", OP_LISTEN, FD_UNIX_DGRAM, A_UNIX_NEW, KA},
    {"listen AF_UNIX path in use", OP_LISTEN, FD_UNIX, A_UNIX_LISTEN, RA},
    {"listen RAW: EOPNOTSUPP", OP_LISTEN, FD_RAW, A_LO4_0, 0},
    {"listen AF_UNSPEC on AF_INET", OP_LISTEN, FD_TCP4, A_UNSPEC, 0},
    {"listen AF_UNSPEC on AF_INET6", OP_LISTEN, FD_TCP6, A_UNSPEC, 0},
    {"listen port in use with REUSEADDR", OP_LISTEN, FD_TCP4, A_LO4_INUSE, RA},
    {"listen TIME_WAIT port with REUSEADDR", OP_LISTEN, FD_TCP4, A_LO4_TIMEWAIT, RA},
    {"listen on a connected socket", OP_LISTEN, FD_CONNECTED4, A_LO4_0, 0},
    /* BIO_accept_ex */
    {"accept -1: no pre-check", OP_ACCEPT, FD_M1, A_LO4_0, 0},
    {"accept closed fd", OP_ACCEPT, FD_CLOSED, A_LO4_0, NB},
    {"accept non-listening socket: EINVAL", OP_ACCEPT, FD_TCP4, A_LO4_0, 0},
    {"accept pipe: ENOTSOCK", OP_ACCEPT, FD_PIPE, A_LO4_0, 0},
    {"accept UDP: EOPNOTSUPP", OP_ACCEPT, FD_UDP4, A_LO4_0, 0},
    {"accept empty non-blocking listener: EAGAIN", OP_ACCEPT, FD_LISTEN4_NB, A_LO4_0, NB},
    {"accept empty listener, flag 0: EAGAIN", OP_ACCEPT, FD_LISTEN4_NB, A_LO4_0, 0},
    {"accept NONBLOCK", OP_ACCEPT, FD_LISTEN4_PEND, A_LO4_0, NB},
    {"accept ignores KEEPALIVE|NODELAY", OP_ACCEPT, FD_LISTEN4_PEND, A_LO4_0, KA | ND},
    {"accept NULL peer", OP_ACCEPT, FD_LISTEN4_PEND, A_NONE, 0},
    {"accept unnamed AF_UNIX peer keeps stale bytes", OP_ACCEPT, FD_LISTEN_UNIX_PEND, A_UNIX_STALE, 0},
    /* BIO_closesocket, BIO_sock_error */
    {"closesocket negative fd", OP_CLOSE, FD_M2, A_NONE, 0},
    {"closesocket open fd", OP_CLOSE, FD_TCP4, A_NONE, 0},
    {"closesocket closed fd", OP_CLOSE, FD_CLOSED, A_NONE, 0},
    {"sock_error fresh socket", OP_SOCKERR, FD_TCP4, A_NONE, 0},
    {"sock_error closed fd", OP_SOCKERR, FD_CLOSED, A_NONE, 0},
    {"sock_error pipe", OP_SOCKERR, FD_PIPE, A_NONE, 0},
    {"sock_error pending ECONNREFUSED", OP_SOCKERR, FD_REFUSED4, A_NONE, 0},
    /* BIO_sock_info */
    {"sock_info unknown type", OP_INFO, FD_TCP4, A_LO4_0, 1},
    {"sock_info closed fd", OP_INFO, FD_CLOSED, A_LO4_0, 0},
    {"sock_info pipe", OP_INFO, FD_PIPE, A_LO4_0, 0},
    {"sock_info bound TCP", OP_INFO, FD_BOUND4, A_LO4_0, 0},
    {"sock_info unbound AF_INET6", OP_INFO, FD_TCP6, A_LO4_0, 0},
    {"sock_info unnamed AF_UNIX", OP_INFO, FD_UNIX, A_LO4_0, 0},
    /* BIO_socket_nbio, BIO_set_tcp_ndelay */
    {"socket_nbio 1", OP_NBIO, FD_TCP4, A_NONE, 1},
    {"socket_nbio 0 clears", OP_NBIO, FD_TCP4 | PRE_NB, A_NONE, 0},
    {"socket_nbio 2", OP_NBIO, FD_TCP4, A_NONE, 2},
    {"socket_nbio pipe", OP_NBIO, FD_PIPE, A_NONE, 1},
    {"socket_nbio closed fd", OP_NBIO, FD_CLOSED, A_NONE, 1},
    {"set_tcp_ndelay 1", OP_NDELAY, FD_TCP4, A_NONE, 1},
    {"set_tcp_ndelay 0", OP_NDELAY, FD_TCP4, A_NONE, 0},
    {"set_tcp_ndelay 7 passed through", OP_NDELAY, FD_TCP6, A_NONE, 7},
    {"set_tcp_ndelay UDP: no queue entry", OP_NDELAY, FD_UDP4, A_NONE, 1},
    {"set_tcp_ndelay closed fd", OP_NDELAY, FD_CLOSED, A_NONE, 1},
    /* retry predicates over errno 0..140 */
    {"should_retry(-2) and non_fatal, errno 0..140", OP_RETRY, FD_M1, A_NONE, -2},
    {"should_retry(-1) and non_fatal, errno 0..140", OP_RETRY, FD_M1, A_NONE, -1},
    {"should_retry(0) and non_fatal, errno 0..140", OP_RETRY, FD_M1, A_NONE, 0},
    {"should_retry(1) and non_fatal, errno 0..140", OP_RETRY, FD_M1, A_NONE, 1},
    /* addresses */
    {"rawmake AF_INET", OP_RAWMAKE, FD_M1, A_NONE, 0},
    {"rawmake AF_INET wrong length", OP_RAWMAKE, FD_M1, A_NONE, 1},
    {"rawmake AF_INET6", OP_RAWMAKE, FD_M1, A_NONE, 2},
    {"rawmake AF_INET6 wrong length", OP_RAWMAKE, FD_M1, A_NONE, 3},
    {"rawmake AF_UNIX 107 bytes", OP_RAWMAKE, FD_M1, A_NONE, 4},
    {"rawmake AF_UNIX 108 bytes fails, address unchanged", OP_RAWMAKE, FD_M1, A_NONE, 5},
    {"rawmake AF_UNIX copies past wherelen (strncpy)", OP_RAWMAKE, FD_M1, A_NONE, 6},
    {"rawmake unknown family", OP_RAWMAKE, FD_M1, A_NONE, 7},
    {"fresh address is AF_UNSPEC", OP_RAWMAKE, FD_M1, A_NONE, 8},
    /* the queue itself */
    {"error queue overflow keeps the newest 15", OP_OVERFLOW, FD_M1, A_LO4_0, 0},
};

int main(void)
{
    char tmpl[] = "/tmp/sp_conformance.XXXXXX";
    int n = (int)(sizeof cases / sizeof cases[0]), agree = 0, i;
    struct outcome a, b;
    int have6;

    topdir = mkdtemp(tmpl);
    /* Initialise libcrypto's error machinery once, so it adds nothing during a case. */
    ERR_clear_error();
    OPENSSL_init_crypto(0, NULL);
    {
        int fd = socket(AF_INET6, SOCK_DGRAM, 0);

        have6 = fd >= 0;
        if (fd >= 0)
            close(fd);
    }
    for (i = 0; i < n; i++) {
        if (!have6 && (cases[i].fd == FD_TCP6 || cases[i].fd == FD_UDP6)) {
            skip("%s: no IPv6", cases[i].name);
            agree++;
            continue;
        }
        run(&openssl_api, &cases[i], &a);
        run(&ours_api, &cases[i], &b);
        if (a.ret == b.ret && a.err == b.err && a.nq == b.nq &&
            memcmp(a.code, b.code, sizeof a.code) == 0 && memcmp(a.data, b.data, sizeof a.data) == 0 &&
            same_state(&a.subject, &b.subject) && same_state(&a.other, &b.other) &&
            a.peer_family == b.peer_family && a.peer_port_set == b.peer_port_set &&
            a.peer_alen == b.peer_alen && memcmp(a.peer_addr, b.peer_addr, sizeof a.peer_addr) == 0) {
            agree++;
            ok(1, "%s", cases[i].name);
            if (getenv("CONFORMANCE_VERBOSE"))
                show("both", &a);
        } else {
            ok(0, "%s", cases[i].name);
            show("openssl", &a);
            show("ours", &b);
        }
    }
    rmdir(topdir);
    printf("# conformance: %d cases, %d agree\n", n, agree);
    return done_testing();
}
