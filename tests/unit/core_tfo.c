/* tests/unit/core_tfo.c: TCP Fast Open as OpenSSL 3.2+ does it on Linux, in a private network
 * namespace (this process unshares one: lo up, net.ipv4.tcp_fastopen=3). bio_listen with
 * BIO_SOCK_TFO sets a TCP_FASTOPEN queue length that reads back; the first client connection
 * with BIO_SOCK_TFO fetches a cookie, the second carries its data in the SYN: the namespace's
 * TCPFastOpenActive/Passive counters rise and tcpi_options has TCPI_OPT_SYN_DATA.
 * Skips when the namespace cannot be created (not root, or a container without CLONE_NEWNET). */
#include "core_helpers.h"

#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/ioctl.h>

#define NTESTS 12

static int lo_up(void)
{
    struct ifreq ifr;
    int fd = socket(AF_INET, SOCK_DGRAM, 0), r;

    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    r = ioctl(fd, SIOCGIFFLAGS, &ifr);
    ifr.ifr_flags |= IFF_UP;
    if (r == 0)
        r = ioctl(fd, SIOCSIFFLAGS, &ifr);
    close(fd);
    return r;
}

static int write_file(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    int r;

    if (!f)
        return -1;
    r = fputs(s, f) < 0;
    return fclose(f) != 0 || r ? -1 : 0;
}

static int read_int_file(const char *path, int dflt)
{
    FILE *f = fopen(path, "r");
    int v = dflt;

    if (f) {
        if (fscanf(f, "%d", &v) != 1)
            v = dflt;
        fclose(f);
    }
    return v;
}

/* A TcpExt counter from this namespace's /proc/net/netstat, or -1. */
static long tcpext(const char *name)
{
    FILE *f = fopen("/proc/net/netstat", "r");
    char head[8192], vals[8192];
    long result = -1;

    if (!f)
        return -1;
    while (fgets(head, sizeof head, f) && fgets(vals, sizeof vals, f)) {
        char *hs, *vs, *h, *v;

        if (strncmp(head, "TcpExt:", 7) != 0)
            continue;
        h = strtok_r(head, " \n", &hs);
        v = strtok_r(vals, " \n", &vs);
        while ((h = strtok_r(NULL, " \n", &hs)) && (v = strtok_r(NULL, " \n", &vs)))
            if (strcmp(h, name) == 0)
                result = atol(v);
    }
    fclose(f);
    return result;
}

/* One TFO client connection: bio_connect(TFO), write, the server accepts and reads it.
 * Returns the client's tcpi_options, or -1. */
static int tfo_round(int lfd, const bio_addr *a, const char *msg)
{
    int c = bio_socket(AF_INET, SOCK_STREAM, 0, 0), s, opts = -1;
    char buf[32];
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    struct pollfd pfd = {.fd = lfd, .events = POLLIN};

    if (c < 0 || !bio_connect(c, a, BIO_SOCK_TFO))
        return -1;
    if (write(c, msg, strlen(msg)) != (ssize_t)strlen(msg))
        goto out;
    if (poll(&pfd, 1, 2000) != 1 || (s = bio_accept_ex(lfd, NULL, 0)) < 0)
        goto out;
    memset(buf, 0, sizeof buf);
    if (read(s, buf, sizeof buf - 1) == (ssize_t)strlen(msg) && strcmp(buf, msg) == 0 &&
        getsockopt(c, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0)
        opts = ti.tcpi_options;
    close(s);
out:
    close(c);
    return opts;
}

int main(void)
{
    bio_addr a = addr4("127.0.0.1", 0);
    int lfd, somax, o1, o2, i;
    long act0, pas0, act1, pas1;

    plan(NTESTS);
    if (unshare(CLONE_NEWNET) != 0) {
        for (i = 0; i < NTESTS; i++)
            skip("cannot unshare a network namespace here: %s", strerror(errno));
        return 0;
    }
    if (lo_up() != 0 || write_file("/proc/sys/net/ipv4/tcp_fastopen", "3") != 0) {
        for (i = 0; i < NTESTS; i++)
            skip("cannot set up lo or tcp_fastopen in the namespace");
        return 0;
    }
    ok(1, "private namespace with lo up");
    is_int(read_int_file("/proc/sys/net/ipv4/tcp_fastopen", -1), 3, "net.ipv4.tcp_fastopen=3");
    somax = read_int_file("/proc/sys/net/core/somaxconn", SOMAXCONN);

    lfd = bio_socket(AF_INET, SOCK_STREAM, 0, 0);
    is_int(bio_listen(lfd, &a, BIO_SOCK_TFO | BIO_SOCK_REUSEADDR), 1, "bio_listen TFO");
    is_int(getint(lfd, IPPROTO_TCP, TCP_FASTOPEN), somax < SOMAXCONN ? somax : SOMAXCONN,
           "listener's TCP_FASTOPEN queue length reads back (SOMAXCONN, capped by somaxconn)");
    a = addr4("127.0.0.1", (unsigned short)local_port(lfd));

    act0 = tcpext("TCPFastOpenActive");
    pas0 = tcpext("TCPFastOpenPassive");
    ok(act0 >= 0 && pas0 >= 0, "TcpExt TCPFastOpen counters readable (%ld, %ld)", act0, pas0);
    o1 = tfo_round(lfd, &a, "first");
    ok(o1 >= 0, "first TFO connection carries its data");
    ok(!(o1 & TCPI_OPT_SYN_DATA), "first connection: no cookie yet, data after the handshake");
    act1 = tcpext("TCPFastOpenActive");
    pas1 = tcpext("TCPFastOpenPassive");
    o2 = tfo_round(lfd, &a, "second");
    ok(o2 >= 0, "second TFO connection carries its data");
    ok(o2 >= 0 && (o2 & TCPI_OPT_SYN_DATA), "second connection: tcpi_options has SYN_DATA");
    is_int(tcpext("TCPFastOpenActive") - act1, 1, "TCPFastOpenActive rose by one (data in SYN)");
    is_int(tcpext("TCPFastOpenPassive") - pas1, 1, "TCPFastOpenPassive rose by one");
    QUEUE0("no errors queued");
    close(lfd);
    return exit_status();
}
