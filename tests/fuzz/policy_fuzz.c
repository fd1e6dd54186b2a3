/* tests/fuzz/policy_fuzz.c: libFuzzer target for the policy loader and matcher. Each input is
 * a policy file (includes disabled: they would read the fuzzer's file system). Every
 * diagnostic is checked for sane positions. A policy that loads is specialised for three
 * processes and asked a few calls of every op and family, each answer checked against the
 * rule list; one input in eight that loads is also saved to a compiled file in a private
 * temporary directory, mapped back and asked the same calls, which must get the same answers.
 * Built and run by tests/fuzz.sh (see tests/fuzz/README.md). */
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "policy.h"
#include "policy_int.h"

static void check_diag(void *ctx, const struct sp_diag *d)
{
    (void)ctx;
    if (!d->msg || !d->file || strlen(d->msg) == 0 || d->severity < 0 || d->severity > 1)
        abort();
    if (d->line_text && d->line_len > SP_MAX_LINE)
        abort();
    if (d->line_text) { /* every byte of the shown line must be readable */
        volatile unsigned sum = 0;
        for (unsigned i = 0; i < d->line_len; i++)
            sum += (unsigned char)d->line_text[i];
    }
}

#define NQ 5
/* The answers of p to the fixed queries, as rule indices (-1: none), into out[op][k][q]. */
static void ask(struct sp_policy *p, int k, long out[SP_OP_COUNT][NQ])
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(80 + k)),
                             .sin_addr.s_addr = htonl(0x0a010203u + (uint32_t)k)};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)(443 * k))};
    in6.sin6_addr.s6_addr[0] = 0x20;
    in6.sin6_addr.s6_addr[1] = 0x01;
    in6.sin6_addr.s6_addr[15] = (uint8_t)k;
    struct sockaddr_in6 m6 = {.sin6_family = AF_INET6, .sin6_port = htons(5432)};
    m6.sin6_addr.s6_addr[10] = m6.sin6_addr.s6_addr[11] = 0xff; /* ::ffff:127.0.0.1 */
    m6.sin6_addr.s6_addr[12] = 127;
    m6.sin6_addr.s6_addr[15] = 1;
    struct sockaddr_un un = {.sun_family = AF_UNIX, .sun_path = "/run/x.sock"};
    for (int op = 0; op < SP_OP_COUNT; op++) {
        struct sp_query q[NQ] = {
            {(enum sp_op)op, AF_INET, SOCK_STREAM, (struct sockaddr *)&in, sizeof in},
            {(enum sp_op)op, AF_INET6, SOCK_DGRAM, (struct sockaddr *)&in6, sizeof in6},
            {(enum sp_op)op, AF_INET6, SOCK_STREAM, (struct sockaddr *)&m6, sizeof m6},
            {(enum sp_op)op, AF_UNIX, SOCK_STREAM, (struct sockaddr *)&un, sizeof un},
            {(enum sp_op)op, AF_INET, k ? SOCK_RAW : SOCK_STREAM, NULL, 0}};
        for (int i = 0; i < NQ; i++) {
            const struct sp_rule *r = sp_policy_match(p, &q[i]);
            if (r && (r->op != (enum sp_op)op || r != sp_policy_rule(p, r->index)))
                abort();
            out[op][i] = r ? (long)r->index : -1;
        }
        (void)sp_policy_has_op(p, (enum sp_op)op);
    }
}

static char dir[64];
static void cleanup(void)
{
    char path[96];
    snprintf(path, sizeof path, "%s/p.spc", dir);
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned loaded;
    struct sp_load_opts o = {1, 0};
    struct sp_policy *p = sp__load_mem_opts("fuzz.conf", (const char *)data, size, check_diag,
                                            NULL, &o);
    if (!p)
        return 0;
    static const char *const progs[] = {"curl", "postfix", ""};
    long got[3][SP_OP_COUNT][NQ];
    for (int k = 0; k < 3; k++) {
        if (sp_policy_specialise(p, progs[k], (uid_t)(k * 1000)) != 0)
            abort();
        ask(p, k, got[k]);
    }
    char buf[256];
    for (size_t i = 0; i < sp_policy_rule_count(p); i++) { /* truncated, always terminated */
        size_t need = sp_rule_describe(sp_policy_rule(p, i), buf, sizeof buf);
        if (strlen(buf) != (need < sizeof buf ? need : sizeof buf - 1))
            abort();
    }
    if (loaded++ % 8 == 0) { /* the compiled file decides alike */
        char path[96];
        if (!dir[0]) {
            snprintf(dir, sizeof dir, "/tmp/policy_fuzz.XXXXXX");
            if (!mkdtemp(dir))
                abort();
            atexit(cleanup);
        }
        snprintf(path, sizeof path, "%s/p.spc", dir);
        if (sp_policy_save(p, path) != 0)
            abort();
        struct sp_policy *m = sp_policy_map(path, NULL, NULL);
        if (!m || sp_policy_rule_count(m) != sp_policy_rule_count(p))
            abort();
        for (int k = 0; k < 3; k++) {
            long again[SP_OP_COUNT][NQ];
            if (sp_policy_specialise(m, progs[k], (uid_t)(k * 1000)) != 0)
                abort();
            ask(m, k, again);
            if (memcmp(again, got[k], sizeof again))
                abort();
        }
        sp_policy_free(m);
    }
    sp_policy_free(p);
    return 0;
}
