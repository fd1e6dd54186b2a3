/* tests/unit/conformance.c: a differential test of core/ against Debian's libcrypto 3.0.
 * Each case builds the same fresh fixture twice (plain libc: sockets, listeners, a TIME_WAIT
 * port, a full AF_UNIX backlog...), runs one call through OpenSSL's BIO_* and through our
 * bio_*, and compares the return value, errno, every error-queue entry (packed code and data
 * string, via ERR_get_error_all) and the socket state afterwards (O_NONBLOCK, SO_KEEPALIVE,
 * TCP_NODELAY, SO_REUSEADDR, IPV6_V6ONLY, SO_ACCEPTCONN, SO_TYPE, getsockname, still open).
 * Ports the kernel picks differ between the two runs, so a port compares as "zero or not".
 * The parts are in tests/unit/conformance/: api.c (the two implementations), fixture.c,
 * run.c (one case, observed) and cases.c (the cases by routine).
 *
 * BIO_SOCK_TFO is left out: 3.0 ignores it, ours implements 3.2's Linux TFO (core_tfo.t). */

#include "conformance/conformance.h"

#include "tap.h"

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

int main(void)
{
    char tmpl[] = "/tmp/sp_conformance.XXXXXX";
    int n = ncases, agree = 0, i;
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
