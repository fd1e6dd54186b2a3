/* diag/diag_buf.c: the bounded buffer the formatters write into, and our own number, address
 * and time formatting. No snprintf (not async-signal-safe), no inet_ntop (glibc's formats
 * IPv4 with sprintf), no gmtime (may take a lock): all of it is a few loops. */
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "diag.h"

void sp_buf_init(struct sp_buf *b, char *p, size_t cap)
{
    b->p = p;
    b->cap = cap;
    b->len = 0;
    b->full = 0;
    if (cap)
        p[0] = '\0';
}

void sp_buf_put(struct sp_buf *b, const char *s, size_t n)
{
    if (b->cap == 0) {
        b->full = 1;
        return;
    }
    size_t room = b->cap - 1 - b->len;
    if (n > room) {
        n = room;
        b->full = 1;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void sp_buf_puts(struct sp_buf *b, const char *s)
{
    sp_buf_put(b, s, strlen(s));
}

void sp_buf_putc(struct sp_buf *b, char c)
{
    sp_buf_put(b, &c, 1);
}

void sp_buf_putu(struct sp_buf *b, uint64_t v)
{
    char tmp[SP_U64_DIGITS];
    size_t i = sp_u64_digits(v, tmp);
    sp_buf_put(b, tmp + i, sizeof tmp - i);
}

void sp_buf_puti(struct sp_buf *b, int64_t v)
{
    if (v < 0) {
        sp_buf_putc(b, '-');
        sp_buf_putu(b, (uint64_t)0 - (uint64_t)v);
    } else {
        sp_buf_putu(b, (uint64_t)v);
    }
}

void sp_buf_putdec(struct sp_buf *b, uint64_t v, unsigned digits)
{
    uint64_t scale = 1;
    for (unsigned i = 0; i < digits; i++)
        scale *= 10;
    sp_buf_putu(b, v / scale);
    if (digits == 0)
        return;
    sp_buf_putc(b, '.');
    uint64_t frac = v % scale;
    for (uint64_t d = scale / 10; d; d /= 10) {
        sp_buf_putc(b, (char)('0' + frac / d));
        frac %= d;
    }
}

static const char hexdig[] = "0123456789abcdef";

void sp_buf_put_text(struct sp_buf *b, const char *s, size_t n, size_t max)
{
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        size_t w = (c >= 0x20 && c < 0x7f && c != '\\') ? 1 : 4;
        if (out + w > max) {
            sp_buf_puts(b, "...");
            return;
        }
        if (w == 1) {
            sp_buf_putc(b, (char)c);
        } else {
            char e[4] = {'\\', 'x', hexdig[c >> 4], hexdig[c & 15]};
            sp_buf_put(b, e, 4);
        }
        out += w;
    }
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;
        if (c == 0xed)
            hi = 0x9f; /* no UTF-16 surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (len > n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return len;
}

void sp_buf_put_json(struct sp_buf *b, const char *s, size_t n, size_t max)
{
    const unsigned char *u = (const unsigned char *)s;
    sp_buf_putc(b, '"');
    size_t i = 0;
    while (i < n) {
        if (i >= max) {
            sp_buf_puts(b, "...");
            break;
        }
        unsigned char c = u[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sp_buf_put(b, e, 2);
            i++;
        } else if (c == '\n') {
            sp_buf_put(b, "\\n", 2);
            i++;
        } else if (c == '\t') {
            sp_buf_put(b, "\\t", 2);
            i++;
        } else if (c == '\r') {
            sp_buf_put(b, "\\r", 2);
            i++;
        } else if (c >= 0x20 && c < 0x7f) {
            sp_buf_putc(b, (char)c);
            i++;
        } else {
            size_t l = c >= 0x80 ? utf8_len(u + i, n - i) : 0;
            if (l) {
                sp_buf_put(b, s + i, l);
                i += l;
            } else { /* a control character, DEL, or a byte of invalid UTF-8 */
                char e[6] = {'\\', 'u', '0', '0', hexdig[c >> 4], hexdig[c & 15]};
                sp_buf_put(b, e, 6);
                i++;
            }
        }
    }
    sp_buf_putc(b, '"');
}

static void put_ipv4(struct sp_buf *b, const unsigned char *a)
{
    for (int i = 0; i < 4; i++) {
        if (i)
            sp_buf_putc(b, '.');
        sp_buf_putu(b, a[i]);
    }
}

static void put_hex16(struct sp_buf *b, unsigned w)
{
    char tmp[4];
    size_t n = 0;
    for (int shift = 12; shift >= 0; shift -= 4) {
        unsigned d = (w >> shift) & 15;
        if (d || n || shift == 0)
            tmp[n++] = hexdig[d];
    }
    sp_buf_put(b, tmp, n);
}

/* As glibc's inet_ntop: the first longest run of two or more zero words becomes "::", and
 * ::a.b.c.d / ::ffff:a.b.c.d keep the IPv4 in dotted form. */
static void put_ipv6(struct sp_buf *b, const unsigned char *a)
{
    unsigned w[8];
    for (int i = 0; i < 8; i++)
        w[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
    int best = -1, best_len = 0;
    for (int i = 0; i < 8;) {
        if (w[i]) {
            i++;
            continue;
        }
        int j = i;
        while (j < 8 && w[j] == 0)
            j++;
        if (j - i > best_len) {
            best = i;
            best_len = j - i;
        }
        i = j;
    }
    if (best_len < 2)
        best = -1;
    for (int i = 0; i < 8; i++) {
        if (best >= 0 && i >= best && i < best + best_len) {
            if (i == best)
                sp_buf_putc(b, ':');
            continue;
        }
        if (i)
            sp_buf_putc(b, ':');
        if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff))) {
            put_ipv4(b, a + 12);
            return;
        }
        put_hex16(b, w[i]);
    }
    if (best >= 0 && best + best_len == 8)
        sp_buf_putc(b, ':');
}

void sp_buf_put_addr(struct sp_buf *b, const struct sockaddr *sa, socklen_t len)
{
    if (sa == NULL || len < sizeof(sa_family_t)) {
        sp_buf_puts(b, "?");
        return;
    }
    switch (sa->sa_family) {
    case AF_INET:
        if (len < sizeof(struct sockaddr_in))
            break;
        put_ipv4(b, (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr);
        return;
    case AF_INET6:
        if (len < sizeof(struct sockaddr_in6))
            break;
        put_ipv6(b, ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
        return;
    case AF_UNIX: {
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
        size_t off = offsetof(struct sockaddr_un, sun_path);
        if (len <= off) {
            sp_buf_puts(b, "unnamed");
            return;
        }
        size_t n = len - off;
        if (n > sizeof un->sun_path)
            n = sizeof un->sun_path;
        if (un->sun_path[0] == '\0') { /* abstract: every byte counts, NULs included */
            sp_buf_putc(b, '@');
            sp_buf_put(b, un->sun_path + 1, n - 1);
        } else {
            sp_buf_put(b, un->sun_path, strnlen(un->sun_path, n));
        }
        return;
    }
    default:
        sp_buf_puts(b, "family-");
        sp_buf_putu(b, sa->sa_family);
        return;
    }
    sp_buf_puts(b, "?");
}

/* Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void put2(struct sp_buf *b, unsigned v)
{
    char t[2] = {(char)('0' + v / 10 % 10), (char)('0' + v % 10)};
    sp_buf_put(b, t, 2);
}

void sp_buf_put_time(struct sp_buf *b, const struct timespec *ts)
{
    int64_t s = ts->tv_sec;
    int64_t days = s >= 0 ? s / 86400 : (s - 86399) / 86400;
    int64_t rem = s - days * 86400;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    sp_buf_puti(b, y);
    sp_buf_putc(b, '-');
    put2(b, m);
    sp_buf_putc(b, '-');
    put2(b, d);
    sp_buf_putc(b, 'T');
    put2(b, (unsigned)(rem / 3600));
    sp_buf_putc(b, ':');
    put2(b, (unsigned)(rem / 60 % 60));
    sp_buf_putc(b, ':');
    put2(b, (unsigned)(rem % 60));
    sp_buf_putc(b, '.');
    unsigned us = (unsigned)(ts->tv_nsec / 1000);
    put2(b, us / 10000);
    put2(b, us / 100 % 100);
    put2(b, us % 100);
    sp_buf_putc(b, 'Z');
}
