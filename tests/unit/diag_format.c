/* tests/unit/diag_format.c: the text and JSON formats, exact; our address and time
 * formatting against glibc's inet_ntop and gmtime_r; JSON escaping of any byte.
 * With --json-out FILE it writes a set of awkward events to FILE for tests/diag_json.t. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>

#include "diag.h"
#include "tap.h"

static struct sp_rule rule12 = {
    .action = SP_ACT_SET, .op = SP_OP_CONNECT, .file = "policy.conf", .line = 12,
    .text = "connect tcp 10.9.9.9:80 set keepalive nodelay",
};

static void set4(struct sp_event *ev, int which, const char *ip, int port)
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, ip, &in.sin_addr);
    sp_event_set_addr(ev, which, (struct sockaddr *)&in, sizeof in);
}

/* The example event, with fixed time, pid and name. */
static void example(struct sp_event *ev)
{
    sp_event_init(ev, SP_OP_CONNECT, 5);
    ev->when.tv_sec = 1714564800; /* 2024-05-01T12:00:00Z */
    ev->when.tv_nsec = 123456789;
    ev->pid = 1234;
    strcpy(ev->prog, "curl");
    ev->type = SOCK_STREAM;
    set4(ev, 0, "10.0.0.1", 40312);
    set4(ev, 1, "10.9.9.9", 80);
    ev->err = ECONNREFUSED;
    ev->duration_ns = 412000;
    ev->rule = &rule12;
    ev->opts_asked = BIO_OPT_BIT(BIO_OPT_KEEPALIVE) | BIO_OPT_BIT(BIO_OPT_NODELAY);
    ev->opts.applied = ev->opts_asked;
}

static void test_addresses(void)
{
    static const char *const v6[] = {
        "::", "::1", "1::", "2001:db8::1", "2001:db8:0:0:1:0:0:1", "::ffff:10.1.2.3",
        "::10.1.2.3", "fe80::1:2:3:4", "1:0:0:2:0:0:0:3", "1:2:3:4:5:6:7:8", "0:0:1::",
        "::ffff:0:0", "1:0:1:0:1:0:1:0", "::2:3:4:5:6:7:8",
    };
    int bad = 0;
    char mine[128], theirs[INET6_ADDRSTRLEN];
    for (size_t i = 0; i < sizeof v6 / sizeof v6[0]; i++) {
        struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
        inet_pton(AF_INET6, v6[i], &s6.sin6_addr);
        sp_format_addr((struct sockaddr *)&s6, sizeof s6, mine, sizeof mine);
        inet_ntop(AF_INET6, &s6.sin6_addr, theirs, sizeof theirs);
        if (strcmp(mine, theirs) != 0 && bad++ < 5)
            diag("  %s: ours %s, inet_ntop %s", v6[i], mine, theirs);
    }
    srand(42);
    for (int i = 0; i < 20000; i++) {
        struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
        for (int w = 0; w < 8; w++) { /* zero-heavy, to exercise the "::" choice */
            unsigned v = rand() % 3 ? 0 : (unsigned)rand() & (rand() % 2 ? 0xffff : 0xf);
            s6.sin6_addr.s6_addr[2 * w] = (uint8_t)(v >> 8);
            s6.sin6_addr.s6_addr[2 * w + 1] = (uint8_t)v;
        }
        if (i % 7 == 0) { /* v4-mapped */
            memset(s6.sin6_addr.s6_addr, 0, 10);
            s6.sin6_addr.s6_addr[10] = s6.sin6_addr.s6_addr[11] = 0xff;
        }
        sp_format_addr((struct sockaddr *)&s6, sizeof s6, mine, sizeof mine);
        inet_ntop(AF_INET6, &s6.sin6_addr, theirs, sizeof theirs);
        if (strcmp(mine, theirs) != 0 && bad++ < 5)
            diag("  ours %s, inet_ntop %s", mine, theirs);
        struct sockaddr_in s4 = {.sin_family = AF_INET};
        s4.sin_addr.s_addr = (uint32_t)rand() * 2654435761u;
        sp_format_addr((struct sockaddr *)&s4, sizeof s4, mine, sizeof mine);
        inet_ntop(AF_INET, &s4.sin_addr, theirs, sizeof theirs);
        if (strcmp(mine, theirs) != 0 && bad++ < 5)
            diag("  ours %s, inet_ntop %s", mine, theirs);
    }
    is_int(bad, 0, "IPv4 and IPv6 addresses print as inet_ntop prints them (20000 random + 14 fixed)");

    struct sockaddr_un un = {.sun_family = AF_UNIX};
    memcpy(un.sun_path, "\0abs\0x", 6);
    socklen_t ulen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 6);
    size_t n = sp_format_addr((struct sockaddr *)&un, ulen, mine, sizeof mine);
    ok(n == 6 && memcmp(mine, "@abs\0x", 6) == 0, "abstract AF_UNIX name: '@' then every byte, NULs too");
    n = sp_format_addr((struct sockaddr *)&un, sizeof(sa_family_t), mine, sizeof mine);
    is_str(mine, "unnamed", "unnamed AF_UNIX socket");
}

static void test_time(void)
{
    char buf[64];
    struct sp_buf b;
    struct timespec ts = {0, 0};
    sp_buf_init(&b, buf, sizeof buf);
    sp_buf_put_time(&b, &ts);
    is_str(buf, "1970-01-01T00:00:00.000000Z", "the epoch");
    ts.tv_sec = 951782400 + 86399; /* 2000-02-29, leap day of a century leap year */
    ts.tv_nsec = 999999999;
    sp_buf_init(&b, buf, sizeof buf);
    sp_buf_put_time(&b, &ts);
    is_str(buf, "2000-02-29T23:59:59.999999Z", "2000-02-29, last microsecond");
    int bad = 0;
    srand(7);
    for (int i = 0; i < 5000; i++) {
        time_t t = (time_t)((uint64_t)rand() * 17 % 8000000000u);
        struct tm tm;
        char want[64];
        gmtime_r(&t, &tm);
        strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%S.000000Z", &tm);
        ts.tv_sec = t;
        ts.tv_nsec = 0;
        sp_buf_init(&b, buf, sizeof buf);
        sp_buf_put_time(&b, &ts);
        if (strcmp(buf, want) != 0 && bad++ < 3)
            diag("  %lld: ours %s, gmtime %s", (long long)t, buf, want);
    }
    is_int(bad, 0, "5000 random times up to year 2223 match gmtime_r");
}

static void test_text(void)
{
    char line[SP_DIAG_LINE_MAX];
    struct sp_event ev;
    example(&ev);
    sp_format_text(&ev, 0, line, sizeof line);
    is_str(line,
           "sockpolicy[1234 curl]: connect fd=5 tcp 10.0.0.1:40312 -> 10.9.9.9:80 failed "
           "ECONNREFUSED (111) after 0.4 ms: nothing listens on that port at the destination "
           "(or a firewall there rejected it with a RST) [rule policy.conf:12 set: keepalive "
           "nodelay]\n",
           "text: the issue's example line, exactly");
    sp_format_text(&ev, SP_FMT_F_TIME, line, sizeof line);
    static const char stamped[] = "2024-05-01T12:00:00.123456Z sockpolicy[1234 curl]: connect";
    ok(strncmp(line, stamped, sizeof stamped - 1) == 0,
       "text with SP_FMT_F_TIME starts with the UTC time");

    ev.opts.applied = BIO_OPT_BIT(BIO_OPT_KEEPALIVE);
    ev.opts.failed = BIO_OPT_BIT(BIO_OPT_NODELAY);
    ev.opts.err[BIO_OPT_NODELAY] = ENOPROTOOPT;
    ev.err = 0;
    ev.duration_ns = 12345678;
    sp_format_text(&ev, 0, line, sizeof line);
    is_str(line,
           "sockpolicy[1234 curl]: connect fd=5 tcp 10.0.0.1:40312 -> 10.9.9.9:80 ok after "
           "12 ms [rule policy.conf:12 set: keepalive; refused: nodelay (ENOPROTOOPT)]\n",
           "text: success with an option the kernel refused");

    struct sp_event nb;
    sp_event_init(&nb, SP_OP_CONNECT, 7);
    nb.pid = 9;
    strcpy(nb.prog, "py");
    nb.type = SOCK_STREAM;
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
    inet_pton(AF_INET6, "2001:db8::9", &s6.sin6_addr);
    sp_event_set_addr(&nb, 1, (struct sockaddr *)&s6, sizeof s6);
    nb.err = ETIMEDOUT;
    nb.phase = SP_PHASE_SO_ERROR;
    nb.flags = SP_EVF_NONBLOCK;
    nb.duration_ns = 2100000000;
    sp_format_text(&nb, 0, line, sizeof line);
    ok(strncmp(line, "sockpolicy[9 py]: connect fd=7 tcp6 [2001:db8::9]:443 failed ETIMEDOUT (110) after "
                     "2.1 s (non-blocking, seen by SO_ERROR): no answer",
               128) == 0 &&
           strstr(line, "net.ipv4.tcp_syn_retries"),
       "text: non-blocking ETIMEDOUT learnt by SO_ERROR names the sysctl");

    nb.err = 0;
    nb.phase = SP_PHASE_CLOSE;
    nb.tcp_state = TCP_SYN_SENT;
    nb.duration_ns = 3200000000u;
    sp_format_text(&nb, 0, line, sizeof line);
    is_str(line,
           "sockpolicy[9 py]: connect fd=7 tcp6 [2001:db8::9]:443 never completed: closed after "
           "3.2 s pending, TCP state SYN_SENT: the program closed the socket before the "
           "connection completed\n",
           "text: a non-blocking connect still pending at close");

    struct sp_event sup;
    sp_event_init(&sup, SP_OP_CONNECT, -1);
    sup.pid = 9;
    strcpy(sup.prog, "py");
    sup.flags = SP_EVF_SUPPRESSED;
    sup.suppressed = 990;
    sp_format_text(&sup, 0, line, sizeof line);
    is_str(line, "sockpolicy[9 py]: suppressed 990 events (rate limit)\n", "text: suppressed line");

    struct sp_event bad;
    sp_event_init(&bad, SP_OP_CONNECT, 3);
    bad.pid = 1;
    memcpy(bad.prog, "a\"b\\c\nd\x01\xff", 10);
    bad.type = SOCK_STREAM;
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    strcpy(un.sun_path, "/tmp/x y\n");
    sp_event_set_addr(&bad, 1, (struct sockaddr *)&un, sizeof un);
    bad.err = ENOENT;
    sp_format_text(&bad, 0, line, sizeof line);
    is_str(line,
           "sockpolicy[1 a\"b\\x5cc\\x0ad\\x01\\xff]: connect fd=3 unix-stream /tmp/x y\\x0a "
           "failed ENOENT (2) after 0 us: no socket file at that path (the server is not "
           "running?)\n",
           "text: control bytes, backslash and high bytes escaped, the line stays one line");

    struct sp_rule deny = {.action = SP_ACT_DENY, .file = "/etc/sockpolicy.conf", .line = 3,
                           .text = "connect 10.0.0.0/8 deny"};
    example(&ev);
    ev.rule = &deny;
    ev.err = EACCES;
    ev.opts_asked = 0;
    ev.opts.applied = 0;
    ev.duration_ns = 0;
    sp_format_text(&ev, 0, line, sizeof line);
    is_str(line,
           "sockpolicy[1234 curl]: connect fd=5 tcp 10.0.0.1:40312 -> 10.9.9.9:80 failed "
           "EACCES (13) after 0 us: denied by a sockpolicy rule; the kernel was never asked "
           "[rule /etc/sockpolicy.conf:3 deny]\n",
           "text: a denied rule");

    char small[40];
    size_t n = sp_format_text(&ev, 0, small, sizeof small);
    ok(n == 39 && small[38] == '\n' && memcmp(small + 35, "...", 3) == 0,
       "text cut to a small buffer ends in '...\\n'");
}

static void test_json(void)
{
    char line[SP_DIAG_LINE_MAX];
    struct sp_event ev;
    example(&ev);
    sp_format_json(&ev, line, sizeof line);
    is_str(line,
           "{\"time\":\"2024-05-01T12:00:00.123456Z\",\"event\":\"call\",\"pid\":1234,"
           "\"prog\":\"curl\",\"fd\":5,\"op\":\"connect\",\"errno\":111,\"errno_name\":"
           "\"ECONNREFUSED\",\"result\":\"failed\",\"family\":\"inet\",\"type\":\"stream\","
           "\"local_addr\":\"10.0.0.1\",\"local_port\":40312,\"remote_addr\":\"10.9.9.9\","
           "\"remote_port\":80,\"explanation\":\"nothing listens on that port at the "
           "destination (or a firewall there rejected it with a RST)\",\"duration_ns\":412000,"
           "\"phase\":\"call\",\"nonblocking\":false,\"tcp_state\":null,\"rule\":{\"file\":"
           "\"policy.conf\",\"line\":12,\"action\":\"set\",\"text\":\"connect tcp "
           "10.9.9.9:80 set keepalive nodelay\"},\"options\":{\"asked\":[\"keepalive\","
           "\"nodelay\"],\"applied\":[\"keepalive\",\"nodelay\"],\"skipped\":[],\"failed\":[],"
           "\"differ\":[]},\"note\":null}\n",
           "json: the example event, exactly");

    struct sp_event bad;
    sp_event_init(&bad, SP_OP_BIND, 3);
    bad.when = ev.when;
    bad.pid = 1;
    memcpy(bad.prog, "q\"\\\n\x7f\xc3\xa9\xff", 9);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    memcpy(un.sun_path, "\0ab\x01\xe2\x82\xac", 7);
    sp_event_set_addr(&bad, 0, (struct sockaddr *)&un,
                      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 7));
    bad.err = EADDRINUSE;
    bad.note = "tab\there";
    sp_format_json(&bad, line, sizeof line);
    ok(strstr(line, "\"prog\":\"q\\\"\\\\\\n\\u007fé\\u00ff\"") != NULL,
       "json: quote, backslash, newline, DEL escaped; valid UTF-8 kept; invalid byte as \\u00ff");
    ok(strstr(line, "\"local_addr\":\"@ab\\u0001€\",\"local_port\":null") != NULL,
       "json: abstract AF_UNIX name escaped, port null");
    ok(strstr(line, "\"note\":\"tab\\there\"") != NULL, "json: note with a tab");

    /* Every string at its limit and every byte needing an escape still gives one object. */
    static char longtext[4000], longfile[4000];
    memset(longtext, '\x01', sizeof longtext - 1);
    memset(longfile, '\x02', sizeof longfile - 1);
    struct sp_rule huge = {.action = SP_ACT_SET, .file = longfile, .line = 1, .text = longtext};
    struct sp_event big;
    example(&big);
    big.rule = &huge;
    big.note = longtext;
    memset(un.sun_path, 1, sizeof un.sun_path);
    sp_event_set_addr(&big, 0, (struct sockaddr *)&un, sizeof un);
    sp_event_set_addr(&big, 1, (struct sockaddr *)&un, sizeof un);
    size_t n = sp_format_json(&big, line, sizeof line);
    ok(n < SP_DIAG_LINE_MAX && line[n - 1] == '\n' && line[n - 2] == '}' && strchr(line, '\n') == line + n - 1,
       "json: worst-case strings still make one line ending in '}' (%zu bytes)", n);
    n = sp_format_json(&ev, line, 200);
    ok(n > 0 && n < 200 && line[n - 2] == '}' && strstr(line, "\"truncated\":true"),
       "json: a 200-byte buffer gives a shorter object marked truncated");
}

static int json_out(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return 1;
    char line[SP_DIAG_LINE_MAX];
    struct sp_event ev;
    example(&ev);
    fputs((sp_format_json(&ev, line, sizeof line), line), f);
    for (int c = 0; c < 256; c += 8) { /* every byte value, in names and paths */
        struct sp_event e;
        sp_event_init(&e, SP_OP_CONNECT, c);
        for (int i = 0; i < 8; i++)
            e.prog[i] = (char)(c + i ? c + i : 1);
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        for (int i = 0; i < 100; i++)
            un.sun_path[i] = (char)((c + i) & 0xff);
        un.sun_path[0] = c ? (char)c : 0;
        sp_event_set_addr(&e, 1, (struct sockaddr *)&un, sizeof un);
        e.err = c;
        e.note = e.prog;
        e.phase = (enum sp_phase)(c % 3);
        fputs((sp_format_json(&e, line, sizeof line), line), f);
    }
    ev.flags = SP_EVF_SUPPRESSED;
    ev.suppressed = 5;
    fputs((sp_format_json(&ev, line, sizeof line), line), f);
    return fclose(f) != 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--json-out") == 0)
        return json_out(argv[2]);
    test_addresses();
    test_time();
    test_text();
    test_json();
    return done_testing();
}
