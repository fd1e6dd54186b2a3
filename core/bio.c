/* core/bio.c: the BIO socket routines, step by step as ../shared/spec/bio-sockets.md section 1
 * describes OpenSSL 3.0 on Linux (TFO as 3.2+ on Linux with TCP_FASTOPEN_CONNECT).
 * Every system call goes through the table bio_sysops() returns (bio__ops); errors go to the per-thread queue with the
 * same codes and data strings as libcrypto's. errno is whatever the failing call left: the
 * queue never touches it, and nothing here sets it on success. */
#include <errno.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>

#include "bio.h"
#include "err_int.h"
#include "sysops.h"

/* MAX_LISTEN of the Debian build: SOMAXCONN from the same glibc headers (4096). */
#define BIO_MAX_LISTEN SOMAXCONN

static const int one = 1;

/* setsockopt(level, name, 1); on failure queues SYS + reason and returns 0. */
static int set_flag(const struct bio_sysops *ops, int sock, int level, int name, int reason)
{
    if (ops->setsockopt(sock, level, name, &one, sizeof one) != 0) {
        bio_err_sys(errno, "calling setsockopt()");
        bio_err_bio(reason);
        return 0;
    }
    return 1;
}

/* BIO_SOCK_KEEPALIVE and BIO_SOCK_NODELAY, in that order, as connect and listen set them.
 * 1, or 0 with the failing one queued. */
static inline int set_keepalive_nodelay(const struct bio_sysops *ops, int sock, int options)
{
    if ((options & BIO_SOCK_KEEPALIVE) &&
        !set_flag(ops, sock, SOL_SOCKET, SO_KEEPALIVE, BIO_R_UNABLE_TO_KEEPALIVE))
        return 0;
    return !(options & BIO_SOCK_NODELAY) ||
           set_flag(ops, sock, IPPROTO_TCP, TCP_NODELAY, BIO_R_UNABLE_TO_NODELAY);
}

int bio_sock_non_fatal_error(int err)
{
    switch (err) {
    case EAGAIN: /* == EWOULDBLOCK on Linux */
    case ENOTCONN:
    case EINTR:
    case EPROTO:
    case EINPROGRESS:
    case EALREADY:
        return 1;
    default:
        return 0;
    }
}

int bio_sock_should_retry(int i)
{
    if (i == 0 || i == -1)
        return bio_sock_non_fatal_error(errno);
    return 0;
}

int bio_socket(int domain, int socktype, int protocol, int options)
{
    int fd;

    (void)options; /* ignored in every OpenSSL version */
    fd = bio__ops->socket(domain, socktype, protocol);
    if (fd == -1) {
        bio_err_sys(errno, "calling socket()");
        bio_err_bio(BIO_R_UNABLE_TO_CREATE_SOCKET);
        return -1;
    }
    return fd;
}

int bio_socket_nbio(int s, int mode)
{
    int l = mode; /* passed through unnormalised, as BIO does */

    if (bio__ops->ioctl(s, FIONBIO, &l) < 0) {
        bio_err_sys(errno, "calling ioctlsocket()");
        return 0;
    }
    return 1;
}

int bio_set_tcp_ndelay(int sock, int turn_on)
{
    return bio__ops->setsockopt(sock, SOL_TCP, TCP_NODELAY, &turn_on, sizeof turn_on) == 0;
}

int bio_bind_sa(int sock, const struct sockaddr *sa, socklen_t len, int options)
{
    const struct bio_sysops *ops = bio__ops;

    if (sock == -1) {
        bio_err_bio(BIO_R_INVALID_SOCKET);
        return 0;
    }
    if ((options & BIO_SOCK_REUSEADDR) &&
        !set_flag(ops, sock, SOL_SOCKET, SO_REUSEADDR, BIO_R_UNABLE_TO_REUSEADDR))
        return 0;
    if (ops->bind(sock, sa, len) != 0) {
        bio_err_sys(errno, "calling bind()");
        bio_err_bio(BIO_R_UNABLE_TO_BIND_SOCKET);
        return 0;
    }
    return 1;
}

int bio_bind(int sock, const bio_addr *addr, int options)
{
    return bio_bind_sa(sock, &addr->sa, bio_addr_sockaddr_size(addr), options);
}

/* connect() failed with errno: the error queue as OpenSSL fills it, unless the failure is one a
 * non-blocking connect reports on its way (EINPROGRESS...). Returns 0. */
static int __attribute__((noinline)) connect_failed(void)
{
    int err = errno;
    if (!bio_sock_non_fatal_error(err)) {
        bio_err_sys(err, "calling connect()");
        bio_err_bio(BIO_R_CONNECT_ERROR);
    }
    return 0;
}

/* The connect itself: nothing is kept across the call, so a connect with no flag to set (the
 * shim's, whose options were set already) costs a call and a test. */
static inline int connect_only(int sock, const struct sockaddr *sa, socklen_t len)
{
    if (__builtin_expect(bio__ops->connect(sock, sa, len) == 0, 1))
        return 1;
    return connect_failed();
}

/* With flags to set first, or the blocking mode to make. */
static int __attribute__((noinline)) connect_flags(int sock, const struct sockaddr *sa, socklen_t len,
                                                   int options)
{
    const struct bio_sysops *ops = bio__ops;
    if (!(options & SP_BIO_KEEP_MODE) && !bio_socket_nbio(sock, (options & BIO_SOCK_NONBLOCK) != 0))
        return 0;
    if (!set_keepalive_nodelay(ops, sock, options))
        return 0;
    /* 3.2+ on Linux: TCP_FASTOPEN_CONNECT, then a normal connect. */
    if ((options & BIO_SOCK_TFO) &&
        !set_flag(ops, sock, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, BIO_R_UNABLE_TO_TFO))
        return 0;
    return connect_only(sock, sa, len);
}

int bio_connect_sa(int sock, const struct sockaddr *sa, socklen_t len, int options)
{
    if (sock == -1) {
        bio_err_bio(BIO_R_INVALID_SOCKET);
        return 0;
    }
    if (options == SP_BIO_KEEP_MODE) /* the blocking mode left alone, no flag */
        return connect_only(sock, sa, len);
    return connect_flags(sock, sa, len, options);
}

int bio_connect(int sock, const bio_addr *addr, int options)
{
    return bio_connect_sa(sock, &addr->sa, bio_addr_sockaddr_size(addr),
                          options & ~SP_BIO_KEEP_MODE);
}

int bio_listen(int sock, const bio_addr *addr, int options)
{
    const struct bio_sysops *ops = bio__ops;
    int socktype;
    socklen_t len = sizeof socktype;

    if (sock == -1) {
        bio_err_bio(BIO_R_INVALID_SOCKET);
        return 0;
    }
    if (ops->getsockopt(sock, SOL_SOCKET, SO_TYPE, &socktype, &len) != 0 ||
        len != sizeof socktype) {
        bio_err_sys(errno, "calling getsockopt()");
        bio_err_bio(BIO_R_GETTING_SOCKTYPE);
        return 0;
    }
    if (!bio_socket_nbio(sock, (options & BIO_SOCK_NONBLOCK) != 0))
        return 0;
    if (!set_keepalive_nodelay(ops, sock, options))
        return 0;
    /* The address's family decides, not the socket's; the value is always written. */
    if (addr->sa.sa_family == AF_INET6) {
        int v6only = (options & BIO_SOCK_V6_ONLY) ? 1 : 0;

        if (ops->setsockopt(sock, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) != 0) {
            bio_err_sys(errno, "calling setsockopt()");
            bio_err_bio(BIO_R_LISTEN_V6_ONLY);
            return 0;
        }
    }
    if (!bio_bind(sock, addr, options))
        return 0;
    if (socktype != SOCK_DGRAM) {
        if (ops->listen(sock, BIO_MAX_LISTEN) == -1) {
            bio_err_sys(errno, "calling listen()");
            bio_err_bio(BIO_R_UNABLE_TO_LISTEN_SOCKET);
            return 0;
        }
        if (options & BIO_SOCK_TFO) {
            int qlen = BIO_MAX_LISTEN;

            if (ops->setsockopt(sock, IPPROTO_TCP, TCP_FASTOPEN, &qlen, sizeof qlen) < 0) {
                bio_err_sys(errno, "calling setsockopt()");
                bio_err_bio(BIO_R_UNABLE_TO_TFO);
                return 0;
            }
        }
    }
    return 1;
}

/* accept() failed with errno: the error queue as OpenSSL fills it (not for EAGAIN and the
 * like). Returns -1. */
static int __attribute__((noinline)) accept_failed(void)
{
    int err = errno;
    if (!bio_sock_non_fatal_error(err)) {
        bio_err_sys(err, "calling accept()");
        bio_err_bio(BIO_R_ACCEPT_ERROR);
    }
    return -1;
}

/* sa == NULL: the peer goes to a scratch bio_addr, and *len is left alone (the kernel's
 * accept(fd, NULL, len) does not write it either). sa != NULL with len == NULL: sa is taken
 * to hold a whole bio_addr. The new fd's blocking mode is set: non-blocking when options has
 * BIO_SOCK_NONBLOCK or flags has SOCK_NONBLOCK.
 * always_nbio: BIO_accept_ex sets the accepted socket's mode with ioctl(FIONBIO) every time.
 * The accept4 variant skips that ioctl when accept4's own flags already gave the mode asked
 * for (an accepted socket on Linux takes its mode from those flags alone, never from the
 * listener), so the shim's accept pays no syscall that changes nothing. */
static int __attribute__((noinline)) accept_common(int accept_sock, struct sockaddr *sa, socklen_t *len, int options,
                         int flags, int always_nbio)
{
    const struct bio_sysops *ops = bio__ops;
    bio_addr scratch;
    socklen_t scratch_len = sizeof(bio_addr);
    int fd, mode;

    if (sa == NULL) {
        sa = &scratch.sa;
        len = &scratch_len;
    } else if (len == NULL) {
        len = &scratch_len;
    }
    fd = flags ? ops->accept4(accept_sock, sa, len, flags) : ops->accept(accept_sock, sa, len);
    if (fd == -1)
        return accept_failed();
    mode = (options & BIO_SOCK_NONBLOCK) || (flags & SOCK_NONBLOCK);
    if ((always_nbio || mode != ((flags & SOCK_NONBLOCK) != 0)) && !bio_socket_nbio(fd, mode)) {
        int saved = errno; /* the caller sees the ioctl's errno, not close's */

        ops->close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int bio_accept_sa(int accept_sock, struct sockaddr *sa, socklen_t *len, int options, int flags)
{
    if (options == 0 && sa && len) {
        /* No mode to make (the flags gave it), a place for the peer: the call and a test,
         * nothing kept across it (the shim's accept). */
        const struct bio_sysops *ops = bio__ops;
        int fd = flags ? ops->accept4(accept_sock, sa, len, flags) : ops->accept(accept_sock, sa, len);
        if (__builtin_expect(fd == -1, 0))
            return accept_failed();
        return fd;
    }
    return accept_common(accept_sock, sa, len, options, flags, 0);
}

int bio_accept_ex(int accept_sock, bio_addr *peer, int options)
{
    return accept_common(accept_sock, peer ? &peer->sa : NULL, NULL, options, 0, 1);
}

int bio_closesocket(int sock)
{
    if (sock < 0)
        return 0;
    return bio__ops->close(sock) < 0 ? 0 : 1;
}

int bio_sock_error(int sock)
{
    int j = 0;
    socklen_t len = sizeof j;

    if (bio__ops->getsockopt(sock, SOL_SOCKET, SO_ERROR, &j, &len) < 0)
        return errno;
    return j;
}

int bio_sock_info(int sock, enum bio_sock_info_type type, union bio_sock_info_u *info)
{
    socklen_t len = sizeof(bio_addr);

    if (type != bio_sock_info_address) {
        bio_err_bio(BIO_R_UNKNOWN_INFO_TYPE);
        return 0;
    }
    if (bio__ops->getsockname(sock, &info->addr->sa, &len) == -1) {
        bio_err_sys(errno, "calling getsockname()");
        bio_err_bio(BIO_R_GETSOCKNAME_ERROR);
        return 0;
    }
    if (len > sizeof(bio_addr)) {
        bio_err_bio(BIO_R_GETSOCKNAME_TRUNCATED_ADDRESS);
        return 0;
    }
    return 1;
}
