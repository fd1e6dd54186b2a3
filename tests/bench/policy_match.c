/* tests/bench/policy_match.c: the policy's cost. `policy_match N time` prints the best-of-20
 * times to load (parse + compile) and to specialise an N-rule policy; `policy_match N match Q`
 * classifies Q calls (run it under callgrind --toggle-collect=sp_policy_match to count the
 * instructions per match; tests/bench/policy.sh does). The policy is a realistic mix: IPv4
 * /24, /16 and host rules with one of 16 port sets, IPv6 /48s, a few prog rules and the
 * issue's example at the top. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "policy.h"

static uint64_t seed = 88172645463325252ULL;
static unsigned rnd(unsigned n)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return (unsigned)(seed % n);
}

static const char *const portsets[16] = {"5432", "6379", "443", "80,443", "8080-8089", "22",
                                         "3306", "9092", "25", "53", "1000-2000", "11211",
                                         "27017", "9200,9300", "2379-2380", "5672"};
static const char *const acts[] = {"set connect", "deny connect", "pass connect", "audit connect"};

static const char *conf_path;
static void unlink_conf(void)
{
    if (conf_path)
        unlink(conf_path);
}

static size_t make_policy(char *buf, int n)
{
    char *w = buf;
    for (int i = 0; i < n; i++) {
        unsigned k = rnd(100);
        const char *act = acts[rnd(4)];
        const char *opt = act[0] == 's' ? " nodelay keepalive=60/10/5" : "";
        if (k < 60)
            w += sprintf(w, "%s to 10.%u.%u.0/24 port %s%s\n", act, rnd(256), rnd(256), portsets[rnd(16)], opt);
        else if (k < 75)
            w += sprintf(w, "%s to 172.%u.0.0/16 port %s%s\n", act, 16 + rnd(16), portsets[rnd(16)], opt);
        else if (k < 88)
            w += sprintf(w, "%s to 192.168.%u.%u%s\n", act, rnd(256), rnd(256), opt);
        else if (k < 98)
            w += sprintf(w, "%s to 2001:db8:%x::/48 port %s%s\n", act, rnd(65536), portsets[rnd(16)], opt);
        else
            w += sprintf(w, "set connect prog app%u nodelay\n", rnd(1000));
    }
    w += sprintf(w, "pass connect to 127.0.0.0/8\ndefault connect deny\n");
    return (size_t)(w - buf);
}

/* What the shim does: no covered-rule warnings. Through a file, as the shim reads it. */
static struct sp_policy *load_nowarn(const char *buf, size_t len)
{
    static char path[64];
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/policy_match.%d.conf", (int)getpid());
        FILE *f = fopen(path, "w");
        if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
            return NULL;
        if (!getenv("PM_KEEP"))
            atexit(unlink_conf);
        conf_path = path;
    }
    return sp_policy_load_ex(path, SP_LOAD_NO_WARNINGS, NULL, NULL);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: policy_match N time | N match Q\n");
        return 2;
    }
    int n = atoi(argv[1]);
    char *buf = malloc((size_t)n * 128 + 4096);
    size_t len = make_policy(buf, n);
    char spc[64];
    snprintf(spc, sizeof spc, "/tmp/policy_match.%d.spc", (int)getpid());
    if (!strcmp(argv[2], "time")) {
        double best_load = 1e9, best_check = 1e9, best_spec = 1e9, best_map = 1e9;
        for (int r = 0; r < 20; r++) {
            double t0 = now();
            struct sp_policy *p = sp_policy_load_mem("bench.conf", buf, len, NULL, NULL);
            double t1 = now();
            struct sp_policy *pn = load_nowarn(buf, len);
            double t2 = now();
            if (!p || !pn || sp_policy_specialise(p, "bench", 1000) != 0) {
                fprintf(stderr, "policy did not load\n");
                return 1;
            }
            double t3 = now();
            if (r == 0 && sp_policy_save(pn, spc) != 0) {
                perror("sp_policy_save");
                return 1;
            }
            double t4 = now();
            struct sp_policy *pm = sp_policy_map(spc, NULL, NULL);
            double t5 = now();
            if (!pm || sp_policy_specialise(pm, "bench", 1000) != 0) {
                fprintf(stderr, "compiled policy did not map\n");
                return 1;
            }
            best_check = t1 - t0 < best_check ? t1 - t0 : best_check;
            best_load = t2 - t1 < best_load ? t2 - t1 : best_load;
            best_spec = t3 - t2 < best_spec ? t3 - t2 : best_spec;
            best_map = t5 - t4 < best_map ? t5 - t4 : best_map;
            sp_policy_free(p);
            sp_policy_free(pn);
            sp_policy_free(pm);
        }
        unlink(spc);
        printf("rules %d bytes %zu load_ms %.3f specialise_ms %.4f check_ms %.3f map_ms %.3f\n", n, len,
               best_load * 1e3, best_spec * 1e3, best_check * 1e3, best_map * 1e3);
        return 0;
    }
    if (!strcmp(argv[2], "specialise") || !strcmp(argv[2], "map") || !strcmp(argv[2], "load")) {
        /* Run K times; callgrind --toggle-collect=sp_policy_specialise (or sp_policy_map,
         * sp_policy_load_ex) divides by K. */
        int k = argc > 3 ? atoi(argv[3]) : 10;
        struct sp_policy *p = load_nowarn(buf, len);
        if (!p || sp_policy_save(p, spc) != 0)
            return 1;
        for (int i = 0; i < k; i++) {
            if (argv[2][0] == 's') {
                if (sp_policy_specialise(p, "bench", 1000) != 0)
                    return 1;
            } else if (argv[2][0] == 'm') {
                struct sp_policy *pm = sp_policy_map(spc, NULL, NULL);
                if (!pm)
                    return 1;
                sp_policy_free(pm);
            } else {
                struct sp_policy *pl = load_nowarn(buf, len);
                if (!pl)
                    return 1;
                sp_policy_free(pl);
            }
        }
        unlink(spc);
        sp_policy_free(p);
        return 0;
    }
    int q = argc > 3 ? atoi(argv[3]) : 100000;
    struct sp_policy *p = sp_policy_load_mem("bench.conf", buf, len, NULL, NULL);
    if (!p || sp_policy_specialise(p, "bench", 1000) != 0)
        return 1;
    struct sockaddr_storage *ss = calloc((size_t)q, sizeof *ss);
    struct sp_query *qs = calloc((size_t)q, sizeof *qs);
    static const unsigned short ports[] = {5432, 443, 80, 22, 8085, 1500, 6379, 9999};
    for (int i = 0; i < q; i++) {
        unsigned k = rnd(10);
        if (k < 8) {
            struct sockaddr_in *in = (void *)&ss[i];
            in->sin_family = AF_INET;
            in->sin_port = htons(ports[rnd(8)]);
            uint32_t a = k < 5 ? (10u << 24 | rnd(1u << 24)) : k < 7 ? (172u << 24 | (16 + rnd(16)) << 16 | rnd(65536)) : rnd(0xffffffffu);
            in->sin_addr.s_addr = htonl(a);
            qs[i] = (struct sp_query){SP_OP_CONNECT, AF_INET, SOCK_STREAM, (void *)in, sizeof *in};
        } else {
            struct sockaddr_in6 *in6 = (void *)&ss[i];
            in6->sin6_family = AF_INET6;
            in6->sin6_port = htons(ports[rnd(8)]);
            inet_pton(AF_INET6, "2001:db8::1", &in6->sin6_addr);
            in6->sin6_addr.s6_addr[4] = (uint8_t)rnd(256);
            in6->sin6_addr.s6_addr[5] = (uint8_t)rnd(256);
            qs[i] = (struct sp_query){SP_OP_CONNECT, AF_INET6, SOCK_STREAM, (void *)in6, sizeof *in6};
        }
    }
    unsigned long hits = 0;
    double t0 = now();
    for (int i = 0; i < q; i++)
        hits += sp_policy_match(p, &qs[i]) != NULL;
    double t1 = now();
    printf("rules %d queries %d matched %lu ns_per_match %.1f\n", n, q, hits, (t1 - t0) * 1e9 / q);
    sp_policy_free(p);
    return 0;
}
