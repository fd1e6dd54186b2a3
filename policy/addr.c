/* policy/addr.c: IPv4/IPv6 prefixes: parsing, the canonical form (maximal aligned blocks,
 * so that "a prefix lies in the set" is "it lies in one block"), complement and containment. */
#include "policy_int.h"

static int width(int fam)
{
    return fam == 4 ? 32 : 128;
}

static sp_u128 mask_of(int fam, int len)
{
    int w = width(fam);
    sp_u128 all = w == 128 ? ~(sp_u128)0 : (((sp_u128)1 << w) - 1);
    if (len == 0)
        return 0;
    return all & ~((((sp_u128)1) << (w - len)) - 1) & all;
}

sp_u128 sp__pfx_mask(int fam, int len)
{
    return mask_of(fam, len);
}

static sp_u128 last_of(const struct sp_pfx *p)
{
    return p->addr | (~mask_of(p->fam, p->len) & mask_of(p->fam, width(p->fam)));
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static const char *parse_v4(const char *s, size_t n, uint32_t *out)
{
    uint32_t v = 0;
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        size_t st = i;
        uint32_t x = 0; /* the value of the first three digits: more is an error anyway */
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (i - st < 3)
                x = x * 10 + (uint32_t)(s[i] - '0');
            i++;
        }
        if (i == st)
            return part == 0 ? "expected an IPv4 or IPv6 address or prefix (names are not resolved)"
                             : "an IPv4 address has four decimal parts";
        if (i - st > 3 || x > 255)
            return "an IPv4 address part is at most 255";
        v = v << 8 | x;
        if (part < 3) {
            if (i >= n || s[i] != '.')
                return "an IPv4 address has four decimal parts";
            i++;
        }
    }
    if (i != n)
        return "an IPv4 address has four decimal parts";
    *out = v;
    return NULL;
}

static const char *parse_v6(const char *s, size_t n, sp_u128 *out)
{
    uint16_t g[8];
    int ng = 0, gap = -1;
    size_t i = 0;
    if (n >= 2 && s[0] == ':' && s[1] == ':') {
        gap = 0;
        i = 2;
    } else if (n >= 1 && s[0] == ':') {
        return "an IPv6 address cannot start with a single ':'";
    }
    while (i < n) {
        size_t st = i;
        unsigned v = 0;
        while (i < n && hexval(s[i]) >= 0 && i - st < 5)
            v = v << 4 | (unsigned)hexval(s[i++]);
        if (i < n && s[i] == '.') { /* trailing dotted IPv4 */
            uint32_t v4;
            if (ng > 6 || parse_v4(s + st, n - st, &v4) != NULL)
                return "bad IPv4 part in an IPv6 address";
            g[ng++] = (uint16_t)(v4 >> 16);
            g[ng++] = (uint16_t)v4;
            i = n;
            break;
        }
        if (i == st)
            return "bad IPv6 address";
        if (i - st > 4)
            return "an IPv6 group has at most four hex digits";
        if (ng == 8)
            return "an IPv6 address has at most eight groups";
        g[ng++] = (uint16_t)v;
        if (i == n)
            break;
        if (s[i] != ':')
            return "bad character in an IPv6 address";
        i++;
        if (i < n && s[i] == ':') {
            if (gap >= 0)
                return "an IPv6 address may contain '::' only once";
            gap = ng;
            i++;
        } else if (i == n) {
            return "an IPv6 address cannot end with a single ':'";
        }
    }
    if (gap < 0 && ng != 8)
        return "an IPv6 address has eight groups (or '::')";
    if (gap >= 0 && ng == 8)
        return "'::' stands for no group in this IPv6 address";
    sp_u128 v = 0;
    int k = 0;
    for (int j = 0; j < 8; j++) {
        unsigned x = 0;
        if (gap >= 0 && j >= gap && j < gap + (8 - ng))
            x = 0;
        else
            x = g[k++];
        v = v << 16 | x;
    }
    *out = v;
    return NULL;
}

const char *sp__parse_prefix(const char *s, size_t n, struct sp_pfx *out, int *host_bits)
{
    size_t slash = n;
    int is6 = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '/' && slash == n)
            slash = i;
        if (s[i] == ':')
            is6 = 1;
    }
    *host_bits = 0;
    out->fam = is6 ? 6 : 4;
    if (is6) {
        const char *e = parse_v6(s, slash, &out->addr);
        if (e)
            return e;
    } else {
        uint32_t v4;
        const char *e = parse_v4(s, slash, &v4);
        if (e)
            return e;
        out->addr = v4;
    }
    int w = width(out->fam);
    out->len = (uint8_t)w;
    if (slash < n) {
        uint64_t len;
        if (slash + 1 == n)
            return "missing prefix length after '/'";
        if (sp__parse_u64(s + slash + 1, n - slash - 1, 1000, &len) != 0)
            return is6 ? "the prefix length must be a number from 0 to 128"
                       : "the prefix length must be a number from 0 to 32";
        if (len > (uint64_t)w)
            return is6 ? "the prefix length is at most 128 for IPv6"
                       : "the prefix length is at most 32 for IPv4";
        out->len = (uint8_t)len;
    }
    sp_u128 m = mask_of(out->fam, out->len);
    if (out->addr & ~m) {
        *host_bits = 1;
        out->addr &= m;
    }
    /* ::ffff:a.b.c.d/96+ is an IPv4 prefix: the matcher sees mapped addresses as IPv4. */
    if (out->fam == 6 && out->len >= 96 && (out->addr >> 32) == 0xffff) {
        out->fam = 4;
        out->addr &= 0xffffffffu;
        out->len = (uint8_t)(out->len - 96);
    }
    return NULL;
}

int sp__pfx_contains(const struct sp_pfx *o, const struct sp_pfx *in)
{
    return o->fam == in->fam && o->len <= in->len &&
           (in->addr & mask_of(o->fam, o->len)) == o->addr;
}

static int pfx_cmp(const void *a, const void *b, void *ctx)
{
    const struct sp_pfx *x = a, *y = b;
    (void)ctx;
    if (x->fam != y->fam)
        return x->fam < y->fam ? -1 : 1;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    return x->len < y->len ? -1 : x->len > y->len;
}

size_t sp__pfx_canon(struct sp_pfx *p, size_t n)
{
    size_t k = 0;
    sp__sort(p, n, sizeof *p, pfx_cmp, NULL);
    for (size_t i = 0; i < n; i++) {
        if (k && sp__pfx_contains(&p[k - 1], &p[i]))
            continue;
        p[k++] = p[i];
        /* Merge sibling pairs into their parent while possible. */
        while (k >= 2) {
            struct sp_pfx *a = &p[k - 2], *b = &p[k - 1];
            if (a->fam != b->fam || a->len != b->len || a->len == 0)
                break;
            struct sp_pfx parent = {a->addr & mask_of(a->fam, a->len - 1), a->fam,
                                    (uint8_t)(a->len - 1)};
            if (parent.addr != a->addr || !sp__pfx_contains(&parent, b))
                break;
            p[k - 2] = parent;
            k--;
        }
    }
    return k;
}

/* Appends the maximal aligned blocks covering [lo, hi] of family fam. */
static size_t range_to_pfx(sp_u128 lo, sp_u128 hi, int fam, struct sp_pfx *out)
{
    int w = width(fam);
    size_t k = 0;
    for (;;) {
        int len = w;
        while (len > 0) {
            sp_u128 m = mask_of(fam, len - 1);
            sp_u128 last = lo | (~m & mask_of(fam, w));
            if ((lo & m) != lo || last > hi)
                break;
            len--;
        }
        out[k] = (struct sp_pfx){lo, (uint8_t)fam, (uint8_t)len};
        sp_u128 last = last_of(&out[k]);
        k++;
        if (last >= hi)
            return k;
        lo = last + 1;
    }
}

size_t sp__pfx_complement(const struct sp_pfx *p, size_t n, int fam, struct sp_pfx *out)
{
    size_t k = 0;
    sp_u128 next = 0, max = mask_of(fam, width(fam));
    int done = 0;
    for (size_t i = 0; i < n && !done; i++) {
        if (p[i].addr > next)
            k += range_to_pfx(next, p[i].addr - 1, fam, out + k);
        sp_u128 last = last_of(&p[i]);
        if (last == max)
            done = 1;
        else
            next = last + 1;
    }
    if (!done)
        k += range_to_pfx(next, max, fam, out + k);
    return k;
}

int sp__pfx_subset(const struct sp_pfx *b, size_t m, const struct sp_pfx *a, size_t n)
{
    for (size_t i = 0; i < m; i++) {
        size_t lo = 0, hi = n; /* last a with (fam, addr) <= b's */
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (pfx_cmp(&a[mid], &b[i], NULL) <= 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == 0 || !sp__pfx_contains(&a[lo - 1], &b[i]))
            return 0;
    }
    return 1;
}
