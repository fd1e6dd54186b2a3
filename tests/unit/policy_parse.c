/* tests/unit/policy_parse.c: what the loader makes of the example (every value), the
 * expansion of "any", errno left alone on success, no malloc while loading and matching, and
 * the blob's position independence (copied elsewhere and relocated, it still answers). */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "policy.h"
#include "policy_int.h"
#include "tap.h"

#if defined(__SANITIZE_ADDRESS__)
#define NO_INTERPOSE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NO_INTERPOSE 1
#endif
#endif

static int counting;
#ifndef NO_INTERPOSE
static int allocs;
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
void *malloc(size_t n)
{
    allocs += counting;
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b)
{
    allocs += counting;
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n)
{
    allocs += counting;
    return __libc_realloc(p, n);
}
#endif

/* The first error's column and message. */
struct first_err {
    int seen;
    unsigned col;
    char msg[160];
};
static void keep_first(void *ctx, const struct sp_diag *d)
{
    struct first_err *e = ctx;
    if (d->severity == 0 && !e->seen++) {
        e->col = d->col;
        snprintf(e->msg, sizeof e->msg, "%s", d->msg);
    }
}

/* The line scanner reads eight bytes at a time: control characters and word ends at every
 * offset and line length must be found where a byte-by-byte scan finds them. */
static int scan_control(void)
{
    static const unsigned char ctl[] = {0x01, 0x0b, 0x1f, 0x7f, 0x00};
    int bad = 0;
    for (unsigned len = 1; len <= 40; len++)
        for (unsigned at = 0; at < len; at++)
            for (int c = 0; ctl[c]; c++) {
                char line[64];
                for (unsigned i = 0; i < len; i++) /* tabs and UTF-8 bytes are allowed */
                    line[i] = i % 7 == 3 ? '\t' : i % 5 == 1 ? (char)0xc3 : 'a';
                line[at] = (char)ctl[c];
                line[len] = '\n';
                struct first_err e = {0};
                struct sp_policy *p = sp_policy_load_mem("c.conf", line, len + 1, keep_first, &e);
                char want[64];
                snprintf(want, sizeof want, "control character 0x%02x in the line", ctl[c]);
                if (p || e.col != at + 1 || strcmp(e.msg, want)) {
                    bad++;
                    if (bad < 4)
                        diag("len %u at %u 0x%02x: col %u '%s'", len, at, ctl[c], e.col, e.msg);
                }
                sp_policy_free(p);
            }
    return bad;
}

static int scan_words(void)
{
    int bad = 0;
    for (unsigned pad = 1; pad <= 19; pad++)
        for (unsigned wl = 1; wl <= 21; wl++) {
            char line[96], word[32], want[96];
            int n = snprintf(line, sizeof line, "set connect");
            for (unsigned i = 0; i < pad; i++)
                line[n++] = i % 3 == 2 ? '\t' : ' ';
            for (unsigned i = 0; i < wl; i++)
                word[i] = (char)('q' + i % 5);
            word[wl] = 0;
            n += snprintf(line + n, sizeof line - (size_t)n, "%s%s\n", word, pad % 2 ? "\t " : "");
            struct first_err e = {0};
            struct sp_policy *p = sp_policy_load_mem("w.conf", line, (size_t)n, keep_first, &e);
            snprintf(want, sizeof want, "unknown match or option '%s'", word);
            if (p || e.col != 12 + pad || strncmp(e.msg, want, strlen(want))) {
                bad++;
                if (bad < 4)
                    diag("pad %u word %u: col %u '%s'", pad, wl, e.col, e.msg);
            }
            sp_policy_free(p);
        }
    return bad;
}

static const struct sp_rule *match4(struct sp_policy *p, enum sp_op op, const char *ip, int port)
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, ip, &in.sin_addr);
    struct sp_query q = {op, AF_INET, SOCK_STREAM, (struct sockaddr *)&in, sizeof in};
    return sp_policy_match(p, &q);
}

int main(void)
{
    char path[4096];
    const char *top = getenv("SP_TOP");
    snprintf(path, sizeof path, "%s/tests/fixtures/good/issue.conf", top ? top : ".");
    plan(29);

    errno = 4242;
    counting = 1;
    struct sp_policy *p = sp_policy_load(path, NULL, NULL);
    int spec = p ? sp_policy_specialise(p, "curl", 1000) : -1;
    const struct sp_rule *hit = p ? match4(p, SP_OP_CONNECT, "10.1.2.3", 5432) : NULL;
    counting = 0;
    ok(p != NULL && spec == 0, "the issue's example loads and specialises");
    if (!p)
        return exit_status();
    is_int(errno, 4242, "errno is left as it was by a successful load, specialise and match");
#ifdef NO_INTERPOSE
    skip("malloc cannot be interposed under AddressSanitizer");
#else
    is_int(allocs, 0, "no malloc, calloc or realloc while loading, specialising and matching");
#endif
    is_int(sp_policy_rule_count(p), 12, "12 rules");
    const struct sp_rule *r = sp_policy_rule(p, 0);
    uint32_t ka = BIO_OPT_BIT(BIO_OPT_KEEPALIVE) | BIO_OPT_BIT(BIO_OPT_KEEPIDLE) |
                  BIO_OPT_BIT(BIO_OPT_KEEPINTVL) | BIO_OPT_BIT(BIO_OPT_KEEPCNT);
    ok(r->action == SP_ACT_SET && r->op == SP_OP_CONNECT && r->line == 8, "rule 0: set connect, line 8");
    is_int(r->opts.mask, ka | BIO_OPT_BIT(BIO_OPT_NODELAY) | BIO_OPT_BIT(BIO_OPT_USER_TIMEOUT),
           "rule 0 forces keepalive (3 parts), nodelay and user-timeout");
    ok(r->opts.val[BIO_OPT_KEEPIDLE] == 60 && r->opts.val[BIO_OPT_KEEPINTVL] == 10 &&
       r->opts.val[BIO_OPT_KEEPCNT] == 5, "keepalive=60/10/5");
    is_int(r->opts.val[BIO_OPT_USER_TIMEOUT], 30000, "user-timeout=30s is 30000 ms");
    is_str(r->text, "set       connect  to 10.0.0.0/8 port 5432,6379          keepalive=60/10/5 nodelay user-timeout=30s",
           "the rule as written, without its comment");
    r = sp_policy_rule(p, 1);
    ok(r->opts.mask == BIO_OPT_BIT(BIO_OPT_TFO_CONNECT) && r->connect_timeout_ms == 3000,
       "tfo on connect is TCP_FASTOPEN_CONNECT; connect-timeout=3s");
    r = sp_policy_rule(p, 2);
    ok(r->opts.val[BIO_OPT_TFO_QLEN] == 256 && !(r->opts.mask & BIO_OPT_BIT(BIO_OPT_TFO_CONNECT)) &&
       r->opts.val[BIO_OPT_REUSEADDR] == 1, "tfo=256 on listen is the queue; reuseaddr");
    r = sp_policy_rule(p, 3);
    ok(r->op == SP_OP_BIND && (r->opts.mask & BIO_OPT_BIT(BIO_OPT_V6ONLY)) && r->opts.val[BIO_OPT_V6ONLY] == 0,
       "v6only=off");
    r = sp_policy_rule(p, 5);
    ok(r->action == SP_ACT_DENY && r->err == EACCES, "deny errno=EACCES");
    r = sp_policy_rule(p, 7);
    ok(r->action == SP_ACT_FAIL && r->err == ECONNREFUSED && r->fail_rate_ppm == 200000,
       "fail errno=ECONNREFUSED rate=0.2 is 200000 ppm");
    r = sp_policy_rule(p, 8);
    ok(r->action == SP_ACT_DELAY && r->delay_ms == 200, "delay by=200ms");
    r = sp_policy_rule(p, 10);
    ok(r->pin && r->opts.mask == BIO_OPT_BIT(BIO_OPT_NODELAY), "nodelay pin");
    const struct sp_settings *s = sp_policy_settings(p);
    ok(s->log_level == SP_LOG_FAILURES && s->log_target == SP_LOGTO_SYSLOG && s->log_format == SP_FMT_TEXT,
       "log failures, log-to syslog, log-format text");
    ok(s->default_action[SP_OP_CONNECT] == SP_ACT_DENY && s->default_errno[SP_OP_CONNECT] == EACCES &&
       s->default_action[SP_OP_BIND] == SP_ACT_PASS, "default connect deny (EACCES), the others pass");
    ok(hit && hit->line == 8, "connect 10.1.2.3:5432 is decided by line 8");
    char buf[256];
    sp_rule_describe(hit, buf, sizeof buf);
    is_str(buf, "keepalive=on keepalive-idle=60s keepalive-interval=10s keepalive-count=5 nodelay=on user-timeout=30000ms",
           "sp_rule_describe spells what it forces");
    ok(sp_policy_has_op(p, SP_OP_CONNECT) && sp_policy_has_op(p, SP_OP_LISTEN) &&
       !sp_policy_has_op(p, SP_OP_SOCKET) && !sp_policy_has_op(p, SP_OP_SEND),
       "has_op: yes for connect and listen, no for socket and send (no rule, default pass)");

    /* Copy the blob to another address, relocate, and ask again. */
    size_t size = p->size;
    struct sp_policy *c = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memcpy(c, p, size);
    memset((char *)c + SP_POLICY_LOCAL_OFF, 0, sizeof *c - SP_POLICY_LOCAL_OFF);
    sp__relocate(c);
    int pi_ok = sp_policy_specialise(c, "curl", 1000) == 0;
    const struct sp_rule *h2 = pi_ok ? match4(c, SP_OP_CONNECT, "10.1.2.3", 5432) : NULL;
    sp_policy_free(p);
    ok(h2 && h2->line == 8 && (const char *)h2->text > (const char *)c &&
       (const char *)h2->text < (const char *)c + size && !strcmp(h2->text, sp_policy_rule(c, 0)->text),
       "a copy of the blob, relocated, answers with pointers into itself");
    sp_policy_free(c);

    static const char anyconf[] = "deny any to 10.0.0.0/8\npass any\ndefault bind deny errno=EPERM\n";
    p = sp_policy_load_mem("any.conf", anyconf, sizeof anyconf - 1, NULL, NULL);
    ok(p && sp_policy_rule_count(p) == 11, "'any' with an address is 5 rules (no socket), without one 6");
    ok(p && sp_policy_specialise(p, "x", 0) == 0 && match4(p, SP_OP_BIND, "10.9.9.9", 80)->action == SP_ACT_DENY &&
       match4(p, SP_OP_SEND, "11.0.0.1", 53)->action == SP_ACT_PASS, "the expanded rules match per op");
    ok(p && sp_policy_settings(p)->default_errno[SP_OP_BIND] == EPERM, "default bind deny errno=EPERM");
    sp_policy_free(p);

    static const char bad[] = "deny connect port 0\n";
    errno = 0;
    p = sp_policy_load_mem("bad.conf", bad, sizeof bad - 1, NULL, NULL);
    ok(!p && errno == EINVAL, "an invalid policy: NULL and EINVAL");
    errno = 0;
    p = sp_policy_load("/nonexistent/sockpolicy.conf", NULL, NULL);
    ok(!p && errno == EINVAL, "a missing file: NULL and EINVAL (the diagnostic says why)");
    ok(scan_control() == 0, "a control character is found at every offset of lines of 1 to 40 bytes");
    ok(scan_words() == 0, "words end at every offset (spaces and tabs, words of 1 to 21 bytes)");
    return exit_status();
}
