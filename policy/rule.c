/* policy/rule.c: one rule line, "ACTION OP MATCH... OPTION...", and "default OP ACTION".
 * Every error on the line is reported (each match and option is checked on its own); a line
 * with an error adds no rule. */
#include <errno.h>
#include <string.h>

#include "load_int.h"

#define OPS_ALL ((1u << SP_OP_COUNT) - 1)

enum { M_TO, M_FROM, M_ON, M_PORT, M_FAMILY, M_TYPE, M_PATH, M_PROG, M_UID, M_COUNT };
static const char *const match_names[M_COUNT] = {"to",   "from", "on",   "port", "family",
                                                 "type", "path", "prog", "uid"};

struct rb {
    struct sp_rec rec;
    int action, op; /* op SP_OP_COUNT for any */
    int bad;
    unsigned seen_match;
    uint32_t seen_opt;
    unsigned fmask, tmask; /* families and types allowed */
};

/* The edit distance of a[0..an) and b, or some value >= limit when it is at least limit (the
 * length difference and each row's minimum bound it from below: most names stop early). */
static unsigned edit_distance(const char *a, size_t an, const char *b, unsigned limit)
{
    unsigned row[40], bn = (unsigned)sp__strlen(b);
    if (an >= 39 || bn >= 39)
        return 99;
    if ((an > bn ? an - bn : bn - an) >= limit)
        return limit;
    for (unsigned j = 0; j <= bn; j++)
        row[j] = j;
    for (unsigned i = 1; i <= (unsigned)an; i++) {
        unsigned prev = row[0], low = i;
        row[0] = i;
        for (unsigned j = 1; j <= bn; j++) {
            unsigned cur = row[j];
            unsigned sub = prev + (a[i - 1] != b[j - 1]);
            unsigned best = row[j] + 1 < row[j - 1] + 1 ? row[j] + 1 : row[j - 1] + 1;
            row[j] = sub < best ? sub : best;
            low = row[j] < low ? row[j] : low;
            prev = cur;
        }
        if (low >= limit)
            return limit;
    }
    return row[bn];
}

/* Reports "unknown WHAT 'w'" with a suggestion from names when one is close. */
static void unknown(struct sp_ld *L, const struct sp_word *w, size_t wn, const char *what,
                    const char *const *names, int n, const char *expected)
{
    int best = -1;
    unsigned bd = 3;
    for (int i = 0; i < n; i++) {
        unsigned d = edit_distance(w->s, wn, names[i], bd);
        if (d < bd) {
            bd = d;
            best = i;
        }
    }
    struct sp_sbuf b = {L->msg, 0, sizeof L->msg};
    sp__puts(&b, "unknown ");
    sp__puts(&b, what);
    sp__puts(&b, " '");
    sp__putn(&b, w->s, wn > 64 ? 64 : wn);
    sp__puts(&b, "'");
    if (best >= 0) {
        sp__puts(&b, " (did you mean '");
        sp__puts(&b, names[best]);
        sp__puts(&b, "'?)");
    } else if (expected) {
        sp__puts(&b, " (expected ");
        sp__puts(&b, expected);
        sp__puts(&b, ")");
    }
    sp__report_msg(L, 0, w->col);
}

static int word_is(const struct sp_word *w, const char *s)
{
    return sp__streq(w->s, w->n, s);
}

static void *tmp_at(struct sp_ld *L, uint32_t off)
{
    return L->tmp.base + off;
}

/* Copies n bytes to the data area; its offset (0 on failure, the empty string). */
static uint32_t keep(struct sp_ld *L, const void *src, size_t n, size_t align, int nul)
{
    uint32_t o = sp__arena_alloc(&L->data, n + (nul ? 1 : 0), align);
    if (o == SP_NONE)
        return 0;
    memcpy(L->data.base + o, src, n);
    return o;
}

/* ---- matches ---- */

/* Splits v at commas; calls item(L, rb, s, n, col) for each; 0 when all were good. */
static int each_item(struct sp_ld *L, const char *v, size_t n, unsigned col, size_t max,
                     size_t *count, int (*item)(struct sp_ld *, void *, const char *, size_t,
                                                unsigned, size_t), void *arg)
{
    size_t st = 0, k = 0;
    int bad = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && v[i] != ',')
            continue;
        if (k == max) {
            sp__report(L, 0, col + (unsigned)st, "too many items in one list (the limit is 64)",
                       NULL, 0, "");
            return 1;
        }
        if (i == st) {
            sp__report(L, 0, col + (unsigned)st, "empty item in a list", NULL, 0, "");
            bad = 1;
        } else if (item(L, arg, v + st, i - st, col + (unsigned)st, k) != 0) {
            bad = 1;
        }
        k++;
        st = i + 1;
    }
    *count = k;
    return bad;
}

static int addr_item(struct sp_ld *L, void *arg, const char *s, size_t n, unsigned col, size_t k)
{
    struct sp_pfx *out = (struct sp_pfx *)arg + k;
    int host;
    const char *e = sp__parse_prefix(s, n, out, &host);
    if (e) {
        struct sp_sbuf b = {L->msg, 0, sizeof L->msg};
        sp__puts(&b, "bad address '");
        sp__putn(&b, s, n > 64 ? 64 : n);
        sp__puts(&b, "': ");
        sp__puts(&b, e);
        sp__report_msg(L, 0, col);
        return 1;
    }
    if (host)
        sp__report(L, 1, col, "", s, n, " has host bits set beyond its prefix length; they are ignored");
    return 0;
}

struct range_kind {
    struct sp_range *out;
    uint32_t lo, hi;
    const char *what; /* "port", "uid" */
};

static int range_item(struct sp_ld *L, void *arg, const char *s, size_t n, unsigned col, size_t k)
{
    struct range_kind *rk = arg;
    size_t dash = n;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '-') {
            dash = i;
            break;
        }
    uint64_t a, b;
    const char *bad_part = NULL;
    size_t bad_len = 0;
    unsigned bad_col = col;
    if (sp__parse_u64(s, dash, 0xffffffffffULL, &a) != 0) {
        bad_part = s, bad_len = dash;
    } else if (dash < n && sp__parse_u64(s + dash + 1, n - dash - 1, 0xffffffffffULL, &b) != 0) {
        bad_part = s + dash + 1, bad_len = n - dash - 1, bad_col = col + (unsigned)dash + 1;
    }
    if (bad_part) {
        struct sp_sbuf sb = {L->msg, 0, sizeof L->msg};
        sp__puts(&sb, "bad ");
        sp__puts(&sb, rk->what);
        sp__puts(&sb, " '");
        sp__putn(&sb, bad_part, bad_len > 64 ? 64 : bad_len);
        sp__puts(&sb, rk->what[0] == 'u' ? "': expected a number (names are not resolved)"
                                         : "': expected a number or a range N-M");
        sp__report_msg(L, 0, bad_col);
        return 1;
    }
    if (dash == n)
        b = a;
    for (int i = 0; i < 2; i++) {
        uint64_t x = i ? b : a;
        if (x < rk->lo || x > rk->hi) {
            struct sp_sbuf sb = {L->msg, 0, sizeof L->msg};
            sp__puts(&sb, rk->what);
            sp__puts(&sb, " ");
            sp__putu(&sb, x);
            sp__puts(&sb, " is out of range (");
            sp__putu(&sb, rk->lo);
            sp__puts(&sb, "-");
            sp__putu(&sb, rk->hi);
            sp__puts(&sb, ")");
            sp__report_msg(L, 0, i ? col + (unsigned)dash + 1 : col);
            return 1;
        }
    }
    if (b < a) {
        struct sp_sbuf sb = {L->msg, 0, sizeof L->msg};
        sp__puts(&sb, "reversed ");
        sp__puts(&sb, rk->what);
        sp__puts(&sb, " range ");
        sp__putn(&sb, s, n);
        sp__puts(&sb, ": the first number must be the smaller");
        sp__report_msg(L, 0, col);
        return 1;
    }
    rk->out[k] = (struct sp_range){(uint32_t)a, (uint32_t)b};
    return 0;
}

static int name_item(struct sp_ld *L, void *arg, const char *s, size_t n, unsigned col, size_t k)
{
    const char *const *names = arg;
    (void)k;
    for (int i = 0; names[i]; i++)
        if (sp__streq(s, n, names[i]))
            return 0;
    struct sp_word w = {s, (uint32_t)n, col};
    int cnt = 0;
    while (names[cnt])
        cnt++;
    unknown(L, &w, n, names[0][0] == 'i' ? "family" : "type", names, cnt,
            names[0][0] == 'i' ? "inet, inet6 or unix" : "stream or dgram");
    return 1;
}

static unsigned name_mask(const char *v, size_t n, const char *const *names)
{
    unsigned m = 0;
    size_t st = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && v[i] != ',')
            continue;
        for (int j = 0; names[j]; j++)
            if (sp__streq(v + st, i - st, names[j]))
                m |= 1u << j;
        st = i + 1;
    }
    return m;
}

static void parse_match(struct sp_ld *L, struct rb *r, int m, const struct sp_word *kw,
                        const struct sp_word *val)
{
    static const char *const fam_names[] = {"inet", "inet6", "unix", NULL};
    static const char *const type_names[] = {"stream", "dgram", NULL};
    int addr_kw = m <= M_ON;
    unsigned slot = addr_kw ? 0 : (unsigned)m;
    if (r->seen_match & (1u << slot)) {
        sp__report(L, 0, kw->col, "", kw->s, kw->n,
                   addr_kw ? ": the rule already matches an address (use a list: a,b)"
                           : " given twice in one rule (use a list: a,b)");
        r->bad = 1;
        return;
    }
    r->seen_match |= 1u << slot;
    if (r->op == SP_OP_SOCKET && (addr_kw || m == M_PORT || m == M_PATH)) {
        sp__report(L, 0, kw->col, "", kw->s, kw->n,
                   " does not apply to socket: a socket call has no address yet");
        r->bad = 1;
        return;
    }
    if (addr_kw && r->op != SP_OP_COUNT) {
        static const int want[SP_OP_COUNT] = {-1, M_ON, M_ON, M_TO, M_FROM, M_TO};
        static const char *const why[SP_OP_COUNT] = {
            "", "bind matches its local address with 'on'", "listen matches its local address with 'on'",
            "connect matches its remote address with 'to'", "accept matches the peer's address with 'from'",
            "send matches its destination with 'to'"};
        if (want[r->op] != m) {
            struct sp_sbuf b = {L->msg, 0, sizeof L->msg};
            sp__puts(&b, "'");
            sp__putn(&b, kw->s, kw->n);
            sp__puts(&b, "' does not apply here: ");
            sp__puts(&b, why[r->op]);
            sp__report_msg(L, 0, kw->col);
            r->bad = 1;
            return;
        }
    }
    int neg = val->n > 0 && val->s[0] == '!';
    const char *v = val->s + neg;
    size_t vn = val->n - (unsigned)neg;
    unsigned vcol = val->col + (unsigned)neg;
    struct sp_cond *c = &r->rec.c;
    size_t count = 0;
    if (vn == 0) {
        sp__report(L, 0, vcol, "missing value after '!'", NULL, 0, "");
        r->bad = 1;
        return;
    }
    switch (m) {
    case M_TO:
    case M_FROM:
    case M_ON: {
        uint32_t o = sp__arena_alloc(&L->tmp, 64 * sizeof(struct sp_pfx), 16);
        if (o == SP_NONE || each_item(L, v, vn, vcol, 64, &count, addr_item, tmp_at(L, o))) {
            r->bad = 1;
            return;
        }
        struct sp_pfx *p = tmp_at(L, o);
        size_t n = sp__pfx_canon(p, count), n4 = 0;
        while (n4 < n && p[n4].fam == 4)
            n4++;
        if (neg) {
            uint32_t co = sp__arena_alloc(&L->tmp, (n4 + 1) * 33 * sizeof(struct sp_pfx) +
                                                       (n - n4 + 1) * 129 * sizeof(struct sp_pfx), 16);
            if (co == SP_NONE) {
                r->bad = 1;
                return;
            }
            p = tmp_at(L, o);
            struct sp_pfx *q = tmp_at(L, co);
            size_t k = sp__pfx_complement(p, n4, 4, q);
            k += sp__pfx_complement(p + n4, n - n4, 6, q + k);
            p = q;
            n = k;
        }
        c->has_addr = 1;
        c->npfx = (uint32_t)n;
        c->pfx_off = keep(L, p, n * sizeof *p, 16, 0);
        break;
    }
    case M_PORT:
    case M_UID: {
        uint32_t o = sp__arena_alloc(&L->tmp, 2 * 66 * sizeof(struct sp_range), 8);
        struct range_kind rk = {NULL, m == M_PORT ? 1 : 0, m == M_PORT ? 65535 : 4294967294u,
                                m == M_PORT ? "port" : "uid"};
        if (o == SP_NONE) {
            r->bad = 1;
            return;
        }
        rk.out = tmp_at(L, o);
        if (each_item(L, v, vn, vcol, 64, &count, range_item, &rk)) {
            r->bad = 1;
            return;
        }
        size_t n = sp__range_canon(rk.out, count);
        struct sp_range *res = rk.out;
        if (m == M_PORT && neg) {
            res = rk.out + 66;
            n = sp__range_complement(rk.out, n, 65535, res);
        }
        uint32_t d = keep(L, res, n * sizeof *res, 8, 0);
        if (m == M_PORT) {
            c->has_port = 1, c->port_off = d, c->nport = (uint32_t)n;
        } else {
            c->has_uid = 1, c->uid_off = d, c->nuid = (uint32_t)n, c->uid_neg = (uint8_t)neg;
        }
        break;
    }
    case M_FAMILY:
    case M_TYPE: {
        const char *const *names = m == M_FAMILY ? fam_names : type_names;
        if (each_item(L, v, vn, vcol, 64, &count, name_item, (void *)names)) {
            r->bad = 1;
            return;
        }
        unsigned mask = name_mask(v, vn, names);
        if (m == M_FAMILY)
            r->fmask = neg ? (~mask & ((1u << SP_FI_COUNT) - 1)) : mask;
        else
            r->tmask = neg ? (~mask & ((1u << SP_TI_COUNT) - 1)) : mask;
        break;
    }
    case M_PATH:
    case M_PROG: {
        uint32_t d = keep(L, v, vn, 1, 1);
        if (m == M_PATH) {
            c->has_path = 1, c->path_off = d, c->path_len = (uint32_t)vn, c->path_neg = (uint8_t)neg;
        } else {
            c->has_prog = 1, c->prog_off = d, c->prog_len = (uint32_t)vn, c->prog_neg = (uint8_t)neg;
        }
        break;
    }
    }
}

/* ---- the rule ---- */

static const char *const all_words[] = {
    "to", "from", "on", "port", "family", "type", "path", "prog", "uid", "keepalive",
    "keepalive-idle", "keepalive-interval", "keepalive-count", "nodelay", "tfo", "tfo-queue",
    "user-timeout", "syn-count", "reuseaddr", "reuseport", "v6only", "nonblock", "mark", "tos",
    "rcvbuf", "sndbuf", "linger", "congestion", "bind-device", "connect-timeout", "pin",
    "errno", "rate", "by"};

static uint16_t ft_mask(unsigned fmask, unsigned tmask)
{
    uint16_t m = 0;
    tmask &= (1u << SP_TI_COUNT) - 1;
    for (int f = 0; f < SP_FI_COUNT; f++)
        if (fmask >> f & 1)
            m |= (uint16_t)(tmask << (f * SP_TI_COUNT));
    return m;
}

static int parse_op(struct sp_ld *L, const struct sp_word *w)
{
    int op = sp__word_find(w, sp__op_words, SP_OP_COUNT + 1);
    if (op < 0)
        unknown(L, w, w->n, "operation", sp__op_words, SP_OP_COUNT + 1,
                "socket, bind, listen, connect, accept, send or any");
    return op;
}

void sp__parse_rule(struct sp_ld *L)
{
    struct rb r;
    const struct sp_word *w = L->w;
    memset(&r, 0, sizeof r);
    r.action = sp__word_find(&w[0], sp__action_words, SP_ACT_COUNT);
    if (r.action < 0) {
        static const char *const first[] = {"set", "pass", "deny", "audit", "fail", "delay",
                                            "default", "log", "log-to", "log-format",
                                            "include", "strict", "log-summary"};
        unknown(L, &w[0], w[0].n, "word", first, 13,
                "an action (set, pass, deny, audit, fail, delay), default or a setting");
        return;
    }
    r.action += SP_ACT_SET;
    if (L->nw < 2) {
        sp__report(L, 0, w[0].col + w[0].n, "missing operation after ", w[0].s, w[0].n,
                   " (socket, bind, listen, connect, accept, send or any)");
        return;
    }
    r.op = parse_op(L, &w[1]);
    if (r.op < 0)
        return;
    r.fmask = (1u << SP_FI_COUNT) - 1;
    r.tmask = (1u << SP_TI_COUNT) - 1;
    r.rec.pub.action = (enum sp_action)r.action;
    r.rec.pub.err = r.action == SP_ACT_DENY ? EACCES : r.action == SP_ACT_FAIL ? EIO : 0;
    r.rec.pub.fail_rate_ppm = r.action == SP_ACT_FAIL ? 1000000 : 0;
    size_t mark = L->tmp.used;
    for (unsigned i = 2; i < L->nw; i++) {
        int m = sp__word_find(&w[i], match_names, M_COUNT);
        if (m >= 0) {
            if (i + 1 >= L->nw) {
                sp__report(L, 0, w[i].col + w[i].n, "missing value after ", w[i].s, w[i].n, "");
                r.bad = 1;
                break;
            }
            parse_match(L, &r, m, &w[i], &w[i + 1]);
            i++;
            continue;
        }
        int rc = sp__parse_option(L, &r.rec.pub, r.op, &w[i], &r.seen_opt);
        if (rc == -2) {
            size_t nl = 0;
            while (nl < w[i].n && w[i].s[nl] != '=')
                nl++;
            unknown(L, &w[i], nl, "match or option", all_words,
                    (int)(sizeof all_words / sizeof all_words[0]), NULL);
        }
        if (rc)
            r.bad = 1;
    }
    L->tmp.used = mark;
    struct sp_rule *pub = &r.rec.pub;
    if (r.action == SP_ACT_DELAY && !pub->delay_ms && !r.bad) {
        sp__report(L, 0, w[0].col, "a delay rule needs by=DURATION", NULL, 0, "");
        r.bad = 1;
    }
    if (r.bad)
        return;
    struct sp_cond *c = &r.rec.c;
    unsigned fmask = r.fmask;
    if (c->has_path)
        fmask &= 1u << SP_FI_UNIX;
    if (c->has_addr || c->has_port)
        fmask &= (1u << SP_FI_INET) | (1u << SP_FI_INET6);
    c->ftmask = ft_mask(fmask, r.tmask);
    if (!c->ftmask)
        sp__report(L, 1, w[0].col,
                   "this rule never matches: its family, type, address and path matches "
                   "exclude each other", NULL, 0, "");
    if (r.action == SP_ACT_SET && !pub->opts.mask && !pub->pin && !pub->nonblock &&
        !pub->connect_timeout_ms)
        sp__report(L, 1, w[0].col, "a set rule without options changes nothing", NULL, 0, "");
    const struct sp_word *last = &w[L->nw - 1];
    size_t tlen = (size_t)(last->s + last->n - w[0].s);
    c->text_off = keep(L, w[0].s, tlen, 1, 1);
    c->file_off = L->file_off != SP_NONE ? L->file_off : 0;
    pub->line = L->line;
    uint32_t first = (uint32_t)(L->recs.used / sizeof(struct sp_rec)), n = 0;
    for (int op = 0; op < SP_OP_COUNT; op++) {
        if (r.op != SP_OP_COUNT && r.op != op)
            continue;
        if (r.op == SP_OP_COUNT && op == SP_OP_SOCKET && (c->has_addr || c->has_port || c->has_path))
            continue; /* a socket call has no address */
        uint32_t o = sp__arena_alloc(&L->recs, sizeof(struct sp_rec), 8);
        if (o == SP_NONE)
            return;
        struct sp_rec *rec = SP_AT(&L->recs, o, struct sp_rec);
        *rec = r.rec;
        rec->pub.op = (enum sp_op)op;
        rec->pub.index = first + n++; /* "any": each op keeps every option */
    }
    sp__shadow_add(L, first, n);
}

void sp__parse_default(struct sp_ld *L)
{
    const struct sp_word *w = L->w;
    if (L->nw < 3) {
        const struct sp_word *l = &w[L->nw - 1];
        sp__report(L, 0, l->col + l->n,
                   L->nw < 2 ? "missing operation after 'default'" : "missing action after ",
                   L->nw < 2 ? NULL : w[1].s, L->nw < 2 ? 0 : w[1].n,
                   L->nw < 2 ? "" : " (pass or deny)");
        return;
    }
    int op = parse_op(L, &w[1]);
    if (op < 0)
        return;
    int act = word_is(&w[2], "pass") ? SP_ACT_PASS : word_is(&w[2], "deny") ? SP_ACT_DENY : 0;
    if (!act) {
        sp__report(L, 0, w[2].col, "a default is pass or deny, not ", w[2].s, w[2].n, "");
        return;
    }
    int err = EACCES;
    for (unsigned i = 3; i < L->nw; i++) {
        if (w[i].n > 6 && memcmp(w[i].s, "errno=", 6) == 0 && act == SP_ACT_DENY) {
            if (!(err = sp__parse_errno_value(L, w[i].s + 6, w[i].n - 6, w[i].col + 6)))
                return;
        } else {
            sp__report(L, 0, w[i].col, "unexpected ", w[i].s, w[i].n,
                       act == SP_ACT_DENY ? " (a default deny takes only errno=NAME)"
                                          : " (a default pass takes nothing more)");
            return;
        }
    }
    for (int o = 0; o < SP_OP_COUNT; o++) {
        if (op != SP_OP_COUNT && op != o)
            continue;
        if (L->def_line[o]) {
            struct sp_sbuf b = {L->msg, 0, sizeof L->msg};
            sp__puts(&b, "duplicate default for ");
            sp__puts(&b, sp_op_name((enum sp_op)o));
            sp__puts(&b, " (first given at ");
            sp__puts(&b, L->data.base + L->def_file[o]);
            sp__puts(&b, ":");
            sp__putu(&b, L->def_line[o]);
            sp__puts(&b, "); the last one counts");
            sp__report_msg(L, 1, w[0].col);
        } else {
            L->def_file[o] = L->file_off != SP_NONE ? L->file_off : 0;
            L->def_line[o] = L->line;
        }
        L->st.default_action[o] = act;
        L->st.default_errno[o] = err;
    }
}
