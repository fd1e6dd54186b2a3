/* cmd/cmd_explain.c: `sockpolicy explain -c FILE OP ADDRESS[:PORT] [--prog NAME] [--uid N]`:
 * which rule decides such a call (file:line and the rule as written) and what it forces, or
 * that no rule matches and what the default does. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "cmd.h"
#include "diag.h"

#ifndef SP_SYSCONFDIR
#define SP_SYSCONFDIR "/etc"
#endif

static void explain_usage(FILE *f)
{
    fprintf(f,
            "usage: sockpolicy explain [-c FILE] OP [ADDRESS[:PORT]] [--prog NAME] [--uid N]\n"
            "                          [--type stream|dgram] [--family inet|inet6|unix]\n"
            "Says which rule of the policy decides the call and what it forces.\n"
            "  OP       socket, bind, listen, connect, accept or send\n"
            "  ADDRESS  10.1.2.3:5432, [2001:db8::1]:443, 2001:db8::1, /run/x.sock or @abstract;\n"
            "           the remote address for connect and send, the peer's address with\n"
            "           the local (listening) port for accept, the local one for bind and\n"
            "           listen; none for socket\n"
            "  -c, --config FILE  the policy (default: $SOCKPOLICY_CONF, else " SP_SYSCONFDIR "/sockpolicy.conf)\n"
            "  --prog NAME  the program's name (default: empty)\n"
            "  --uid N      the user id (default: yours)\n"
            "  --type T     stream or dgram (the default for send: a send rule decides\n"
            "               datagrams, and the connect() that sets a datagram socket's\n"
            "               destination; a stream socket's send names no address)\n"
            "  --family F   for socket: inet (the default), inet6 or unix\n"
            "exit status: 0 explained, 1 the policy has errors, 2 usage error\n");
}

static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len, int *family)
{
    char host[256];
    const char *port = NULL;
    memset(ss, 0, sizeof *ss);
    if (s[0] == '/' || s[0] == '@') {
        struct sockaddr_un *un = (struct sockaddr_un *)ss;
        size_t n = strlen(s);
        if (n >= sizeof un->sun_path)
            return -1;
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, s, n);
        if (s[0] == '@')
            un->sun_path[0] = 0;
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (s[0] == '/'));
        *family = AF_UNIX;
        return 0;
    }
    if (s[0] == '[') {
        const char *e = strchr(s, ']');
        if (!e || (size_t)(e - s - 1) >= sizeof host)
            return -1;
        memcpy(host, s + 1, (size_t)(e - s - 1));
        host[e - s - 1] = 0;
        if (e[1] == ':')
            port = e + 2;
        else if (e[1])
            return -1;
    } else {
        const char *c = strchr(s, ':');
        if (strlen(s) >= sizeof host)
            return -1;
        strcpy(host, s);
        if (c && !strchr(c + 1, ':')) { /* one colon: IPv4:PORT */
            host[c - s] = 0;
            port = c + 1;
        }
    }
    unsigned long pn = 0;
    if (port) {
        char *end;
        if (!*port || (pn = strtoul(port, &end, 10)) > 65535 || *end)
            return -1;
    }
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)pn);
        *len = sizeof *in;
        *family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)pn);
        *len = sizeof *in6;
        *family = AF_INET6;
        return 0;
    }
    return -1;
}

static void print_action(const struct sp_rule *r)
{
    const char *en = sp_errno_name(r->err);
    printf("action: %s", sp_action_name(r->action));
    switch (r->action) {
    case SP_ACT_DENY:
        printf(", the call fails with %s and is not made\n", en ? en : "?");
        break;
    case SP_ACT_FAIL: {
        char pct[32];
        int n = snprintf(pct, sizeof pct, "%u.%04u", r->fail_rate_ppm / 10000, r->fail_rate_ppm % 10000);
        while (n > 0 && pct[n - 1] == '0')
            pct[--n] = 0;
        if (n > 0 && pct[n - 1] == '.')
            pct[--n] = 0;
        printf(", %s%% of calls fail with %s\n", pct, en ? en : "?");
        break;
    }
    case SP_ACT_DELAY:
        printf(", the call waits %ums first\n", r->delay_ms);
        break;
    case SP_ACT_AUDIT:
        printf(", the call is logged as a denial would be, and made\n");
        break;
    case SP_ACT_PASS:
        printf(", the call is made untouched\n");
        break;
    default:
        printf("\n");
    }
    char buf[1024];
    sp_rule_describe(r, buf, sizeof buf);
    if (r->action == SP_ACT_SET)
        printf("forces: %s\n", buf[0] ? buf : "nothing");
}

int cmd_explain(int argc, char **argv)
{
    const char *conf = getenv("SOCKPOLICY_CONF"), *prog = "", *opname = NULL, *addr = NULL;
    int type = -1, family = AF_INET;
    uid_t uid = getuid();
    if (!conf || !*conf)
        conf = SP_SYSCONFDIR "/sockpolicy.conf";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if ((!strcmp(a, "-c") || !strcmp(a, "--config")) && more) {
            conf = argv[++i];
        } else if (!strcmp(a, "--prog") && more) {
            prog = argv[++i];
        } else if (!strcmp(a, "--uid") && more) {
            char *end;
            unsigned long u = strtoul(argv[++i], &end, 10);
            if (*end || !argv[i][0] || u > 4294967294UL) {
                fprintf(stderr, "sockpolicy explain: bad uid '%s'\n", argv[i]);
                return 2;
            }
            uid = (uid_t)u;
        } else if (!strcmp(a, "--type") && more) {
            a = argv[++i];
            if (strcmp(a, "stream") && strcmp(a, "dgram")) {
                fprintf(stderr, "sockpolicy explain: --type is stream or dgram\n");
                return 2;
            }
            type = !strcmp(a, "stream") ? SOCK_STREAM : SOCK_DGRAM;
        } else if (!strcmp(a, "--family") && more) {
            a = argv[++i];
            family = !strcmp(a, "inet") ? AF_INET : !strcmp(a, "inet6") ? AF_INET6
                     : !strcmp(a, "unix") ? AF_UNIX : -1;
            if (family < 0) {
                fprintf(stderr, "sockpolicy explain: --family is inet, inet6 or unix\n");
                return 2;
            }
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            explain_usage(stdout);
            return 0;
        } else if (a[0] == '-' && !(a[1] == 0)) {
            fprintf(stderr, "sockpolicy explain: unknown option '%s'\n", a);
            explain_usage(stderr);
            return 2;
        } else if (!opname) {
            opname = a;
        } else if (!addr) {
            addr = a;
        } else {
            fprintf(stderr, "sockpolicy explain: unexpected '%s'\n", a);
            explain_usage(stderr);
            return 2;
        }
    }
    int op = -1;
    for (int o = 0; opname && o < SP_OP_COUNT; o++)
        if (!strcmp(opname, sp_op_name((enum sp_op)o)))
            op = o;
    if (op < 0) {
        fprintf(stderr, "sockpolicy explain: %s\n",
                opname ? "unknown operation (socket, bind, listen, connect, accept or send)"
                       : "which operation?");
        explain_usage(stderr);
        return 2;
    }
    if (type < 0)
        type = op == SP_OP_SEND ? SOCK_DGRAM : SOCK_STREAM;
    struct sockaddr_storage ss;
    socklen_t len = 0;
    if (op != SP_OP_SOCKET) {
        if (!addr || parse_addr(addr, &ss, &len, &family) != 0) {
            fprintf(stderr, "sockpolicy explain: %s '%s'\n", addr ? "bad address" : "missing address",
                    addr ? addr : "");
            explain_usage(stderr);
            return 2;
        }
    } else if (addr) {
        fprintf(stderr, "sockpolicy explain: a socket call has no address\n");
        return 2;
    }
    struct cmd_diag_count cnt = {0, 0, 0};
    struct sp_policy *p = sp_policy_load(conf, cmd_print_diag, &cnt);
    cmd_note_compiled(conf, &cnt);
    if (!p) {
        if (!cnt.errors)
            fprintf(stderr, "sockpolicy explain: cannot load %s: %s\n", conf, strerror(errno));
        return 1;
    }
    if (sp_policy_specialise(p, prog, uid) != 0) {
        fprintf(stderr, "sockpolicy explain: %s\n", strerror(errno));
        sp_policy_free(p);
        return 1;
    }
    /* The address as the shim's rules see it (0.0.0.0 and :: reach loopback, ...). */
    struct sockaddr_storage norm;
    socklen_t nlen = 0;
    const struct sockaddr *qa = op == SP_OP_SOCKET ? NULL : (struct sockaddr *)&ss;
    if (qa && sp_addr_normalize(family, type, (enum sp_op)op, &ss, len, &norm, &nlen) == 0) {
        qa = (struct sockaddr *)&norm;
        len = nlen;
    }
    struct sp_query q = {(enum sp_op)op, family, type, qa, len};
    const struct sp_rule *r = sp_policy_match(p, &q);
    printf("%s %s (%s %s, prog '%s', uid %u)\n", sp_op_name((enum sp_op)op),
           addr ? addr : "-", sp_diag_family_name(family), sp_diag_type_name(type), prog,
           (unsigned)uid);
    if (op == SP_OP_SEND && type == SOCK_STREAM) {
        printf("no rule applies: a stream socket's send names no address, so send rules do not "
               "decide it (a MSG_FASTOPEN send is a connect)\n");
    } else if (r) {
        printf("rule: %s:%u: %s\n", r->file, r->line, r->text);
        print_action(r);
    } else {
        const struct sp_settings *s = sp_policy_settings(p);
        if (s->default_action[op] == SP_ACT_DENY)
            printf("no rule matches: the default for %s is deny, the call fails with %s\n",
                   sp_op_name((enum sp_op)op), sp_errno_name(s->default_errno[op]));
        else
            printf("no rule matches: the default for %s is pass, the call is made untouched\n",
                   sp_op_name((enum sp_op)op));
    }
    if (op == SP_OP_SEND && type != SOCK_STREAM)
        printf("note: this also decides connect() of a datagram socket to %s: the destination "
               "its later send() calls reach\n", addr);
    if (op == SP_OP_CONNECT && type == SOCK_DGRAM) {
        /* A datagram socket's connect sets the destination of its sends: send rules too. */
        struct sp_query qs = {SP_OP_SEND, family, type, qa, len};
        const struct sp_rule *rs = sp_policy_match(p, &qs);
        const struct sp_settings *s = sp_policy_settings(p);
        if (rs && rs->action != SP_ACT_PASS && rs->action != SP_ACT_SET) {
            printf("and, as the destination of its sends: rule %s:%u: %s\n", rs->file, rs->line,
                   rs->text);
            print_action(rs);
        } else if (!rs && s->default_action[SP_OP_SEND] == SP_ACT_DENY) {
            printf("and, as the destination of its sends: the default for send is deny, the "
                   "call fails with %s\n", sp_errno_name(s->default_errno[SP_OP_SEND]));
        }
    }
    sp_policy_free(p);
    return 0;
}
