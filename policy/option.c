/* policy/option.c: the OPTION words of a rule (nodelay, keepalive=60/10/5, errno=EACCES ...):
 * their values (durations ms/s/m, sizes k/m, numbers, names) and where they mean something. */
#include <errno.h>
#include <string.h>

#include "load_int.h"

#define TFO_DEFAULT_QUEUE 256

static void bad_value(struct sp_ld *L, const struct sp_word *w, size_t nl, const char *why)
{
    struct sp_sbuf b = {L->msg, 0, sizeof L->msg};
    sp__puts(&b, "bad value for '");
    sp__putn(&b, w->s, nl);
    sp__puts(&b, "': ");
    sp__puts(&b, why);
    sp__report_msg(L, 0, w->col + (unsigned)nl + 1);
}

static int parse_bool(const char *v, size_t n, int *out)
{
    static const char *const on[] = {"on", "yes", "true", "1"}, *const off[] = {"off", "no", "false", "0"};
    for (int i = 0; i < 4; i++) {
        if (sp__streq(v, n, on[i]))
            return *out = 1, 0;
        if (sp__streq(v, n, off[i]))
            return *out = 0, 0;
    }
    return -1;
}

/* A duration into *ms: digits and a unit (ms, s, m). Bare digits are unit_ms each when
 * unit_ms is non-zero, else an error. */
static const char *parse_duration(const char *v, size_t n, uint64_t unit_ms, uint64_t *ms)
{
    size_t d = 0;
    uint64_t x, mult;
    while (d < n && v[d] >= '0' && v[d] <= '9')
        d++;
    if (d == 0)
        return "expected a duration such as 200ms, 30s or 5m";
    if (sp__parse_u64(v, d, 0xffffffffULL, &x) != 0)
        return "the duration is too long";
    if (sp__streq(v + d, n - d, "ms"))
        mult = 1;
    else if (sp__streq(v + d, n - d, "s"))
        mult = 1000;
    else if (sp__streq(v + d, n - d, "m"))
        mult = 60000;
    else if (d == n && (unit_ms || x == 0))
        mult = unit_ms;
    else if (d == n)
        return "a duration needs a unit: ms, s or m";
    else
        return "unknown duration unit (expected ms, s or m)";
    if (x * mult > 0x7fffffffULL)
        return "the duration is too long";
    *ms = x * mult;
    return NULL;
}

/* Seconds (bare digits, or a duration that is a whole number of seconds). */
static const char *parse_seconds(const char *v, size_t n, uint32_t min, uint32_t max, int *out)
{
    uint64_t ms;
    const char *e = parse_duration(v, n, 1000, &ms);
    if (e)
        return e;
    if (ms % 1000)
        return "expected whole seconds";
    if (ms / 1000 < min || ms / 1000 > max)
        return min ? "out of range" : "out of range";
    *out = (int)(ms / 1000);
    return NULL;
}

static const char *parse_size(const char *v, size_t n, int *out)
{
    size_t d = 0;
    uint64_t x, mult = 1;
    while (d < n && v[d] >= '0' && v[d] <= '9')
        d++;
    if (d == 0 || sp__parse_u64(v, d, 0xffffffffULL, &x) != 0)
        return "expected a size such as 65536, 256k or 4m";
    if (d + 1 == n && (v[d] == 'k' || v[d] == 'K'))
        mult = 1024;
    else if (d + 1 == n && (v[d] == 'm' || v[d] == 'M'))
        mult = 1024 * 1024;
    else if (d != n)
        return "unknown size unit (expected k or m)";
    if (x * mult > 0x3fffffffULL || x == 0)
        return "a size must be from 1 to 1023m";
    *out = (int)(x * mult);
    return NULL;
}

static const char *parse_num(const char *v, size_t n, uint64_t min, uint64_t max, int hex,
                             uint64_t *out)
{
    uint64_t x = 0;
    if (hex && n > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
        if (n > 10)
            return "out of range";
        for (size_t i = 2; i < n; i++) {
            char c = v[i];
            int dv = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                     : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
            if (dv < 0)
                return "expected a number";
            x = x * 16 + (unsigned)dv;
        }
    } else {
        size_t d = 0;
        while (d < n && v[d] >= '0' && v[d] <= '9')
            d++;
        if (d != n || n == 0)
            return "expected a number";
        if (sp__parse_u64(v, n, 0xffffffffffULL, &x) != 0)
            return "out of range";
    }
    if (x < min || x > max)
        return "out of range";
    *out = x;
    return NULL;
}

static const char *parse_rate(const char *v, size_t n, uint32_t *ppm)
{
    size_t i = 0;
    uint64_t whole = 0, frac = 0, scale = 1000000;
    int pct = n && v[n - 1] == '%';
    if (pct)
        n--;
    while (i < n && v[i] >= '0' && v[i] <= '9' && whole < 1000)
        whole = whole * 10 + (uint64_t)(v[i++] - '0');
    if (i == 0)
        return "expected a probability such as 0.2 or 20%";
    if (i < n && v[i] == '.') {
        size_t st = ++i;
        while (i < n && v[i] >= '0' && v[i] <= '9') {
            if (scale > 1) {
                scale /= 10;
                frac += (uint64_t)(v[i] - '0') * scale;
            }
            i++;
        }
        if (i == st)
            return "expected a probability such as 0.2 or 20%";
    }
    if (i != n)
        return "expected a probability such as 0.2 or 20%";
    uint64_t r = whole * 1000000 + frac;
    if (pct)
        r /= 100;
    if (r > 1000000)
        return "a rate is at most 1 (100%)";
    *ppm = (uint32_t)r;
    return NULL;
}

static void set_opt(struct sp_rule *r, enum bio_opt o, int val)
{
    r->opts.mask |= BIO_OPT_BIT(o);
    r->opts.val[o] = val;
}

static const char *parse_name(const char *v, size_t n, char *dst, int dev)
{
    if (n == 0 || n > 15)
        return "a name of 1 to 15 characters";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (dev ? (c == '/' || c <= ' ' || c == ':') : !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return dev ? "not a valid interface name" : "not a valid congestion control name";
    }
    memcpy(dst, v, n);
    dst[n] = 0;
    return NULL;
}

int sp__parse_errno_value(struct sp_ld *L, const char *v, size_t n, unsigned col)
{
    int e = sp_errno_from_name(v, n);
    if (!e) {
        sp__report(L, 0, col, "unknown errno name ", v, n,
                   " (expected a name such as EACCES or ECONNREFUSED)");
    }
    return e;
}

int sp__parse_option(struct sp_ld *L, struct sp_rule *r, int op, const struct sp_word *w,
                     uint32_t *seen)
{
    size_t nl = 0;
    while (nl < w->n && w->s[nl] != '=')
        nl++;
    int id = sp__opt_lookup(w->s, nl);
    if (id < 0)
        return -2; /* not an option: the caller reports it */
    const char *v = w->s + nl + 1;
    size_t vn = nl < w->n ? w->n - nl - 1 : 0;
    int has_v = nl < w->n, b = 1;
    const char *e = NULL;
    uint64_t x = 0;
    int iv = 0;
    unsigned vcol = w->col + (unsigned)nl + 1;
    enum sp_action act = r->action;

    if (id < SP_O_ERRNO && act != SP_ACT_SET) {
        sp__report(L, 0, w->col, "option ", w->s, nl, " applies only to set rules");
        return -1;
    }
    if ((id == SP_O_ERRNO && act != SP_ACT_DENY && act != SP_ACT_FAIL) ||
        (id == SP_O_RATE && act != SP_ACT_FAIL) || (id == SP_O_BY && act != SP_ACT_DELAY)) {
        sp__report(L, 0, w->col, "", w->s, nl,
                   id == SP_O_ERRNO ? " applies only to deny and fail rules"
                   : id == SP_O_RATE ? " applies only to fail rules"
                                     : " applies only to delay rules");
        return -1;
    }
    if (has_v && vn == 0) {
        sp__report(L, 0, vcol, "missing value after '=' of ", w->s, nl, "");
        return -1;
    }
    if (*seen & (1u << id))
        sp__report(L, 1, w->col, "option ", w->s, nl, " given twice; the last one counts");
    *seen |= 1u << id;
    if (op < SP_OP_COUNT && !(sp__opt_ops(id) & (1u << op))) {
        struct sp_sbuf sb = {L->msg, 0, sizeof L->msg};
        sp__puts(&sb, "option '");
        sp__putn(&sb, w->s, nl);
        sp__puts(&sb, "' means nothing for ");
        sp__puts(&sb, sp_op_name((enum sp_op)op));
        sp__report_msg(L, 1, w->col);
    }
    int needs_value = id == SP_O_KEEPIDLE || id == SP_O_KEEPINTVL || id == SP_O_KEEPCNT ||
                      id == SP_O_TFO_QUEUE || id == SP_O_USER_TIMEOUT || id == SP_O_SYNCNT ||
                      id == SP_O_MARK || id == SP_O_TOS || id == SP_O_RCVBUF ||
                      id == SP_O_SNDBUF || id == SP_O_LINGER || id == SP_O_CONGESTION ||
                      id == SP_O_BINDDEV || id == SP_O_CONNECT_TIMEOUT || id == SP_O_ERRNO ||
                      id == SP_O_RATE || id == SP_O_BY;
    if (needs_value && !has_v) {
        sp__report(L, 0, w->col + (unsigned)w->n, "option ", w->s, nl, " needs a value (NAME=VALUE)");
        return -1;
    }
    switch (id) {
    case SP_O_KEEPALIVE:
        if (!has_v || parse_bool(v, vn, &b) == 0) {
            set_opt(r, BIO_OPT_KEEPALIVE, b);
            break;
        } else {
            /* IDLE[/INTERVAL[/COUNT]] */
            size_t st = 0, k = 0;
            static const enum bio_opt parts[3] = {BIO_OPT_KEEPIDLE, BIO_OPT_KEEPINTVL, BIO_OPT_KEEPCNT};
            for (size_t i = 0; i <= vn && !e; i++) {
                if (i < vn && v[i] != '/')
                    continue;
                if (k == 3) {
                    e = "expected IDLE/INTERVAL/COUNT (at most three parts)";
                    break;
                }
                if (k < 2)
                    e = parse_seconds(v + st, i - st, 1, 32767, &iv);
                else if ((e = parse_num(v + st, i - st, 1, 127, 0, &x)) == NULL)
                    iv = (int)x;
                if (e) {
                    static const char *const what[3] = {
                        "the idle time must be 1 to 32767 seconds",
                        "the interval must be 1 to 32767 seconds",
                        "the probe count must be 1 to 127"};
                    e = what[k];
                    vcol += (unsigned)st;
                    break;
                }
                set_opt(r, parts[k++], iv);
                st = i + 1;
            }
            if (!e)
                set_opt(r, BIO_OPT_KEEPALIVE, 1);
        }
        break;
    case SP_O_KEEPIDLE:
    case SP_O_KEEPINTVL:
        if ((e = parse_seconds(v, vn, 1, 32767, &iv)) == NULL)
            set_opt(r, id == SP_O_KEEPIDLE ? BIO_OPT_KEEPIDLE : BIO_OPT_KEEPINTVL, iv);
        else
            e = "expected 1 to 32767 seconds";
        break;
    case SP_O_KEEPCNT:
    case SP_O_SYNCNT:
        if ((e = parse_num(v, vn, 1, 127, 0, &x)) == NULL)
            set_opt(r, id == SP_O_KEEPCNT ? BIO_OPT_KEEPCNT : BIO_OPT_SYNCNT, (int)x);
        else
            e = "expected a count from 1 to 127";
        break;
    case SP_O_NODELAY:
    case SP_O_REUSEADDR:
    case SP_O_REUSEPORT:
    case SP_O_V6ONLY:
    case SP_O_NONBLOCK:
    case SP_O_PIN:
        if (has_v && parse_bool(v, vn, &b) != 0) {
            e = "expected on or off";
            break;
        }
        if (id == SP_O_NONBLOCK)
            r->nonblock = (uint8_t)b;
        else if (id == SP_O_PIN)
            r->pin = (uint8_t)b;
        else
            set_opt(r, id == SP_O_NODELAY     ? BIO_OPT_NODELAY
                       : id == SP_O_REUSEADDR ? BIO_OPT_REUSEADDR
                       : id == SP_O_REUSEPORT ? BIO_OPT_REUSEPORT
                                              : BIO_OPT_V6ONLY, b);
        break;
    case SP_O_TFO:
        if (!has_v || parse_bool(v, vn, &b) == 0) {
            if (op != SP_OP_LISTEN)
                set_opt(r, BIO_OPT_TFO_CONNECT, b);
            if (op == SP_OP_LISTEN || op == SP_OP_COUNT)
                set_opt(r, BIO_OPT_TFO_QLEN, b ? TFO_DEFAULT_QUEUE : 0);
        } else if ((e = parse_num(v, vn, 1, 0x7fffffff, 0, &x)) == NULL) {
            if (op != SP_OP_LISTEN && op != SP_OP_COUNT) {
                sp__report(L, 1, vcol, "a queue length (tfo=N) means something only for listen; ",
                           NULL, 0, "here it means tfo=on");
                set_opt(r, BIO_OPT_TFO_CONNECT, 1);
            } else {
                set_opt(r, BIO_OPT_TFO_QLEN, (int)x);
                if (op == SP_OP_COUNT)
                    set_opt(r, BIO_OPT_TFO_CONNECT, 1);
            }
        } else {
            e = "expected on, off or a queue length";
        }
        break;
    case SP_O_TFO_QUEUE:
        if ((e = parse_num(v, vn, 1, 0x7fffffff, 0, &x)) == NULL)
            set_opt(r, BIO_OPT_TFO_QLEN, (int)x);
        break;
    case SP_O_USER_TIMEOUT:
    case SP_O_CONNECT_TIMEOUT:
    case SP_O_BY:
        if ((e = parse_duration(v, vn, 0, &x)) == NULL) {
            if (id == SP_O_USER_TIMEOUT)
                set_opt(r, BIO_OPT_USER_TIMEOUT, (int)x);
            else if (x == 0)
                e = "the duration must be more than 0";
            else if (id == SP_O_BY)
                r->delay_ms = (uint32_t)x;
            else
                r->connect_timeout_ms = (uint32_t)x;
        }
        break;
    case SP_O_MARK:
        if ((e = parse_num(v, vn, 0, 0xffffffffu, 1, &x)) == NULL)
            set_opt(r, BIO_OPT_MARK, (int)(uint32_t)x);
        else
            e = "expected a number from 0 to 0xffffffff";
        break;
    case SP_O_TOS:
        if ((e = parse_num(v, vn, 0, 255, 1, &x)) == NULL)
            set_opt(r, BIO_OPT_TOS, (int)x);
        else
            e = "expected a number from 0 to 255 (or 0x00 to 0xff)";
        break;
    case SP_O_RCVBUF:
    case SP_O_SNDBUF:
        if ((e = parse_size(v, vn, &iv)) == NULL)
            set_opt(r, id == SP_O_RCVBUF ? BIO_OPT_RCVBUF : BIO_OPT_SNDBUF, iv);
        break;
    case SP_O_LINGER:
        if (parse_bool(v, vn, &b) == 0 && b == 0 && !(vn == 1 && v[0] == '0'))
            set_opt(r, BIO_OPT_LINGER, -1);
        else if ((e = parse_seconds(v, vn, 0, 65535, &iv)) == NULL)
            set_opt(r, BIO_OPT_LINGER, iv);
        else
            e = "expected off or 0 to 65535 seconds";
        break;
    case SP_O_CONGESTION:
        if ((e = parse_name(v, vn, r->opts.congestion, 0)) == NULL)
            set_opt(r, BIO_OPT_CONGESTION, 1);
        break;
    case SP_O_BINDDEV:
        if ((e = parse_name(v, vn, r->opts.device, 1)) == NULL)
            set_opt(r, BIO_OPT_BINDTODEVICE, 1);
        break;
    case SP_O_ERRNO: {
        int en = sp__parse_errno_value(L, v, vn, vcol);
        if (!en)
            return -1;
        r->err = en;
        break;
    }
    case SP_O_RATE:
        e = parse_rate(v, vn, &r->fail_rate_ppm);
        break;
    }
    if (e) {
        if (vcol != w->col + (unsigned)nl + 1) { /* points into a keepalive part */
            struct sp_sbuf sb = {L->msg, 0, sizeof L->msg};
            sp__puts(&sb, "bad value for 'keepalive': ");
            sp__puts(&sb, e);
            sp__report_msg(L, 0, vcol);
        } else {
            bad_value(L, w, nl, e);
        }
        return -1;
    }
    return 0;
}
