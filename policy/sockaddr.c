/* policy/sockaddr.c: the address a call really names, as Linux reads it. Programs may spell
 * one destination several ways (a 24-byte sockaddr_in6, AF_UNSPEC where the kernel takes
 * AF_INET, the unspecified address the kernel routes to loopback); the matcher must see the
 * address the kernel will use, whatever the spelling. Pure code: no syscall, errno untouched.
 * The kernel's own rules mirrored here (Linux 6.x):
 *  - net/ipv4/af_inet.c inet_bind_sk/__inet_bind: len >= 16; AF_UNSPEC is taken as AF_INET
 *    only with INADDR_ANY; __inet_stream_connect/inet_dgram_connect: AF_UNSPEC disconnects;
 *    tcp_v4_connect, __ip4_datagram_connect: len >= 16, AF_INET only; udp_sendmsg,
 *    raw_sendmsg: len >= 16, AF_INET or AF_UNSPEC (delivered as AF_INET);
 *  - net/ipv6: inet6_bind_sk, tcp_v6_connect: len >= SIN6_LEN_RFC2133 (24, no scope id),
 *    AF_INET6 only; __ip6_datagram_connect and udpv6_sendmsg also take an AF_INET address
 *    (then IPv4 rules), udpv6_sendmsg reads AF_UNSPEC as "no address" (the connected peer);
 *  - ip_route_connect/__ip_route_output_key: a destination 0.0.0.0 is 127.0.0.1; tcp_v6_connect,
 *    ip6_datagram_connect, udpv6_sendmsg: :: is ::1;
 *  - net/unix/af_unix.c unix_validate_addr: 2 < len <= 110 and AF_UNIX; a stream socket
 *    refuses a send address, a seqpacket one ignores it. */
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/un.h>

#include "policy.h"

#ifndef SIN6_LEN_RFC2133
#define SIN6_LEN_RFC2133 24
#endif

/* An IPv4 destination: 0.0.0.0 reaches this host's 127.0.0.1. */
static int put4(const void *addr, enum sp_op op, struct sockaddr_storage *out, socklen_t *outlen)
{
    struct sockaddr_in in;
    memcpy(&in, addr, sizeof in);
    in.sin_family = AF_INET;
    memset(in.sin_zero, 0, sizeof in.sin_zero);
    if (op != SP_OP_BIND && in.sin_addr.s_addr == htonl(INADDR_ANY))
        in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    memset(out, 0, sizeof *out);
    memcpy(out, &in, sizeof in);
    *outlen = sizeof in;
    return 0;
}

/* An IPv6 destination of at least 24 bytes: the scope id only when given; :: reaches ::1 and
 * ::ffff:0.0.0.0 (IPv4 through the mapped address) 127.0.0.1. */
static int put6(const void *addr, socklen_t len, enum sp_op op, struct sockaddr_storage *out,
                socklen_t *outlen)
{
    struct sockaddr_in6 in6;
    memset(&in6, 0, sizeof in6);
    memcpy(&in6, addr, len < sizeof in6 ? len : sizeof in6);
    in6.sin6_family = AF_INET6;
    if (op != SP_OP_BIND) {
        if (IN6_IS_ADDR_UNSPECIFIED(&in6.sin6_addr))
            in6.sin6_addr = in6addr_loopback;
        else if (IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr) && !in6.sin6_addr.s6_addr[12] &&
                 !in6.sin6_addr.s6_addr[13] && !in6.sin6_addr.s6_addr[14] &&
                 !in6.sin6_addr.s6_addr[15])
            in6.sin6_addr.s6_addr[12] = 127, in6.sin6_addr.s6_addr[15] = 1;
    }
    memset(out, 0, sizeof *out);
    memcpy(out, &in6, sizeof in6);
    *outlen = sizeof in6;
    return 0;
}

static int norm_inet(int type, enum sp_op op, const struct sockaddr *sa, socklen_t len,
                     struct sockaddr_storage *out, socklen_t *outlen)
{
    if (len < sizeof(struct sockaddr_in))
        return 1; /* EINVAL (or AF_UNSPEC's disconnect, which also needs only 2 bytes) */
    switch (op) {
    case SP_OP_BIND:
        if (sa->sa_family == AF_INET ||
            (sa->sa_family == AF_UNSPEC &&
             ((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr == htonl(INADDR_ANY)))
            return put4(sa, op, out, outlen);
        return 1; /* EAFNOSUPPORT */
    case SP_OP_SEND:
        if (type == SOCK_STREAM || type == SOCK_SEQPACKET)
            return 1; /* a connected stream ignores the address */
        if (sa->sa_family == AF_INET || sa->sa_family == AF_UNSPEC)
            return put4(sa, op, out, outlen);
        return 1;
    default:
        if (sa->sa_family == AF_INET)
            return put4(sa, op, out, outlen);
        return 1; /* AF_UNSPEC: disconnect (TFO: EOPNOTSUPP); others EAFNOSUPPORT */
    }
}

static int norm_inet6(int type, enum sp_op op, const struct sockaddr *sa, socklen_t len,
                      struct sockaddr_storage *out, socklen_t *outlen)
{
    if (op == SP_OP_SEND && (type == SOCK_STREAM || type == SOCK_SEQPACKET))
        return 1;
    if (sa->sa_family == AF_INET && op != SP_OP_BIND && type != SOCK_STREAM)
        return len < sizeof(struct sockaddr_in) ? 1 : put4(sa, op, out, outlen);
    if (len < SIN6_LEN_RFC2133)
        return 1; /* EINVAL */
    if (sa->sa_family == AF_INET6)
        return put6(sa, len, op, out, outlen);
    /* raw IPv6 sockets read AF_UNSPEC as AF_INET6; UDP as "the connected peer" */
    if (sa->sa_family == AF_UNSPEC && op == SP_OP_SEND && type != SOCK_DGRAM)
        return put6(sa, len, op, out, outlen);
    return 1;
}

int sp_addr_normalize(int sock_family, int sock_type, enum sp_op op, const void *addr,
                      socklen_t len, struct sockaddr_storage *out, socklen_t *outlen)
{
    const struct sockaddr *sa = addr;
    if (!addr || len < sizeof(sa_family_t) || len > sizeof(struct sockaddr_storage))
        return 1; /* EINVAL, or no address at all */
    switch (sock_family) {
    case AF_INET:
        return norm_inet(sock_type, op, sa, len, out, outlen);
    case AF_INET6:
        return norm_inet6(sock_type, op, sa, len, out, outlen);
    case AF_UNIX:
        if (sa->sa_family != AF_UNIX || len <= offsetof(struct sockaddr_un, sun_path) ||
            len > sizeof(struct sockaddr_un))
            return 1; /* EINVAL; AF_UNSPEC disconnects; bind with len 2 autobinds */
        if (op == SP_OP_SEND && sock_type != SOCK_DGRAM)
            return 1;
        break;
    default:
        break;
    }
    memset(out, 0, sizeof *out);
    memcpy(out, addr, len);
    *outlen = len;
    return 0;
}

/* Whether raw (len bytes as the program passed them) is the unspecified destination: 0.0.0.0
 * (AF_INET, or AF_UNSPEC as udp_sendmsg reads it), ::, ::ffff:0.0.0.0. */
static int raw_unspecified(const struct sockaddr_storage *raw, socklen_t len)
{
    const struct sockaddr_in *r4 = (const struct sockaddr_in *)(const void *)raw;
    const struct sockaddr_in6 *r6 = (const struct sockaddr_in6 *)(const void *)raw;
    if ((r4->sin_family == AF_INET || r4->sin_family == AF_UNSPEC) &&
        len >= sizeof(struct sockaddr_in) && r4->sin_addr.s_addr == htonl(INADDR_ANY))
        return 1;
    if (r6->sin6_family != AF_INET6 || len < SIN6_LEN_RFC2133)
        return 0;
    static const uint8_t zero[16];
    const uint8_t *b = r6->sin6_addr.s6_addr;
    return !memcmp(b, zero, 16) ||
           (!memcmp(b, zero, 10) && b[10] == 0xff && b[11] == 0xff && !memcmp(b + 12, zero, 4));
}

int sp_addr_unspecified_dest(int sock_family, const void *raw, socklen_t rawlen,
                             const struct sockaddr *local, socklen_t locallen,
                             struct sockaddr_storage *norm)
{
    if ((sock_family != AF_INET && sock_family != AF_INET6) || !raw ||
        rawlen < sizeof(sa_family_t))
        return 0;
    struct sockaddr_storage r;
    memset(&r, 0, sizeof r);
    memcpy(&r, raw, rawlen < sizeof r ? rawlen : sizeof r);
    if (!raw_unspecified(&r, rawlen))
        return 0;
    if (!local || !norm || locallen < sizeof(sa_family_t) || local->sa_family != sock_family)
        return 1;
    struct sockaddr_storage l;
    memset(&l, 0, sizeof l);
    memcpy(&l, local, locallen < sizeof l ? locallen : sizeof l);
    struct sockaddr_in *n4 = (struct sockaddr_in *)(void *)norm;
    struct sockaddr_in6 *n6 = (struct sockaddr_in6 *)(void *)norm;
    const struct sockaddr_in6 *r6 = (const struct sockaddr_in6 *)(const void *)&r;
    if (sock_family == AF_INET) {
        const struct sockaddr_in *l4 = (const struct sockaddr_in *)(const void *)&l;
        if (l4->sin_addr.s_addr != htonl(INADDR_ANY))
            n4->sin_addr = l4->sin_addr;
        return 1;
    }
    const struct sockaddr_in6 *l6 = (const struct sockaddr_in6 *)(const void *)&l;
    if (IN6_IS_ADDR_UNSPECIFIED(&l6->sin6_addr))
        return 1;
    int mapped = IN6_IS_ADDR_V4MAPPED(&l6->sin6_addr);
    if (r6->sin6_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&r6->sin6_addr)) {
        if (mapped) /* :: on a socket bound to ::ffff:a.b.c.d: ::ffff:127.0.0.1 */
            memcpy(&n6->sin6_addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff\x7f\0\0\x01", 16);
        return 1;
    }
    if (r6->sin6_family == AF_INET6) { /* ::ffff:0.0.0.0: IPv4, from the IPv4 source */
        if (mapped)
            memcpy(&n6->sin6_addr.s6_addr[12], &l6->sin6_addr.s6_addr[12], 4);
        else /* an IPv6 source's IPv4 side is LOOPBACK4_IPV6 */
            memcpy(&n6->sin6_addr.s6_addr[12], "\x7f\0\0\x06", 4);
        return 1;
    }
    /* an AF_INET address on an IPv6 datagram socket: the IPv4 side, as above */
    if (n4->sin_family == AF_INET && mapped)
        memcpy(&n4->sin_addr, &l6->sin6_addr.s6_addr[12], 4);
    else if (n4->sin_family == AF_INET)
        memcpy(&n4->sin_addr, "\x7f\0\0\x06", 4);
    return 1;
}
