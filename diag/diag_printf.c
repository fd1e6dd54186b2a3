/* diag/diag_printf.c: the diagnosis library's own printf, for messages (not events: those are
 * formatted by diag_format.c). No snprintf: glibc's may allocate and take the locale lock, and
 * a message is built on a hook's path, perhaps in a signal handler. Async-signal-safe: no
 * state, no allocation, nothing but the buffer it is given. */
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "diag.h"

struct out {
    char *buf;
    size_t size, n;
};

static void put(struct out *o, char c)
{
    if (o->n + 1 < o->size)
        o->buf[o->n] = c;
    o->n++;
}

static void put_num(struct out *o, unsigned long long v, int neg, unsigned base, int width,
                    char pad, int left)
{
    char tmp[24];
    int len = 0;
    size_t start = o->n;
    do {
        tmp[len++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    if (neg)
        tmp[len++] = '-';
    if (neg && pad == '0') {
        put(o, '-');
        len--;
        width--;
    }
    if (!left)
        for (int i = len; i < width; i++)
            put(o, pad);
    while (len)
        put(o, tmp[--len]);
    while (left && o->n - start < (size_t)(width > 0 ? width : 0))
        put(o, ' ');
}

size_t sp_diag_vfmt(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct out o = { buf, size, 0 };
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            put(&o, *p);
            continue;
        }
        p++;
        int left = 0, width = 0, lng = 0, sz = 0;
        char pad = ' ';
        if (*p == '-') {
            left = 1;
            p++;
        }
        if (*p == '0') {
            pad = '0';
            p++;
        }
        while (*p >= '0' && *p <= '9')
            width = width * 10 + (*p++ - '0');
        while (*p == 'l') {
            lng++;
            p++;
        }
        if (*p == 'z') {
            sz = 1;
            p++;
        }
        switch (*p) {
        case 'd':
        case 'i': {
            long long v = sz ? (long long)va_arg(ap, ssize_t)
                          : lng >= 2 ? va_arg(ap, long long)
                          : lng ? va_arg(ap, long) : va_arg(ap, int);
            put_num(&o, v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v, v < 0, 10,
                    width, pad, left);
            break;
        }
        case 'u':
        case 'x': {
            unsigned long long v = sz ? va_arg(ap, size_t)
                                   : lng >= 2 ? va_arg(ap, unsigned long long)
                                   : lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
            put_num(&o, v, 0, *p == 'x' ? 16 : 10, width, pad, left);
            break;
        }
        case 'p':
            put(&o, '0');
            put(&o, 'x');
            put_num(&o, (uintptr_t)va_arg(ap, void *), 0, 16, 0, ' ', 0);
            break;
        case 'c':
            put(&o, (char)va_arg(ap, int));
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            int len = (int)strlen(s);
            if (!left)
                for (int i = len; i < width; i++)
                    put(&o, ' ');
            while (*s)
                put(&o, *s++);
            if (left)
                for (int i = len; i < width; i++)
                    put(&o, ' ');
            break;
        }
        case '%':
            put(&o, '%');
            break;
        default:
            if (!*p)
                p--;
            break;
        }
    }
    if (size)
        buf[o.n < size ? o.n : size - 1] = 0;
    return o.n < size ? o.n : (size ? size - 1 : 0);
}

size_t sp_diag_fmt(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = sp_diag_vfmt(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

const char *sp_diag_errno_label(int err, char *buf, size_t size)
{
    const char *name = sp_diag_errno_name(err);
    if (name)
        return name;
    sp_diag_fmt(buf, size, "errno %d", err);
    return buf;
}
