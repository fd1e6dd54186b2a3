/* tests/unit/policy_sockaddr.c: sp_addr_normalize(), the address a call reaches as Linux
 * reads it (policy/sockaddr.c): each spelling of one destination gives the same answer, and
 * what the kernel refuses is handed back to it unmatched. The shim tests (shim_shapes.t)
 * check the same shapes against the kernel itself. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "policy.h"
#include "tap.h"

static struct sockaddr_storage out;
static socklen_t outlen;

/* Normalises the address fam/ip/port written into a zeroed buffer, passed with length len. */
static int norm(int sfam, int type, enum sp_op op, int fam, const char *ip, int port, socklen_t len)
{
    unsigned char b[256];
    memset(b, 0, sizeof b);
    struct sockaddr_in *s4 = (void *)b;
    struct sockaddr_in6 *s6 = (void *)b;
    if (strchr(ip, ':')) {
        inet_pton(AF_INET6, ip, &s6->sin6_addr);
        s6->sin6_port = htons((unsigned short)port);
    } else {
        inet_pton(AF_INET, ip, &s4->sin_addr);
        s4->sin_port = htons((unsigned short)port);
    }
    ((struct sockaddr *)(void *)b)->sa_family = (sa_family_t)fam;
    memset(&out, 0xa5, sizeof out);
    outlen = 0;
    return sp_addr_normalize(sfam, type, op, b, len, &out, &outlen);
}

/* out as text: "inet 127.0.0.1 80", "inet6 ::1 80", or "?". */
static const char *shown(void)
{
    static char s[96];
    char a[64];
    if (out.ss_family == AF_INET && outlen == sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *i = (const void *)&out;
        inet_ntop(AF_INET, &i->sin_addr, a, sizeof a);
        snprintf(s, sizeof s, "inet %s %d", a, ntohs(i->sin_port));
    } else if (out.ss_family == AF_INET6 && outlen == sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *i = (const void *)&out;
        inet_ntop(AF_INET6, &i->sin6_addr, a, sizeof a);
        snprintf(s, sizeof s, "inet6 %s %d", a, ntohs(i->sin6_port));
    } else {
        snprintf(s, sizeof s, "? family %d len %u", out.ss_family, outlen);
    }
    return s;
}

#define SAME(expr, want, name)                                                                  \
    do {                                                                                       \
        int r_ = (expr);                                                                       \
        ok(r_ == 0 && !strcmp(shown(), want), "%s: %s", name, r_ == 0 ? shown() : "unmatched"); \
    } while (0)
#define KERNEL(expr, name) is_int((expr), 1, "%s: left to the kernel", name)

int main(void)
{
    const int S = SOCK_STREAM, D = SOCK_DGRAM;
    const enum sp_op C = SP_OP_CONNECT, B = SP_OP_BIND, X = SP_OP_SEND;
    /* case 1: a 24-byte sockaddr_in6 */
    SAME(norm(AF_INET6, S, C, AF_INET6, "::1", 80, 24), "inet6 ::1 80", "connect ::1 len 24");
    SAME(norm(AF_INET6, S, C, AF_INET6, "::1", 80, 28), "inet6 ::1 80", "connect ::1 len 28");
    SAME(norm(AF_INET6, S, C, AF_INET6, "::ffff:127.0.0.1", 80, 24), "inet6 ::ffff:127.0.0.1 80",
         "connect ::ffff:127.0.0.1 len 24");
    SAME(norm(AF_INET6, D, X, AF_INET6, "::1", 53, 24), "inet6 ::1 53", "sendto ::1 len 24");
    SAME(norm(AF_INET6, S, B, AF_INET6, "::1", 8080, 24), "inet6 ::1 8080", "bind ::1 len 24");
    KERNEL(norm(AF_INET6, S, C, AF_INET6, "::1", 80, 23), "connect ::1 len 23 (EINVAL)");
    KERNEL(norm(AF_INET6, S, B, AF_INET6, "::1", 80, 16), "bind ::1 len 16 (EINVAL)");
    KERNEL(norm(AF_INET6, S, C, AF_INET6, "::1", 80, 129), "len 129 (EINVAL)");
    SAME(norm(AF_INET6, S, C, AF_INET6, "::1", 80, 128), "inet6 ::1 80", "len 128");
    /* case 2: AF_UNSPEC */
    SAME(norm(AF_INET, D, X, AF_UNSPEC, "127.0.0.1", 53, 16), "inet 127.0.0.1 53",
         "UDP sendto AF_UNSPEC is AF_INET");
    SAME(norm(AF_INET, S, B, AF_UNSPEC, "0.0.0.0", 8080, 16), "inet 0.0.0.0 8080",
         "bind AF_UNSPEC INADDR_ANY is AF_INET");
    KERNEL(norm(AF_INET, S, B, AF_UNSPEC, "127.0.0.1", 8080, 16),
           "bind AF_UNSPEC 127.0.0.1 (EAFNOSUPPORT)");
    KERNEL(norm(AF_INET, S, C, AF_UNSPEC, "127.0.0.1", 80, 16), "connect AF_UNSPEC (disconnect)");
    KERNEL(norm(AF_INET, D, X, AF_UNSPEC, "127.0.0.1", 53, 15), "sendto AF_UNSPEC len 15 (EINVAL)");
    KERNEL(norm(AF_INET6, D, X, AF_UNSPEC, "::1", 53, 28), "IPv6 UDP AF_UNSPEC (the connected peer)");
    SAME(norm(AF_INET6, D, X, AF_INET, "127.0.0.1", 53, 16), "inet 127.0.0.1 53",
         "IPv6 UDP sendto an AF_INET address");
    SAME(norm(AF_INET6, D, C, AF_INET, "127.0.0.1", 53, 16), "inet 127.0.0.1 53",
         "IPv6 UDP connect an AF_INET address");
    KERNEL(norm(AF_INET6, S, C, AF_INET, "127.0.0.1", 80, 16), "IPv6 TCP connect AF_INET (refused)");
    KERNEL(norm(AF_INET, S, C, AF_INET6, "::1", 80, 28), "IPv4 TCP connect AF_INET6 (refused)");
    /* case 4: the unspecified address reaches loopback */
    SAME(norm(AF_INET, S, C, AF_INET, "0.0.0.0", 80, 16), "inet 127.0.0.1 80", "connect 0.0.0.0");
    SAME(norm(AF_INET, D, X, AF_INET, "0.0.0.0", 53, 16), "inet 127.0.0.1 53", "sendto 0.0.0.0");
    SAME(norm(AF_INET6, S, C, AF_INET6, "::", 80, 28), "inet6 ::1 80", "connect ::");
    SAME(norm(AF_INET6, S, C, AF_INET6, "::ffff:0.0.0.0", 80, 28), "inet6 ::ffff:127.0.0.1 80",
         "connect ::ffff:0.0.0.0");
    SAME(norm(AF_INET6, D, X, AF_INET6, "::", 53, 24), "inet6 ::1 53", "sendto :: len 24");
    SAME(norm(AF_INET, S, B, AF_INET, "0.0.0.0", 80, 16), "inet 0.0.0.0 80", "bind 0.0.0.0 stays");
    SAME(norm(AF_INET6, S, B, AF_INET6, "::", 80, 28), "inet6 :: 80", "bind :: stays");
    /* sends on streams name nothing */
    KERNEL(norm(AF_INET, S, X, AF_INET, "127.0.0.1", 80, 16), "TCP send address (ignored)");
    /* unix */
    struct sockaddr_un un = { .sun_family = AF_UNIX, .sun_path = "/run/x.sock" };
    socklen_t ul = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(un.sun_path) + 1);
    ok(sp_addr_normalize(AF_UNIX, D, X, &un, ul, &out, &outlen) == 0 && outlen == ul &&
           !memcmp(&out, &un, ul), "unix dgram send path: byte for byte");
    is_int(sp_addr_normalize(AF_UNIX, S, X, &un, ul, &out, &outlen), 1, "unix stream send: refused");
    is_int(sp_addr_normalize(AF_UNIX, S, B, &un, 2, &out, &outlen), 1, "unix bind len 2: autobind");
    is_int(sp_addr_normalize(AF_UNIX, S, C, &un, 111, &out, &outlen), 1, "unix len 111: EINVAL");
    un.sun_family = AF_INET;
    is_int(sp_addr_normalize(AF_UNIX, S, C, &un, ul, &out, &outlen), 1, "unix socket, AF_INET: EINVAL");
    is_int(sp_addr_normalize(AF_INET, S, C, NULL, 16, &out, &outlen), 1, "NULL address");
    /* sp_addr_unspecified_dest: the unspecified destination from a bound socket */
    {
        unsigned char raw[28];
        struct sockaddr_storage local;
        memset(raw, 0, sizeof raw);
        memset(&local, 0, sizeof local);
        struct sockaddr_in *r4 = (void *)raw, *l4 = (void *)&local;
        struct sockaddr_in6 *r6 = (void *)raw, *l6 = (void *)&local;
        r4->sin_family = AF_INET;
        r4->sin_port = htons(80);
        norm(AF_INET, S, C, AF_INET, "0.0.0.0", 80, 16);
        is_int(sp_addr_unspecified_dest(AF_INET, raw, 16, NULL, 0, NULL), 1, "unspecified: 0.0.0.0 is asked about");
        l4->sin_family = AF_INET;
        inet_pton(AF_INET, "127.0.0.2", &l4->sin_addr);
        sp_addr_unspecified_dest(AF_INET, raw, 16, (void *)&local, sizeof *l4, &out);
        is_str(shown(), "inet 127.0.0.2 80", "unspecified: 0.0.0.0 from a socket bound to 127.0.0.2 goes there");
        l4->sin_addr.s_addr = 0;
        norm(AF_INET, S, C, AF_INET, "0.0.0.0", 80, 16);
        sp_addr_unspecified_dest(AF_INET, raw, 16, (void *)&local, sizeof *l4, &out);
        is_str(shown(), "inet 127.0.0.1 80", "unspecified: from a socket bound to any, loopback");
        inet_pton(AF_INET, "127.0.0.3", &r4->sin_addr);
        is_int(sp_addr_unspecified_dest(AF_INET, raw, 16, NULL, 0, NULL), 0, "unspecified: 127.0.0.3 is not");
        memset(raw, 0, sizeof raw);
        r6->sin6_family = AF_INET6;
        norm(AF_INET6, S, C, AF_INET6, "::", 80, 28);
        memset(&local, 0, sizeof local);
        l6->sin6_family = AF_INET6;
        inet_pton(AF_INET6, "::ffff:127.0.0.5", &l6->sin6_addr);
        is_int(sp_addr_unspecified_dest(AF_INET6, raw, 24, (void *)&local, sizeof *l6, &out), 1,
               "unspecified: :: (24 bytes) is");
        is_str(shown(), "inet6 ::ffff:127.0.0.1 80", "unspecified: :: from a socket bound to a mapped address");
        inet_pton(AF_INET6, "::ffff:0.0.0.0", &r6->sin6_addr);
        norm(AF_INET6, S, C, AF_INET6, "::ffff:0.0.0.0", 80, 28);
        sp_addr_unspecified_dest(AF_INET6, raw, 28, (void *)&local, sizeof *l6, &out);
        is_str(shown(), "inet6 ::ffff:127.0.0.5 80", "unspecified: ::ffff:0.0.0.0 goes to the IPv4 source");
        is_int(sp_addr_unspecified_dest(AF_INET6, raw, 20, NULL, 0, NULL), 0, "unspecified: too short is not");
    }
    done_testing();
    return exit_status();
}
