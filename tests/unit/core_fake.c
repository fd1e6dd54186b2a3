/* tests/unit/core_fake.c: fake sysops that log every call core/ makes and inject errors the
 * kernel will not give on demand: the FIONBIO ioctl failing after accept (the new fd must be
 * closed), EINTR/EPROTO/ECONNABORTED, a short SO_TYPE, a truncated getsockname, listen() and
 * TFO refusals; and the exact call order of bio_listen and bio_connect (strace shape). */
#include "core_helpers.h"

#include <stdarg.h>
#include <stdlib.h>
#include <sys/ioctl.h>

#include "sysops.h"

/* Injection: the nth call (1-based) named fail_call fails with fail_errno. */
static const char *fail_call;
static int fail_nth, fail_errno, calls_seen;
static int short_sotype, long_sockname;
static int closed_fd = -2;
static char calllog[2048];

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
    size_t n = strlen(calllog);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(calllog + n, sizeof calllog - n, fmt, ap);
    va_end(ap);
}

static int inject(const char *call)
{
    if (fail_call && strcmp(call, fail_call) == 0 && ++calls_seen == fail_nth) {
        errno = fail_errno;
        return 1;
    }
    return 0;
}

static int f_socket(int d, int t, int p)
{
    logf_("socket;");
    return inject("socket") ? -1 : socket(d, t, p);
}
static int f_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
    logf_("bind(%u);", (unsigned)len);
    return inject("bind") ? -1 : bind(fd, sa, len);
}
static int f_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    logf_("connect(%u);", (unsigned)len);
    return inject("connect") ? -1 : connect(fd, sa, len);
}
static int f_listen(int fd, int backlog)
{
    logf_("listen(%d);", backlog);
    return inject("listen") ? -1 : listen(fd, backlog);
}
static int f_accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    logf_("accept;");
    return inject("accept") ? -1 : accept(fd, sa, len);
}
static int f_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    logf_("accept4;");
    return inject("accept") ? -1 : accept4(fd, sa, len, flags);
}
static int f_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    logf_("setsockopt(%d,%d,%d);", level, name, len == sizeof(int) ? *(const int *)val : -1);
    return inject("setsockopt") ? -1 : setsockopt(fd, level, name, val, len);
}
static int f_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    int r;

    logf_("getsockopt(%d,%d);", level, name);
    if (inject("getsockopt"))
        return -1;
    r = getsockopt(fd, level, name, val, len);
    if (r == 0 && short_sotype && level == SOL_SOCKET && name == SO_TYPE) {
        *len = 2;
        errno = 0;
    }
    return r;
}
static int f_getsockname(int fd, struct sockaddr *sa, socklen_t *len)
{
    int r;

    logf_("getsockname;");
    if (inject("getsockname"))
        return -1;
    r = getsockname(fd, sa, len);
    if (r == 0 && long_sockname)
        *len = sizeof(bio_addr) + 4;
    return r;
}
static int f_ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    int *arg;

    va_start(ap, req);
    arg = va_arg(ap, int *);
    va_end(ap);
    logf_("ioctl(%d);", *arg);
    return inject("ioctl") ? -1 : ioctl(fd, req, arg);
}
static int f_fcntl(int fd, int cmd, ...)
{
    va_list ap;
    long arg;

    va_start(ap, cmd);
    arg = va_arg(ap, long);
    va_end(ap);
    logf_("fcntl;");
    return inject("fcntl") ? -1 : fcntl(fd, cmd, arg);
}
static int f_close(int fd)
{
    logf_("close;");
    closed_fd = fd;
    errno = EIO; /* a close that dirties errno: the caller must not see it */
    return close(fd);
}

static const struct bio_sysops fake = {
    f_socket, f_bind,      f_connect,     f_listen, f_accept, f_accept4,
    f_setsockopt, f_getsockopt, f_getsockname, f_ioctl, f_fcntl, f_close,
};

static void arm(const char *call, int nth, int err)
{
    fail_call = call;
    fail_nth = nth;
    fail_errno = err;
    calls_seen = 0;
    calllog[0] = 0;
}

static int listener(bio_addr *a)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    *a = addr4("127.0.0.1", 0);
    bind(fd, &a->sa, sizeof a->s_in);
    listen(fd, 8);
    *a = addr4("127.0.0.1", (unsigned short)local_port(fd));
    return fd;
}

static void test_accept_ioctl_fails(void)
{
    bio_addr a, peer;
    int lfd = listener(&a), c = socket(AF_INET, SOCK_STREAM, 0), r;

    connect(c, &a.sa, sizeof a.s_in);
    arm("ioctl", 1, ENOTTY);
    closed_fd = -2;
    errno = 0;
    r = bio_accept_ex(lfd, &peer, BIO_SOCK_NONBLOCK);
    is_int(r, -1, "accept + failing FIONBIO: -1");
    is_int(errno, ENOTTY, "errno is the ioctl's, not close's");
    ok(closed_fd >= 0 && !fd_is_open(closed_fd), "the accepted fd was closed");
    is_str(calllog, "accept;ioctl(1);close;", "accept -> ioctl -> close");
    QUEUE1("accept ioctl failure", SYS(ENOTTY), "calling ioctlsocket()");
    close(c);
    close(lfd);
}

/* bio_accept_ex always sets the mode (BIO does); the accept4 variant only when accept4's
 * flags did not already give the mode asked for. */
static void test_accept_sa_mode(void)
{
    static const struct {
        int options, flags;
        const char *log;
        int nonblock;
    } cases[] = {
        {0, 0, "accept;", 0},
        {0, SOCK_CLOEXEC, "accept4;", 0},
        {0, SOCK_NONBLOCK, "accept4;", 1},
        {BIO_SOCK_NONBLOCK, SOCK_NONBLOCK, "accept4;", 1},
        {BIO_SOCK_NONBLOCK, 0, "accept;ioctl(1);", 1},
        {BIO_SOCK_NONBLOCK, SOCK_CLOEXEC, "accept4;ioctl(1);", 1},
    };
    bio_addr a;
    int lfd = listener(&a);

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0), r;

        connect(c, &a.sa, sizeof a.s_in);
        calllog[0] = 0;
        r = bio_accept_sa(lfd, NULL, NULL, cases[i].options, cases[i].flags);
        ok(r >= 0, "bio_accept_sa options %#x flags %#x accepts", cases[i].options,
           (unsigned)cases[i].flags);
        is_str(calllog, cases[i].log, "bio_accept_sa options %#x flags %#x: calls",
               cases[i].options, (unsigned)cases[i].flags);
        is_int(is_nonblock(r), cases[i].nonblock, "bio_accept_sa options %#x flags %#x: mode",
               cases[i].options, (unsigned)cases[i].flags);
        close(r);
        close(c);
    }
    {
        int c = socket(AF_INET, SOCK_STREAM, 0), r;

        connect(c, &a.sa, sizeof a.s_in);
        calllog[0] = 0;
        r = bio_accept_ex(lfd, NULL, 0);
        is_str(calllog, "accept;ioctl(0);", "bio_accept_ex sets blocking mode even so");
        close(r);
        close(c);
    }
    close(lfd);
}

/* SP_BIO_KEEP_MODE: bio_connect_sa leaves the mode alone; bio_connect ignores the bit. */
static void test_connect_keep_mode(void)
{
    bio_addr a;
    int lfd = listener(&a), fd;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    calllog[0] = 0;
    is_int(bio_connect_sa(fd, &a.sa, sizeof a.s_in, SP_BIO_KEEP_MODE), 0,
           "KEEP_MODE non-blocking connect: 0 (in progress)");
    is_str(calllog, "connect(16);", "KEEP_MODE: no FIONBIO before connect");
    is_int(is_nonblock(fd), 1, "KEEP_MODE: the socket stays non-blocking");
    close(fd);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    calllog[0] = 0;
    is_int(bio_connect(fd, &a, SP_BIO_KEEP_MODE), 1, "bio_connect ignores KEEP_MODE: connects");
    is_str(calllog, "ioctl(0);connect(16);", "bio_connect ignores KEEP_MODE: FIONBIO(0) as BIO");
    close(fd);
    bio_err_clear();
    close(lfd);
}

static void test_retryable(void)
{
    static const int nonfatal[] = {EINTR, EPROTO, EAGAIN, EALREADY, ENOTCONN, EINPROGRESS};
    bio_addr a;
    int lfd = listener(&a), fd, i;

    for (i = 0; i < 6; i++) {
        fd = socket(AF_INET, SOCK_STREAM, 0);
        arm("connect", 1, nonfatal[i]);
        is_int(bio_connect(fd, &a, 0), 0, "connect %s: 0", bio_errno_name(nonfatal[i]));
        is_int(errno, nonfatal[i], "connect %s: errno kept", bio_errno_name(nonfatal[i]));
        QUEUE0("connect non-fatal errno: queue empty");
        close(fd);
        arm("accept", 1, nonfatal[i]);
        is_int(bio_accept_ex(lfd, NULL, 0), -1, "accept %s: -1", bio_errno_name(nonfatal[i]));
        QUEUE0("accept non-fatal errno: queue empty");
    }
    fd = socket(AF_INET, SOCK_STREAM, 0);
    arm("connect", 1, ECONNABORTED);
    is_int(bio_connect(fd, &a, 0), 0, "connect ECONNABORTED: 0");
    QUEUE2("connect ECONNABORTED is fatal", SYS(ECONNABORTED), "calling connect()",
           BIOR(BIO_R_CONNECT_ERROR), NULL);
    close(fd);
    arm("accept", 1, ECONNABORTED);
    is_int(bio_accept_ex(lfd, NULL, 0), -1, "accept ECONNABORTED: -1");
    QUEUE2("accept ECONNABORTED is fatal", SYS(ECONNABORTED), "calling accept()",
           BIOR(BIO_R_ACCEPT_ERROR), NULL);
    arm("accept", 1, EMFILE);
    is_int(bio_accept_sa(lfd, NULL, NULL, 0, SOCK_CLOEXEC), -1, "accept4 EMFILE: -1");
    QUEUE2("accept4 EMFILE", SYS(EMFILE), "calling accept()", BIOR(BIO_R_ACCEPT_ERROR), NULL);
    close(lfd);
}

static void test_order_and_refusals(void)
{
    bio_addr a, a6 = addr6("::", 0);
    int fd, lfd = listener(&a);
    char want[256];

    /* The strace shape of the reference, section 1.4, through our table. */
    fd = socket(AF_INET6, SOCK_STREAM, 0);
    arm(NULL, 0, 0);
    is_int(bio_listen(fd, &a6, 0x3f), 1, "bio_listen AF_INET6 all flags");
    snprintf(want, sizeof want,
             "getsockopt(1,3);ioctl(1);setsockopt(1,9,1);setsockopt(6,1,1);"
             "setsockopt(41,26,1);setsockopt(1,2,1);bind(28);listen(%d);setsockopt(6,23,%d);",
             SOMAXCONN, SOMAXCONN);
    is_str(calllog, want, "bio_listen call order: SO_TYPE nbio KEEPALIVE NODELAY V6ONLY "
                          "REUSEADDR bind listen TFO");
    close(fd);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    arm(NULL, 0, 0);
    is_int(bio_connect(fd, &a, 0x37), 1, "bio_connect all flags but NONBLOCK");
    is_str(calllog, "ioctl(0);setsockopt(1,9,1);setsockopt(6,1,1);setsockopt(6,30,1);connect(16);",
           "bio_connect call order: nbio KEEPALIVE NODELAY TFO connect");
    close(fd);
    arm(NULL, 0, 0);
    is_int(bio_closesocket(-3), 0, "bio_closesocket(-3)");
    is_str(calllog, "", "bio_closesocket(-3) makes no syscall");
    arm(NULL, 0, 0);
    bio_bind(-1, &a, BIO_SOCK_REUSEADDR);
    bio_connect(-1, &a, 0);
    bio_listen(-1, &a, 0);
    is_str(calllog, "", "-1 is refused before any syscall");
    bio_err_clear();

    /* Refusals the kernel will not give on demand. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    arm("setsockopt", 1, EPERM);
    is_int(bio_bind(fd, &a, BIO_SOCK_REUSEADDR), 0, "SO_REUSEADDR refused");
    is_int(errno, EPERM, "SO_REUSEADDR refused: EPERM");
    QUEUE2("REUSEADDR refused", SYS(EPERM), "calling setsockopt()",
           BIOR(BIO_R_UNABLE_TO_REUSEADDR), NULL);
    close(fd);

    fd = socket(AF_INET, SOCK_STREAM, 0);
    arm("listen", 1, EADDRINUSE);
    a = addr4("127.0.0.1", 0);
    is_int(bio_listen(fd, &a, 0), 0, "listen() refused");
    QUEUE2("listen refused", SYS(EADDRINUSE), "calling listen()",
           BIOR(BIO_R_UNABLE_TO_LISTEN_SOCKET), NULL);
    close(fd);

    fd = socket(AF_INET, SOCK_STREAM, 0);
    arm("setsockopt", 1, EPERM);
    is_int(bio_listen(fd, &a, BIO_SOCK_TFO), 0, "TFO qlen refused after listen");
    is_int(getint(fd, SOL_SOCKET, SO_ACCEPTCONN), 1, "no cleanup: still listening");
    QUEUE2("TFO refused", SYS(EPERM), "calling setsockopt()", BIOR(BIO_R_UNABLE_TO_TFO), NULL);
    close(fd);

    fd = socket(AF_INET, SOCK_STREAM, 0);
    arm("setsockopt", 1, EPERM);
    is_int(bio_connect(fd, &a, BIO_SOCK_KEEPALIVE), 0, "SO_KEEPALIVE refused");
    QUEUE2("KEEPALIVE refused", SYS(EPERM), "calling setsockopt()",
           BIOR(BIO_R_UNABLE_TO_KEEPALIVE), NULL);
    close(fd);

    fd = socket(AF_INET, SOCK_STREAM, 0);
    arm("socket", 1, EMFILE);
    is_int(bio_socket(AF_INET, SOCK_STREAM, 0, 0), -1, "socket() refused: -1");
    is_int(errno, EMFILE, "socket() refused: EMFILE");
    QUEUE2("socket refused", SYS(EMFILE), "calling socket()",
           BIOR(BIO_R_UNABLE_TO_CREATE_SOCKET), NULL);

    arm(NULL, 0, 0);
    short_sotype = 1;
    is_int(bio_listen(fd, &a, 0), 0, "SO_TYPE with a short length");
    short_sotype = 0;
    is_str(calllog, "getsockopt(1,3);", "short SO_TYPE stops before anything else");
    QUEUE2("short SO_TYPE", SYS(0), "calling getsockopt()", BIOR(BIO_R_GETTING_SOCKTYPE), NULL);

    {
        union bio_sock_info_u info;
        bio_addr got;

        info.addr = &got;
        long_sockname = 1;
        is_int(bio_sock_info(lfd, bio_sock_info_address, &info), 0, "truncated getsockname");
        long_sockname = 0;
        QUEUE1("truncated address", BIOR(BIO_R_GETSOCKNAME_TRUNCATED_ADDRESS), NULL);
    }
    close(fd);
    close(lfd);
}

int main(void)
{
    bio_set_sysops(&fake);
    ok(bio_sysops()->connect == f_connect, "bio_set_sysops installs the table");
    test_accept_ioctl_fails();
    test_accept_sa_mode();
    test_connect_keep_mode();
    test_retryable();
    test_order_and_refusals();
    bio_set_sysops(NULL);
    ok(bio_sysops() != NULL && bio_sysops()->connect != f_connect, "NULL restores libc");
    {
        int fd = bio_socket(AF_INET, SOCK_STREAM, 0, 0);

        calllog[0] = 0;
        bio_socket_nbio(fd, 1);
        is_str(calllog, "", "libc table in force: the fake sees nothing");
        is_int(is_nonblock(fd), 1, "and the call still works");
        close(fd);
    }
    return done_testing();
}
