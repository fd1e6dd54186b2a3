/* tests/fuzz/policy_fuzz.c: libFuzzer target for the policy loader and matcher. Each input is
 * a policy file (includes disabled: they would read the fuzzer's file system); a policy that
 * loads is specialised and asked a few calls, and every diagnostic is checked for sane
 * positions. Built and run by tests/fuzz.sh. */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "policy.h"
#include "policy_int.h"

static void check_diag(void *ctx, const struct sp_diag *d)
{
    const uint8_t *data = ctx;
    (void)data;
    if (!d->msg || !d->file || strlen(d->msg) == 0)
        abort();
    if (d->line_text && d->line_len > 4096)
        abort();
    if (d->line_text) { /* every byte of the shown line must be readable */
        volatile unsigned sum = 0;
        for (unsigned i = 0; i < d->line_len; i++)
            sum += (unsigned char)d->line_text[i];
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sp_load_opts o = {1};
    struct sp_policy *p = sp__load_mem_opts("fuzz.conf", (const char *)data, size, check_diag,
                                            (void *)data, &o);
    if (!p)
        return 0;
    const char *progs[] = {"curl", "postfix", ""};
    for (int k = 0; k < 3; k++) {
        if (sp_policy_specialise(p, progs[k], (uid_t)(k * 1000)) != 0)
            abort();
        struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(80 + k)),
                                 .sin_addr.s_addr = htonl(0x0a010203u + (uint32_t)k)};
        struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
        in6.sin6_addr.s6_addr[0] = 0x20;
        in6.sin6_addr.s6_addr[1] = 0x01;
        struct sockaddr_un un = {.sun_family = AF_UNIX, .sun_path = "/run/x.sock"};
        for (int op = 0; op < SP_OP_COUNT; op++) {
            struct sp_query q[4] = {
                {(enum sp_op)op, AF_INET, SOCK_STREAM, (struct sockaddr *)&in, sizeof in},
                {(enum sp_op)op, AF_INET6, SOCK_DGRAM, (struct sockaddr *)&in6, sizeof in6},
                {(enum sp_op)op, AF_UNIX, SOCK_STREAM, (struct sockaddr *)&un, sizeof un},
                {(enum sp_op)op, AF_INET, SOCK_STREAM, NULL, 0}};
            for (int i = 0; i < 4; i++) {
                const struct sp_rule *r = sp_policy_match(p, &q[i]);
                if (r && (r->op != (enum sp_op)op || r != sp_policy_rule(p, r->index)))
                    abort();
            }
            (void)sp_policy_has_op(p, (enum sp_op)op);
        }
    }
    char buf[256];
    for (size_t i = 0; i < sp_policy_rule_count(p); i++)
        sp_rule_describe(sp_policy_rule(p, i), buf, sizeof buf);
    sp_policy_free(p);
    return 0;
}
