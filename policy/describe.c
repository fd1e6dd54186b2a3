/* policy/describe.c: what a rule forces, written back in the language's spelling (for
 * `sockpolicy explain` and the shim's log). */
#include "policy_int.h"

struct out {
    char *p;
    size_t len, size;
};

static void put(struct out *o, const char *s)
{
    for (; *s; s++, o->len++)
        if (o->len + 1 < o->size)
            o->p[o->len] = *s;
}

static void putnum(struct out *o, long long v)
{
    char tmp[24];
    size_t i = sizeof tmp - 1;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    tmp[i] = 0;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[--i] = '-';
    put(o, tmp + i);
}

static void item(struct out *o, const char *name)
{
    if (o->len)
        put(o, " ");
    put(o, name);
}

size_t sp_rule_describe(const struct sp_rule *r, char *buf, size_t size)
{
    struct out o = {buf, 0, size};
    const struct bio_optset *s = &r->opts;
    for (int i = 0; i < BIO_OPT_COUNT; i++) {
        if (!(s->mask & BIO_OPT_BIT(i)))
            continue;
        int v = s->val[i];
        item(&o, bio_opt_name((enum bio_opt)i));
        put(&o, "=");
        switch (i) {
        case BIO_OPT_KEEPALIVE: case BIO_OPT_NODELAY: case BIO_OPT_TFO_CONNECT:
        case BIO_OPT_REUSEADDR: case BIO_OPT_REUSEPORT: case BIO_OPT_V6ONLY:
            put(&o, v ? "on" : "off");
            break;
        case BIO_OPT_KEEPIDLE: case BIO_OPT_KEEPINTVL:
            putnum(&o, v);
            put(&o, "s");
            break;
        case BIO_OPT_USER_TIMEOUT:
            putnum(&o, v);
            put(&o, "ms");
            break;
        case BIO_OPT_LINGER:
            if (v < 0) {
                put(&o, "off");
            } else {
                putnum(&o, v);
                put(&o, "s");
            }
            break;
        case BIO_OPT_CONGESTION:
            put(&o, s->congestion);
            break;
        case BIO_OPT_BINDTODEVICE:
            put(&o, s->device);
            break;
        case BIO_OPT_MARK:
            putnum(&o, (long long)(unsigned)v);
            break;
        default:
            putnum(&o, v);
        }
    }
    if (r->nonblock)
        item(&o, "nonblock");
    if (r->connect_timeout_ms) {
        item(&o, "connect-timeout=");
        putnum(&o, r->connect_timeout_ms);
        put(&o, "ms");
    }
    if (r->pin)
        item(&o, "pin");
    if (size)
        buf[o.len < size ? o.len : size - 1] = 0;
    return o.len;
}
