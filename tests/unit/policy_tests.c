/* tests/unit/policy_tests.c: sp_policy_tests(), which the shim uses to leave key parts out of
 * its per-thread decision memo. Each bit on the policies that set it, and the promise itself:
 * a part the bits say no rule tests never changes sp_policy_match's answer. */
#include <arpa/inet.h>
#include <string.h>

#include "policy.h"
#include "tap.h"

static struct sp_policy *load(const char *text)
{
    struct sp_policy *p = sp_policy_load_mem("t.conf", text, strlen(text), NULL, NULL);
    if (p && sp_policy_specialise(p, "prog", 1000) != 0) {
        sp_policy_free(p);
        p = NULL;
    }
    return p;
}

static const struct sp_rule *match4(const struct sp_policy *p, enum sp_op op, int type,
                                    const char *ip, unsigned port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
    inet_pton(AF_INET, ip, &sin.sin_addr);
    struct sp_query q = { op, AF_INET, type, (const struct sockaddr *)&sin, sizeof sin };
    return sp_policy_match(p, &q);
}

int main(void)
{
    static const struct {
        const char *text;
        enum sp_op op;
        unsigned want;
    } cases[] = {
        {"set connect nodelay\n", SP_OP_CONNECT, 0},
        {"set connect to 10.0.0.0/8 nodelay\n", SP_OP_CONNECT, SP_TESTS_ADDR},
        {"set connect port 443 nodelay\n", SP_OP_CONNECT, SP_TESTS_PORT},
        {"set connect to 10.0.0.0/8 port 443 nodelay\n", SP_OP_CONNECT,
         SP_TESTS_ADDR | SP_TESTS_PORT},
        {"set connect type stream nodelay\n", SP_OP_CONNECT, SP_TESTS_TYPE},
        {"deny connect family inet6\n", SP_OP_CONNECT, SP_TESTS_TYPE},
        {"deny connect family inet,inet6\n", SP_OP_CONNECT, 0},
        {"set connect path /run/*.sock sndbuf=64k\n", SP_OP_CONNECT, SP_TESTS_PATH},
        {"set accept from 127.0.0.1 keepalive\n", SP_OP_ACCEPT, SP_TESTS_ADDR},
        {"set accept from 127.0.0.1 keepalive\n", SP_OP_CONNECT, 0},
        {"deny connect port 25 prog !postfix*\n", SP_OP_CONNECT, SP_TESTS_PORT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sp_policy *p = load(cases[i].text);
        ok(p != NULL, "loads: %.*s", (int)strcspn(cases[i].text, "\n"), cases[i].text);
        is_int(p ? sp_policy_tests(p, cases[i].op) : 99, cases[i].want, "tests(%s) of: %.*s",
               sp_op_name(cases[i].op), (int)strcspn(cases[i].text, "\n"), cases[i].text);
        if (p)
            sp_policy_free(p);
    }
    is_int(sp_policy_tests(NULL, SP_OP_CONNECT), SP_TESTS_ALL, "NULL policy: every part");

    /* The promise: with no rule testing the port, every port of an address decides alike;
     * with one testing it, some do not. */
    struct sp_policy *p = load("set accept from 127.0.0.0/8 keepalive\n"
                               "deny accept from 10.0.0.0/8\n");
    int same = p != NULL;
    for (unsigned port = 1; p && port < 65536; port += 97)
        same &= match4(p, SP_OP_ACCEPT, SOCK_STREAM, "127.0.0.1", port) ==
                match4(p, SP_OP_ACCEPT, SOCK_STREAM, "127.0.0.1", 1);
    ok(same && !(sp_policy_tests(p, SP_OP_ACCEPT) & SP_TESTS_PORT),
       "no port rule: no port bit, and no port changes the decision");
    if (p)
        sp_policy_free(p);
    p = load("set connect to 127.0.0.0/8 port 8000-8999 nodelay\n");
    ok(p && (sp_policy_tests(p, SP_OP_CONNECT) & SP_TESTS_PORT) &&
           match4(p, SP_OP_CONNECT, SOCK_STREAM, "127.0.0.1", 8080) !=
               match4(p, SP_OP_CONNECT, SOCK_STREAM, "127.0.0.1", 80),
       "a port rule: the port bit, and the port changes the decision");
    if (p)
        sp_policy_free(p);
    return done_testing();
}
