/* tests/unit/conformance/fixture.c: the fresh fixtures each case starts from: sockets of
 * every kind the cases name (listeners, a TIME_WAIT port, a full AF_UNIX backlog, a connect
 * still in SYN_SENT...) and the addresses they are given. */
#include "conformance.h"

const char *topdir;
int fixture_seq;

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

void make_addr(struct fixture *f, int kind)
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

void *api_addr(const struct api *A, struct fixture *f)
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

int make_fd(struct fixture *f, int kind)
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
