/* policy/util.c: the loader's small tools: an mmap arena, a close that no hook sees, text
 * output without stdio, number parsing without locale, a glob matcher without allocation, heap sort, and range lists. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "policy_int.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
/* An arena that has grown past this populates its pages ahead of use, an eighth of its size
 * (at least 64 KiB) at a time: one madvise instead of a page fault per page (about half the
 * cost per page), wasting at most an eighth. Small loads never get here. */
#define SP_POP_MIN (128u << 10)

void sp__arena_carve(struct sp_arena *a, char *base, size_t cap)
{
    a->base = base;
    a->cap = cap;
    a->used = a->pop = 0;
    a->failed = 0;
    a->carved = 1;
}

int sp__arena_init(struct sp_arena *a, size_t cap)
{
    a->used = 0;
    a->pop = 0;
    a->carved = 0;
    a->failed = 0;
    a->cap = (cap + 4095) & ~(size_t)4095;
    a->base = mmap(NULL, a->cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (a->base == MAP_FAILED) {
        a->base = NULL;
        a->cap = 0;
        a->failed = 1;
        return -1;
    }
    return 0;
}

/* Grows a to ncap bytes (moving it out of its slice when carved). 0, or -1 with errno. */
static int arena_grow(struct sp_arena *a, size_t ncap)
{
    void *nb;
    if (a->carved) { /* out of its slice: a mapping of its own */
        nb = mmap(NULL, ncap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (nb != MAP_FAILED) {
            memcpy(nb, a->base, a->used);
            a->carved = 0;
            a->pop = 0;
        }
    } else {
        nb = mremap(a->base, a->cap, ncap, MREMAP_MAYMOVE);
    }
    if (nb == MAP_FAILED) {
        errno = ENOMEM;
        return -1;
    }
    a->base = nb;
    a->cap = ncap;
    return 0;
}

void sp__arena_reserve(struct sp_arena *a, size_t n)
{
    int saved = errno;
    n = (n + 4095) & ~(size_t)4095;
    if (!a->failed && a->base && n > a->cap && n <= 0xfffffff0u)
        (void)arena_grow(a, n); /* a hint: on failure the arena grows later, or fails then */
    errno = saved;
}

uint32_t sp__arena_alloc(struct sp_arena *a, size_t n, size_t align)
{
    size_t off = (a->used + align - 1) & ~(align - 1);
    if (a->failed || !a->base || off + n < off || off + n > 0xfffffff0u) {
        a->failed = 1;
        return SP_NONE;
    }
    if (off + n > a->cap) {
        size_t ncap = a->cap * 2;
        while (ncap < off + n)
            ncap *= 2;
        if (arena_grow(a, ncap)) {
            a->failed = 1;
            return SP_NONE;
        }
    }
    a->used = off + n;
    if (a->used > a->pop && a->used > SP_POP_MIN) {
        size_t ahead = a->used / 8 < (64u << 10) ? (64u << 10) : a->used / 8;
        size_t from = off & ~(size_t)4095, to = (a->used + ahead + 4095) & ~(size_t)4095;
        if (from < a->pop)
            from = a->pop;
        if (to > a->cap)
            to = a->cap;
        int saved = errno; /* EINVAL before Linux 5.14: the pages fault in as before */
        madvise(a->base + from, to - from, MADV_POPULATE_WRITE);
        errno = saved;
        a->pop = to;
    }
    return (uint32_t)off; /* fresh pages are zero, and nothing is ever freed */
}

void sp__arena_free(struct sp_arena *a)
{
    if (a->base && !a->carved)
        munmap(a->base, a->cap);
    a->base = NULL;
    a->cap = a->used = 0;
}

void sp__arena_move(struct sp_arena *a, char *dst, size_t n)
{
    size_t pages = (n + 4095) & ~(size_t)4095;
    if (n >= SP_MOVE_MIN && !((uintptr_t)dst & 4095) && a->base && !a->carved && pages <= a->cap &&
        mremap(a->base, pages, pages, MREMAP_MAYMOVE | MREMAP_FIXED, dst) != MAP_FAILED) {
        if (a->cap > pages)
            munmap(a->base + pages, a->cap - pages);
        a->base = NULL;
        a->cap = a->used = 0;
        return;
    }
    if (n)
        memcpy(dst, a->base, n);
    sp__arena_free(a);
}

int sp__close(int fd)
{
    return (int)syscall(SYS_close, fd);
}

void sp__putn(struct sp_sbuf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n && b->len + 1 < b->cap; i++)
        b->p[b->len++] = s[i];
    if (b->cap)
        b->p[b->len] = 0;
}

size_t sp__strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

void sp__puts(struct sp_sbuf *b, const char *s)
{
    sp__putn(b, s, sp__strlen(s));
}

size_t sp_u64_digits(uint64_t v, char tmp[SP_U64_DIGITS])
{
    size_t i = SP_U64_DIGITS;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return i;
}

void sp__putu(struct sp_sbuf *b, uint64_t v)
{
    char tmp[SP_U64_DIGITS];
    size_t i = sp_u64_digits(v, tmp);
    sp__putn(b, tmp + i, sizeof tmp - i);
}

int sp__parse_u64(const char *s, size_t n, uint64_t max, uint64_t *v)
{
    uint64_t x = 0;
    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (x > (max - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    *v = x;
    return 0;
}

/* One character class at pat[*pi] (just past '['); advances *pi past ']'. */
static int glob_class(const char *pat, size_t plen, size_t *pi, unsigned char c)
{
    size_t i = *pi;
    int neg = 0, hit = 0;
    if (i < plen && (pat[i] == '!' || pat[i] == '^')) {
        neg = 1;
        i++;
    }
    size_t first = i;
    while (i < plen && (pat[i] != ']' || i == first)) {
        unsigned char lo = (unsigned char)pat[i], hi = lo;
        if (pat[i] == '\\' && i + 1 < plen)
            lo = hi = (unsigned char)pat[++i];
        if (i + 2 < plen && pat[i + 1] == '-' && pat[i + 2] != ']') {
            hi = (unsigned char)pat[i + 2];
            i += 2;
        }
        if (c >= lo && c <= hi)
            hit = 1;
        i++;
    }
    *pi = i < plen ? i + 1 : i;
    return hit != neg;
}

int sp__glob(const char *pat, size_t plen, const char *s, size_t n)
{
    size_t pi = 0, si = 0, star_p = SP_NONE, star_s = 0;
    while (si < n) {
        if (pi < plen && pat[pi] == '*') {
            star_p = ++pi;
            star_s = si;
            continue;
        }
        if (pi < plen) {
            size_t np = pi;
            int m;
            if (pat[pi] == '?') {
                m = 1;
                np = pi + 1;
            } else if (pat[pi] == '[') {
                np = pi + 1;
                m = glob_class(pat, plen, &np, (unsigned char)s[si]);
            } else if (pat[pi] == '\\' && pi + 1 < plen) {
                m = pat[pi + 1] == s[si];
                np = pi + 2;
            } else {
                m = pat[pi] == s[si];
                np = pi + 1;
            }
            if (m) {
                pi = np;
                si++;
                continue;
            }
        }
        if (star_p == SP_NONE)
            return 0;
        pi = star_p;
        si = ++star_s;
    }
    while (pi < plen && pat[pi] == '*')
        pi++;
    return pi == plen;
}

static void swap_bytes(char *a, char *b, size_t sz)
{
    if (sz % 8 == 0) { /* prefixes, ranges, index pairs: word by word */
        for (size_t i = 0; i < sz; i += 8) {
            uint64_t x, y;
            memcpy(&x, a + i, 8);
            memcpy(&y, b + i, 8);
            memcpy(a + i, &y, 8);
            memcpy(b + i, &x, 8);
        }
        return;
    }
    while (sz--) {
        char t = *a;
        *a++ = *b;
        *b++ = t;
    }
}

static void sift(char *base, size_t root, size_t n, size_t sz,
                 int (*cmp)(const void *, const void *, void *), void *ctx)
{
    for (;;) {
        size_t c = 2 * root + 1;
        if (c >= n)
            return;
        if (c + 1 < n && cmp(base + c * sz, base + (c + 1) * sz, ctx) < 0)
            c++;
        if (cmp(base + root * sz, base + c * sz, ctx) >= 0)
            return;
        swap_bytes(base + root * sz, base + c * sz, sz);
        root = c;
    }
}

void sp__sort(void *vbase, size_t n, size_t sz, int (*cmp)(const void *, const void *, void *),
              void *ctx)
{
    char *base = vbase;
    if (n < 2)
        return;
    for (size_t i = n / 2; i-- > 0;)
        sift(base, i, n, sz, cmp, ctx);
    for (size_t end = n - 1; end > 0; end--) {
        swap_bytes(base, base + end * sz, sz);
        sift(base, 0, end, sz, cmp, ctx);
    }
}

static int range_cmp(const void *a, const void *b, void *ctx)
{
    const struct sp_range *x = a, *y = b;
    (void)ctx;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

size_t sp__range_canon(struct sp_range *r, size_t n)
{
    size_t k = 0;
    sp__sort(r, n, sizeof *r, range_cmp, NULL);
    for (size_t i = 0; i < n; i++) {
        if (k && (r[i].lo <= r[k - 1].hi || r[i].lo == r[k - 1].hi + 1)) {
            if (r[i].hi > r[k - 1].hi)
                r[k - 1].hi = r[i].hi;
        } else {
            r[k++] = r[i];
        }
    }
    return k;
}

size_t sp__range_complement(const struct sp_range *r, size_t n, uint32_t max,
                            struct sp_range *out)
{
    size_t k = 0;
    uint64_t next = 0;
    for (size_t i = 0; i < n; i++) {
        if (r[i].lo > next)
            out[k++] = (struct sp_range){(uint32_t)next, r[i].lo - 1};
        next = (uint64_t)r[i].hi + 1;
    }
    if (next <= max)
        out[k++] = (struct sp_range){(uint32_t)next, max};
    return k;
}

int sp__range_has(const struct sp_range *r, size_t n, uint32_t v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r[mid].hi < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && r[lo].lo <= v;
}

int sp__range_subset(const struct sp_range *b, size_t m, const struct sp_range *a, size_t n)
{
    for (size_t i = 0; i < m; i++) {
        size_t lo = 0, hi = n;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (a[mid].hi < b[i].lo)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == n || a[lo].lo > b[i].lo || a[lo].hi < b[i].hi)
            return 0;
    }
    return 1;
}

void sp__msort(void *vbase, size_t n, size_t sz, int (*cmp)(const void *, const void *, void *),
               void *ctx, void *scratch)
{
    char *a = vbase, *b = scratch;
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                if (cmp(a + j * sz, a + i * sz, ctx) < 0)
                    memcpy(b + k++ * sz, a + j++ * sz, sz);
                else
                    memcpy(b + k++ * sz, a + i++ * sz, sz);
            }
            memcpy(b + k * sz, a + i * sz, (mid - i) * sz);
            k += mid - i;
            memcpy(b + k * sz, a + j * sz, (hi - j) * sz);
        }
        char *t = a;
        a = b;
        b = t;
    }
    if (a != vbase)
        memcpy(vbase, a, n * sz);
}
