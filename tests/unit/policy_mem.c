/* tests/unit/policy_mem.c: the policy's memory. A small policy compiles to a small blob (no
 * fixed 128 KiB port table); every way of loading (tiny and large, from memory and from files,
 * with includes, failing, specialised into a matcher of its own, saved and mapped) gives back
 * every mapping it made: after hundreds of loads the process maps what it mapped after one.
 * Read back from /proc/self/maps. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy.h"
#include "policy_int.h"
#include "tap.h"

static char dir[64];

/* Sum of the sizes of this process's mappings, in KiB, and their count; raw reads (stdio and
 * malloc would map memory of their own). */
static void maps(unsigned long *kib, unsigned long *count)
{
    static char buf[1 << 20];
    size_t len = 0;
    ssize_t r;
    int fd = open("/proc/self/maps", O_RDONLY);
    if (fd < 0)
        abort();
    while ((r = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)r;
    close(fd);
    buf[len] = 0;
    *kib = *count = 0;
    for (char *s = buf; *s;) {
        unsigned long lo = strtoul(s, &s, 16), hi = strtoul(s + 1, &s, 16);
        *kib += (hi - lo) >> 10;
        ++*count;
        s = strchr(s, '\n');
        if (!s)
            break;
        s++;
    }
}

static char *policy_text(int n, size_t *len)
{
    char *buf = malloc((size_t)n * 96 + 256), *w = buf;
    static const char *const ports[] = {"5432", "80,443", "8080-8089", "1000-2000", "22"};
    for (int i = 0; i < n; i++) {
        if (i % 10 == 9)
            w += sprintf(w, "deny connect to 2001:db8:%x::/48 port %s\n", i, ports[i % 5]);
        else
            w += sprintf(w, "set connect to 10.%d.%d.0/24 port %s nodelay\n", (i >> 8) & 255,
                         i & 255, ports[i % 5]);
    }
    w += sprintf(w, "pass connect to 127.0.0.0/8\n");
    *len = (size_t)(w - buf);
    return buf;
}

static const char *put(const char *name, const char *text, size_t len)
{
    static char path[8][128];
    static int k;
    k = (k + 1) % 8;
    snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
    FILE *f = fopen(path[k], "w");
    if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0)
        abort();
    return path[k];
}

static int decides(const struct sp_policy *p, const char *ip, unsigned port, unsigned line)
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, ip, &in.sin_addr);
    struct sp_query q = {SP_OP_CONNECT, AF_INET, SOCK_STREAM, (struct sockaddr *)&in, sizeof in};
    const struct sp_rule *r = sp_policy_match(p, &q);
    return r ? r->line == line : line == 0;
}

static const char *tiny_path, *mid_path, *big_path, *inc_path, *bad_path, *progs_path, *spc;
static const char *tiny_text;
static size_t tiny_len;

/* One round of every way to load; 0 when each gave the expected answers. */
static int round_trip(void)
{
    int bad = 0;
    struct sp_policy *p = sp_policy_load_mem("tiny.conf", tiny_text, tiny_len, NULL, NULL);
    bad |= !p || sp_policy_specialise(p, "t", 0) || !decides(p, "10.0.3.7", 8085, 4);
    sp_policy_free(p);
    const char *files[] = {tiny_path, mid_path, big_path, inc_path};
    /* the line deciding 10.0.1.1:5432 and 10.0.0.1:5432 (0: none) in each file */
    static const unsigned line1[] = {1, 0, 0, 0}, line0[] = {0, 1, 1, 1};
    for (int i = 0; i < 4; i++) {
        p = sp_policy_load_ex(files[i], SP_LOAD_NO_WARNINGS, NULL, NULL);
        bad |= !p || sp_policy_specialise(p, "t", 0) || !decides(p, "10.0.1.1", 5432, line1[i]) ||
               !decides(p, "10.0.0.1", 5432, line0[i]);
        if (i == 2) {
            bad |= sp_policy_save(p, spc) != 0;
            struct sp_policy *m = sp_policy_map(spc, NULL, NULL);
            bad |= !m || sp_policy_specialise(m, "t", 0) || !decides(m, "10.0.0.1", 5432, 1);
            sp_policy_free(m);
        }
        sp_policy_free(p);
    }
    p = sp_policy_load(bad_path, NULL, NULL);
    bad |= p != NULL;
    p = sp_policy_load(progs_path, NULL, NULL);
    bad |= !p || sp_policy_specialise(p, "app", 0) || sp_policy_specialise(p, "other", 0);
    sp_policy_free(p);
    return bad;
}

int main(void)
{
    plan(4);
    snprintf(dir, sizeof dir, "/tmp/policy_mem.XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    static const char tiny[] = "set connect to 10.0.1.0/24 port 5432 nodelay\n"
                               "deny connect to 192.168.0.0/16 port 25\n"
                               "pass connect to 127.0.0.0/8\n"
                               "set connect to 10.0.3.0/24 port 8080-8089 keepalive\n"
                               "set listen port 8080 reuseaddr\n";
    tiny_text = tiny;
    tiny_len = sizeof tiny - 1;
    size_t mid_len, big_len;
    char *mid = policy_text(2000, &mid_len), *big = policy_text(10000, &big_len);
    tiny_path = put("tiny.conf", tiny, tiny_len);
    mid_path = put("mid.conf", mid, mid_len);
    big_path = put("big.conf", big, big_len);
    put("inc.d.conf", mid, mid_len);
    char inc[256];
    int n = snprintf(inc, sizeof inc, "include %s/inc.d.conf\nset connect to 10.0.3.0/24 port 1 pin\n", dir);
    inc_path = put("inc.conf", inc, (size_t)n);
    bad_path = put("bad.conf", "set connect to 10.0.0.0/33\n", 27);
    char progs[2048], *w = progs;
    for (int i = 0; i < 12; i++)
        w += sprintf(w, "set connect prog app to 10.%d.0.0/16 nodelay\n", i);
    progs_path = put("progs.conf", progs, (size_t)(w - progs));
    static char spcbuf[128];
    snprintf(spcbuf, sizeof spcbuf, "%s/big.spc", dir);
    spc = spcbuf;

    struct sp_policy *p = sp_policy_load_mem("tiny.conf", tiny, sizeof tiny - 1, NULL, NULL);
    ok(p && p->size < 32768, "a 5-rule policy compiles to %zu bytes (no 128 KiB port table)",
       p ? p->size : 0);
    sp_policy_free(p);

    ok(round_trip() == 0, "every way of loading answers as written");
    unsigned long kib0, count0, kib1, count1;
    maps(&kib0, &count0);
    int bad = 0;
    for (int i = 0; i < 40; i++)
        bad |= round_trip();
    maps(&kib1, &count1);
    ok(!bad, "40 more rounds answer alike");
    ok(kib1 == kib0 && count1 == count0,
       "every mapping is given back: %lu KiB in %lu mappings before, %lu KiB in %lu after", kib0,
       count0, kib1, count1);
    const char *names[] = {"tiny.conf", "mid.conf", "big.conf", "inc.d.conf", "inc.conf",
                           "bad.conf", "progs.conf", "big.spc"};
    for (int i = 0; i < 8; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
    free(mid);
    free(big);
    return exit_status();
}
