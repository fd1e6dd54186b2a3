/* tests/unit/conformance/run.c: one case on a fresh fixture, and what it leaves behind: the
 * return value, errno, the error queue and the state of the sockets. */
#include "conformance.h"

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

void run(const struct api *A, const struct kase *k, struct outcome *o)
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

int same_state(const struct state *a, const struct state *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}
