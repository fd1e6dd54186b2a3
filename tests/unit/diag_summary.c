/* tests/unit/diag_summary.c: the per-process summary: counts by errno and destination,
 * rendered most frequent first (exact lines), a full table, and four threads adding at once. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "diag.h"
#include "tap.h"

static struct sp_summary sum, shared;
static char out[8192];

static void collect(void *ctx, const char *line, size_t len)
{
    (void)ctx;
    strncat(out, line, len);
}

static struct sockaddr_in in4(const char *ip, int port)
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, ip, &in.sin_addr);
    return in;
}

static void add(struct sp_summary *s, const char *ip, int port, int err, int times)
{
    struct sockaddr_in in = in4(ip, port);
    for (int i = 0; i < times; i++)
        sp_summary_add(s, (struct sockaddr *)&in, sizeof in, err);
}

static void *worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20000; i++) {
        struct sockaddr_in in = in4("10.0.0.1", 1000 + i % 50);
        sp_summary_add(&shared, (struct sockaddr *)&in, sizeof in, i % 3 ? ECONNREFUSED : 0);
    }
    return NULL;
}

int main(void)
{
    add(&sum, "10.9.9.9", 80, ECONNREFUSED, 5);
    add(&sum, "10.9.9.9", 80, 0, 2);
    add(&sum, "192.0.2.1", 443, ETIMEDOUT, 3);
    add(&sum, "127.0.0.1", 6379, 0, 4);
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(53)};
    inet_pton(AF_INET6, "2001:db8::1", &s6.sin6_addr);
    sp_summary_add(&sum, (struct sockaddr *)&s6, sizeof s6, ENETUNREACH);
    unsigned n = sp_summary_render(&sum, 42, "curl", 0, 10, collect, NULL);
    is_int(n, 8, "8 lines: totals, 3 errnos, 4 destinations");
    is_str(out,
           "sockpolicy[42 curl]: summary: connections made 6, failed 9\n"
           "sockpolicy[42 curl]: summary: failed 5 x ECONNREFUSED\n"
           "sockpolicy[42 curl]: summary: failed 3 x ETIMEDOUT\n"
           "sockpolicy[42 curl]: summary: failed 1 x ENETUNREACH\n"
           "sockpolicy[42 curl]: summary: to 10.9.9.9:80 made 2, failed 5 (last ECONNREFUSED)\n"
           "sockpolicy[42 curl]: summary: to 127.0.0.1:6379 made 4, failed 0\n"
           "sockpolicy[42 curl]: summary: to 192.0.2.1:443 made 0, failed 3 (last ETIMEDOUT)\n"
           "sockpolicy[42 curl]: summary: to [2001:db8::1]:53 made 0, failed 1 (last ENETUNREACH)\n",
           "text summary, most frequent first");
    out[0] = '\0';
    sp_summary_render(&sum, 42, "curl", 0, 1, collect, NULL);
    ok(strstr(out, "failed 5 x ECONNREFUSED") && !strstr(out, "ETIMEDOUT") &&
           strstr(out, "to 10.9.9.9:80") && !strstr(out, "6379"),
       "top 1 keeps only the most frequent errno and destination");
    out[0] = '\0';
    sp_summary_render(&sum, 42, "curl", 1, 2, collect, NULL);
    const char *j = strstr(out, "\"event\":\"summary\"");
    ok(j && strstr(out, ",\"made\":6,\"failed\":9,\"by_errno\":[{\"errno\":111,\"errno_name\":"
                        "\"ECONNREFUSED\",\"count\":5},{\"errno\":110,\"errno_name\":"
                        "\"ETIMEDOUT\",\"count\":3}],\"by_destination\":[{\"addr\":\"10.9.9.9\","
                        "\"port\":80,\"made\":2,\"failed\":5,\"last_errno_name\":"
                        "\"ECONNREFUSED\"},{\"addr\":\"127.0.0.1\",\"port\":6379,\"made\":4,"
                        "\"failed\":0,\"last_errno_name\":null}]}\n"),
       "JSON summary: one object, same order");
    if (!j)
        diag("%s", out);

    static struct sp_summary full;
    for (int i = 0; i < 300; i++) {
        char ip[32];
        snprintf(ip, sizeof ip, "10.1.%d.%d", i / 200, i % 200);
        add(&full, ip, 80, ECONNREFUSED, 1);
    }
    ok(atomic_load(&full.dest_overflow) == 300 - SP_SUMMARY_SLOTS && atomic_load(&full.failed) == 300,
       "300 destinations: %d kept, the rest counted as overflow, totals exact", SP_SUMMARY_SLOTS);

    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, worker, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    uint64_t per = 0, slots = 0;
    for (int i = 0; i < SP_SUMMARY_SLOTS; i++)
        if (atomic_load(&shared.dest[i].state) == 2) {
            slots++;
            per += atomic_load(&shared.dest[i].made) + atomic_load(&shared.dest[i].failed);
        }
    /* A destination may take two slots when its claimer is descheduled between claiming and
     * publishing for longer than the others wait (by design: rendering merges them). */
    ok(atomic_load(&shared.made) + atomic_load(&shared.failed) == 80000 && per == 80000 &&
           slots >= 50 && slots <= 52,
       "4 threads x 20000 over 50 destinations: 50 slots (a rare duplicate allowed), 80000 counted everywhere (slots %llu, sum %llu)",
       (unsigned long long)slots, (unsigned long long)per);
    return done_testing();
}
