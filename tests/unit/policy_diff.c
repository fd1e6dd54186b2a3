/* tests/unit/policy_diff.c: the compiled matcher against a plain linear one written here from
 * the language's definition: random policies (written as text and loaded), 100,000 random
 * calls, the same deciding rule every time. A quarter of the policies run with a tiny table
 * limit so that the linear fallback is compared too. Every policy is also saved, mapped back
 * (sp_policy_map) and asked the same calls; prog/uid rules are common enough that processes
 * get each path of sp_policy_specialise (the shared table alone, with a short list of their
 * prog/uid rules, and a matcher of their own when more than SP_ACT_MAX hold). */
#include <arpa/inet.h>
#include <fnmatch.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "policy.h"
#include "policy_int.h"
#include "tap.h"

#define POLICIES 200
#define QUERIES 500
#define MAXR 60

struct pfx {
    int fam, len;
    uint8_t a[16];
};
struct rng {
    unsigned lo, hi;
};
struct trule {
    int op; /* -1: any */
    int action;
    int has_addr, addr_neg, naddr;
    struct pfx addr[3];
    int has_port, port_neg, nport;
    struct rng port[3];
    int fam_mask, fam_neg, type_mask, type_neg; /* bits: inet inet6 unix / stream dgram */
    const char *path, *prog;
    int path_neg, prog_neg;
    int has_uid, uid_neg;
    struct rng uid;
    unsigned line;
};

static uint64_t seed = 0x5eed1234abcdULL;
static unsigned rnd(unsigned n)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return (unsigned)(seed % n);
}

static const char *const v4pool[] = {"10.0.0.0", "10.1.0.0", "10.1.2.0", "10.1.2.3", "192.168.0.0",
                                     "0.0.0.0", "127.0.0.1", "255.255.255.255"};
static const char *const v6pool[] = {"2001:db8::", "2001:db8:1::", "::", "fe80::1", "2001:db8:1:2::5",
                                     "ffff::"};
static const struct rng portpool[] = {{22, 22}, {80, 80}, {443, 443}, {1000, 2000}, {8080, 8089},
                                      {1, 1}, {65535, 65535}, {1, 1024}};
static const char *const pathpool[] = {"/run/*", "/tmp/a?", "@x*", "/run/dbus/system", "/tmp/[ab]*", "*"};
static const char *const progpool[] = {"curl", "cu*", "post*", "*", "cupsd"};
static const char *const ops[] = {"socket", "bind", "listen", "connect", "accept", "send"};
static const char *const acts[] = {"set", "pass", "deny", "audit", "fail", "delay"};

static void mask_pfx(struct pfx *p)
{
    int bytes = p->fam == 4 ? 4 : 16;
    for (int i = 0; i < bytes; i++) {
        int keep = p->len - i * 8;
        uint8_t m = keep >= 8 ? 0xff : keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
        p->a[i] &= m;
    }
}

static void gen_pfx(struct pfx *p)
{
    memset(p, 0, sizeof *p);
    if (rnd(3)) {
        p->fam = 4;
        inet_pton(AF_INET, v4pool[rnd(8)], p->a);
        p->len = rnd(4) ? (int)(8 * rnd(5)) : (int)rnd(33);
    } else {
        p->fam = 6;
        inet_pton(AF_INET6, v6pool[rnd(6)], p->a);
        p->len = rnd(4) ? (int)(16 * rnd(9)) : (int)rnd(129);
    }
    mask_pfx(p);
}

static int cond_heavy; /* many prog/uid rules: processes get a matcher of their own */

static void gen_rule(struct trule *r, unsigned line)
{
    memset(r, 0, sizeof *r);
    r->line = line;
    r->op = rnd(5) ? (int)rnd(6) : -1;
    if (cond_heavy && rnd(3))
        r->op = 3; /* connect */
    r->action = (int)rnd(5); /* no delay: it needs by= */
    int addrok = r->op != 0;
    if (addrok && rnd(2)) {
        r->has_addr = 1;
        r->addr_neg = rnd(6) == 0;
        r->naddr = 1 + (int)rnd(3);
        for (int i = 0; i < r->naddr; i++)
            gen_pfx(&r->addr[i]);
    }
    if (addrok && rnd(2)) {
        r->has_port = 1;
        r->port_neg = rnd(6) == 0;
        r->nport = 1 + (int)rnd(3);
        for (int i = 0; i < r->nport; i++)
            r->port[i] = portpool[rnd(8)];
    }
    if (rnd(5) == 0) {
        r->fam_mask = 1 + (int)rnd(7);
        r->fam_neg = rnd(4) == 0;
    }
    if (rnd(5) == 0) {
        r->type_mask = 1 + (int)rnd(3);
        r->type_neg = rnd(4) == 0;
    }
    if (addrok && !r->has_addr && !r->has_port && rnd(5) == 0) {
        r->path = pathpool[rnd(6)];
        r->path_neg = rnd(4) == 0;
    }
    if (rnd(cond_heavy ? 2 : 6) == 0) {
        r->prog = progpool[rnd(5)];
        r->prog_neg = rnd(3) == 0;
    }
    if (rnd(cond_heavy ? 3 : 6) == 0) {
        r->has_uid = 1;
        r->uid_neg = rnd(3) == 0;
        r->uid.lo = rnd(2) ? 0 : 1000;
        r->uid.hi = r->uid.lo + rnd(2) * 1000;
    }
}

static void put_list_names(char **w, int mask, int neg, const char *const *names, int n)
{
    *w += sprintf(*w, "%s", neg ? "!" : "");
    int first = 1;
    for (int i = 0; i < n; i++)
        if (mask >> i & 1) {
            *w += sprintf(*w, "%s%s", first ? "" : ",", names[i]);
            first = 0;
        }
}

static char *write_rule(char *w, const struct trule *r)
{
    static const char *const fams[] = {"inet", "inet6", "unix"}, *const types[] = {"stream", "dgram"};
    w += sprintf(w, "%s %s", acts[r->action], r->op < 0 ? "any" : ops[r->op]);
    if (r->has_addr) {
        const char *kw = r->op == 1 || r->op == 2 ? "on" : r->op == 4 ? "from" : "to";
        w += sprintf(w, " %s %s", kw, r->addr_neg ? "!" : "");
        for (int i = 0; i < r->naddr; i++) {
            char buf[64];
            inet_ntop(r->addr[i].fam == 4 ? AF_INET : AF_INET6, r->addr[i].a, buf, sizeof buf);
            w += sprintf(w, "%s%s/%d", i ? "," : "", buf, r->addr[i].len);
        }
    }
    if (r->has_port) {
        w += sprintf(w, " port %s", r->port_neg ? "!" : "");
        for (int i = 0; i < r->nport; i++)
            w += sprintf(w, "%s%u-%u", i ? "," : "", r->port[i].lo, r->port[i].hi);
    }
    if (r->fam_mask) {
        w += sprintf(w, " family ");
        put_list_names(&w, r->fam_mask, r->fam_neg, fams, 3);
    }
    if (r->type_mask) {
        w += sprintf(w, " type ");
        put_list_names(&w, r->type_mask, r->type_neg, types, 2);
    }
    if (r->path)
        w += sprintf(w, " path %s%s", r->path_neg ? "!" : "", r->path);
    if (r->prog)
        w += sprintf(w, " prog %s%s", r->prog_neg ? "!" : "", r->prog);
    if (r->has_uid)
        w += sprintf(w, " uid %s%u-%u", r->uid_neg ? "!" : "", r->uid.lo, r->uid.hi);
    if (r->action == 0)
        w += sprintf(w, " nodelay");
    return w + sprintf(w, "\n");
}

/* ---- the reference: the language's definition, one rule after another ---- */

struct tq {
    int op, family, type;
    int has_ip, has_path;
    struct pfx ip; /* len 32/128 */
    unsigned port;
    char path[110];
};

static int pfx_has(const struct pfx *p, const struct pfx *ip)
{
    if (p->fam != ip->fam)
        return 0;
    struct pfx m = *ip;
    m.len = p->len;
    mask_pfx(&m);
    return memcmp(m.a, p->a, p->fam == 4 ? 4 : 16) == 0;
}

static int ref_match(const struct trule *r, const struct tq *q, const char *prog, unsigned uid)
{
    if (r->op >= 0 && r->op != q->op)
        return 0;
    if (r->prog && (fnmatch(r->prog, prog, 0) == 0) == r->prog_neg)
        return 0;
    if (r->has_uid && (uid >= r->uid.lo && uid <= r->uid.hi) == r->uid_neg)
        return 0;
    int fi = q->family == AF_INET ? 0 : q->family == AF_INET6 ? 1 : q->family == AF_UNIX ? 2 : 3;
    int ti = q->type == SOCK_STREAM ? 0 : q->type == SOCK_DGRAM ? 1 : 2;
    if (r->fam_mask && (fi < 3 && (r->fam_mask >> fi & 1)) == r->fam_neg)
        return 0;
    if (r->type_mask && (ti < 2 && (r->type_mask >> ti & 1)) == r->type_neg)
        return 0;
    int inet = fi == 0 || fi == 1;
    if (r->has_addr) {
        if (!inet || !q->has_ip)
            return 0;
        int in = 0;
        for (int i = 0; i < r->naddr; i++)
            in |= pfx_has(&r->addr[i], &q->ip);
        if (in == r->addr_neg)
            return 0;
    }
    if (r->has_port) {
        if (!inet || !q->has_ip)
            return 0;
        int in = 0;
        for (int i = 0; i < r->nport; i++)
            in |= q->port >= r->port[i].lo && q->port <= r->port[i].hi;
        if (in == r->port_neg)
            return 0;
    }
    if (r->path) {
        if (fi != 2 || !q->has_path)
            return 0;
        if ((fnmatch(r->path, q->path, 0) == 0) == r->path_neg)
            return 0;
    }
    return 1;
}

static void gen_query(struct tq *q, struct sp_query *sq, struct sockaddr_storage *ss)
{
    static const int fams[] = {AF_INET, AF_INET6, AF_UNIX, AF_NETLINK};
    static const int types[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};
    memset(q, 0, sizeof *q);
    memset(ss, 0, sizeof *ss);
    q->op = (int)rnd(6);
    q->family = fams[rnd(4)];
    q->type = types[rnd(3)];
    *sq = (struct sp_query){(enum sp_op)q->op, q->family, q->type, NULL, 0};
    if (q->op == 0 || q->family == AF_NETLINK || rnd(20) == 0)
        return;
    if (q->family == AF_UNIX) {
        static const char *const paths[] = {"/run/dbus/system", "/tmp/ab", "/tmp/bz", "@xyz", "/run/a/b", "", "/tmp/a"};
        const char *p = paths[rnd(7)];
        struct sockaddr_un *un = (void *)ss;
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, p);
        strcpy(q->path, p);
        q->has_path = 1;
        sq->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(p) + 1);
        if (p[0] == '@') {
            un->sun_path[0] = 0;
            sq->addrlen--;
        } else if (!p[0]) {
            sq->addrlen = sizeof(sa_family_t);
        }
        sq->addr = (void *)ss;
        return;
    }
    struct pfx base;
    gen_pfx(&base);
    int v4 = q->family == AF_INET || (base.fam == 4 && rnd(2)); /* inet6 may carry a mapped v4 */
    if (v4 && base.fam != 4) {
        memset(&base, 0, sizeof base);
        base.fam = 4;
        inet_pton(AF_INET, v4pool[rnd(8)], base.a);
    }
    if (!v4 && base.fam == 4) {
        memset(&base, 0, sizeof base);
        base.fam = 6;
        inet_pton(AF_INET6, v6pool[rnd(6)], base.a);
    }
    int bytes = base.fam == 4 ? 4 : 16;
    if (rnd(2))
        base.a[bytes - 1 - rnd(3)] ^= (uint8_t)(1u << rnd(8));
    q->ip = base;
    q->ip.len = bytes * 8;
    q->has_ip = 1;
    struct rng pr = portpool[rnd(8)];
    q->port = rnd(4) ? pr.lo + rnd(pr.hi - pr.lo + 1) : rnd(65536);
    if (rnd(3) == 0 && q->port > 0 && q->port < 65535)
        q->port += rnd(2) ? 1 : -1;
    if (q->family == AF_INET) {
        struct sockaddr_in *in = (void *)ss;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)q->port);
        memcpy(&in->sin_addr, base.a, 4);
        sq->addrlen = sizeof *in;
    } else {
        struct sockaddr_in6 *in6 = (void *)ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)q->port);
        if (base.fam == 4) {
            in6->sin6_addr.s6_addr[10] = in6->sin6_addr.s6_addr[11] = 0xff;
            memcpy(in6->sin6_addr.s6_addr + 12, base.a, 4);
        } else {
            memcpy(in6->sin6_addr.s6_addr, base.a, 16);
        }
        sq->addrlen = sizeof *in6;
    }
    sq->addr = (void *)ss;
}

static int load_errors;
static void on_diag(void *ctx, const struct sp_diag *d)
{
    (void)ctx;
    if (d->severity == 0) {
        load_errors++;
        diag("%s:%u:%u: %s: %.*s", d->file, d->line, d->col, d->msg, (int)d->line_len, d->line_text);
    }
}

int main(void)
{
    static char text[MAXR * 400];
    struct trule rules[MAXR];
    long queries = 0, mismatches = 0, linear_policies = 0, matched = 0, mapped_bad = 0;
    long paths[3] = {0, 0, 0};
    int loaded = 1;
    char spc[64];
    snprintf(spc, sizeof spc, "/tmp/policy_diff.%d.spc", (int)getpid());
    plan(6);
    for (int pi = 0; pi < POLICIES; pi++) {
        cond_heavy = pi % 6 == 5;
        int n = cond_heavy ? MAXR : 1 + (int)rnd(MAXR);
        char *w = text;
        for (int i = 0; i < n; i++) {
            gen_rule(&rules[i], (unsigned)i + 1);
            w = write_rule(w, &rules[i]);
        }
        const char *prog = progpool[rnd(5)][0] == '*' ? "" : progpool[rnd(5)];
        if (strchr(prog, '*'))
            prog = "postfix";
        unsigned uid = rnd(3) == 0 ? 0 : 1000 + rnd(2) * 500;
        sp__table_limit = pi % 4 == 3 ? 8 : (4u << 20);
        linear_policies += pi % 4 == 3;
        struct sp_policy *p = sp_policy_load_mem("diff.conf", text, (size_t)(w - text), on_diag, NULL);
        struct sp_policy *mp = NULL;
        if (!p || sp_policy_specialise(p, prog, uid) != 0 || sp_policy_save(p, spc) != 0 ||
            !(mp = sp_policy_map(spc, NULL, NULL)) || sp_policy_specialise(mp, prog, uid) != 0) {
            loaded = 0;
            diag("policy %d did not load, save or map:\n%s", pi, text);
            sp_policy_free(p);
            sp_policy_free(mp);
            continue;
        }
        int nact = 0;
        for (int op = 0; op < SP_OP_COUNT; op++)
            nact += (int)p->nact[op];
        paths[p->own ? 2 : nact ? 1 : 0]++;
        for (int qi = 0; qi < QUERIES; qi++) {
            struct tq q;
            struct sp_query sq;
            struct sockaddr_storage ss;
            gen_query(&q, &sq, &ss);
            unsigned want = 0;
            for (int i = 0; i < n && !want; i++)
                if (ref_match(&rules[i], &q, prog, uid))
                    want = rules[i].line;
            const struct sp_rule *r = sp_policy_match(p, &sq), *rm = sp_policy_match(mp, &sq);
            unsigned got = r ? r->line : 0;
            if ((rm ? rm->line : 0) != got || (r && strcmp(r->text, rm->text)))
                mapped_bad++;
            queries++;
            matched += want != 0;
            if (got != want && mismatches++ < 5) {
                char a[64] = "-";
                if (q.has_ip)
                    inet_ntop(q.ip.fam == 4 ? AF_INET : AF_INET6, q.ip.a, a, sizeof a);
                diag("policy %d: %s family %d type %d addr %s port %u path '%s' prog %s uid %u: "
                     "got line %u, want line %u", pi, ops[q.op], q.family, q.type, a, q.port,
                     q.has_path ? q.path : "", prog, uid, got, want);
                diag("policy:\n%s", text);
            }
        }
        sp_policy_free(p);
        sp_policy_free(mp);
    }
    unlink(spc);
    ok(loaded && load_errors == 0, "%d random policies load without errors", POLICIES);
    is_int(queries, POLICIES * QUERIES, "%d calls classified", POLICIES * QUERIES);
    is_int(mismatches, 0, "the compiled matcher agrees with the linear one on every call "
                          "(%ld matched a rule, %ld policies used the linear fallback)",
           matched, linear_policies);
    ok(matched > queries / 10 && matched < queries - queries / 10,
       "the calls are a fair mix of matched (%ld) and unmatched", matched);
    is_int(mapped_bad, 0, "the same policies saved and mapped back decide every call alike");
    ok(paths[0] > 10 && paths[1] > 10 && paths[2] > 10,
       "processes took each specialise path: the shared table %ld, with their prog/uid rules "
       "listed %ld, a matcher of their own %ld", paths[0], paths[1], paths[2]);
    return exit_status();
}
