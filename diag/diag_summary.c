/* diag/diag_summary.c: per-process counts of connections made and failed, by errno and by
 * destination, rendered at exit with the most frequent first. Fixed-size open addressing
 * with atomics: no lock, no allocation, callable from a signal handler. A slot is claimed
 * with a compare-and-swap, filled, then published; a reader that meets a slot still being
 * filled (its own thread interrupted mid-claim by a signal, say) moves on rather than wait,
 * so a destination may rarely occupy two slots: rendering merges them. */
#include <netinet/in.h>
#include <string.h>

#include "diag.h"

struct key {
    uint16_t family, port;
    uint8_t addr[16];
};

static int make_key(const struct sockaddr *sa, socklen_t len, struct key *k)
{
    const void *ip;
    size_t iplen;
    int port = sp_diag_inet_port(sa, len, &ip, &iplen);
    memset(k, 0, sizeof *k);
    if (port < 0)
        return -1; /* AF_UNIX destinations are counted in the totals only */
    k->family = sa->sa_family;
    k->port = (uint16_t)port;
    memcpy(k->addr, ip, iplen);
    return 0;
}

static uint32_t hash_key(const struct key *k)
{
    const uint8_t *p = (const uint8_t *)k;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < sizeof *k; i++)
        h = (h ^ p[i]) * 16777619u;
    return h ? h : 1;
}

static int same(const struct sp_summary_dest *d, const struct key *k)
{
    return d->family == k->family && d->port == k->port && memcmp(d->addr, k->addr, 16) == 0;
}

static struct sp_summary_dest *find_slot(struct sp_summary *s, const struct key *k)
{
    uint32_t h = hash_key(k);
    for (uint32_t i = 0; i < SP_SUMMARY_SLOTS; i++) {
        struct sp_summary_dest *d = &s->dest[(h + i) % SP_SUMMARY_SLOTS];
        uint32_t st = atomic_load_explicit(&d->state, memory_order_acquire);
        if (st == 0) {
            uint32_t zero = 0;
            if (atomic_compare_exchange_strong(&d->state, &zero, 1)) {
                d->hash = h;
                d->family = k->family;
                d->port = k->port;
                memcpy(d->addr, k->addr, 16);
                atomic_store_explicit(&d->state, 2, memory_order_release);
                return d;
            }
            st = atomic_load_explicit(&d->state, memory_order_acquire);
        }
        /* Being filled by another thread: a few nanoseconds, so look again a little while
         * before moving on (bounded: it may be this thread, interrupted by a signal). */
        for (int spin = 0; st == 1 && spin < 256; spin++) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
            st = atomic_load_explicit(&d->state, memory_order_acquire);
        }
        if (st == 2 && d->hash == h && same(d, k))
            return d;
    }
    return NULL;
}

void sp_summary_add(struct sp_summary *s, const struct sockaddr *sa, socklen_t len, int err)
{
    if (err == 0)
        atomic_fetch_add_explicit(&s->made, 1, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&s->failed, 1, memory_order_relaxed);
    if (err < 0 || err >= SP_SUMMARY_ERRNOS)
        atomic_fetch_add_explicit(&s->other_failed, 1, memory_order_relaxed);
    else if (err != 0)
        atomic_fetch_add_explicit(&s->by_errno[err], 1, memory_order_relaxed);
    struct key k;
    if (make_key(sa, len, &k) != 0)
        return;
    struct sp_summary_dest *d = find_slot(s, &k);
    if (d == NULL) {
        atomic_fetch_add_explicit(&s->dest_overflow, 1, memory_order_relaxed);
        return;
    }
    if (err == 0) {
        atomic_fetch_add_explicit(&d->made, 1, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&d->failed, 1, memory_order_relaxed);
        atomic_store_explicit(&d->last_err, err, memory_order_relaxed);
    }
}

#define TOP_MAX 16

struct dest_row {
    const struct sp_summary_dest *d;
    uint64_t made, failed;
    int last_err;
};

/* The top destinations by attempts (failed first, then made), merged by key. */
static unsigned top_dests(const struct sp_summary *s, struct dest_row *rows, unsigned top)
{
    unsigned n = 0;
    for (unsigned i = 0; i < SP_SUMMARY_SLOTS; i++) {
        const struct sp_summary_dest *d = &s->dest[i];
        if (atomic_load_explicit(&d->state, memory_order_acquire) != 2)
            continue;
        struct dest_row r = {d, atomic_load(&d->made), atomic_load(&d->failed),
                             atomic_load(&d->last_err)};
        struct key k = {d->family, d->port, {0}};
        memcpy(k.addr, d->addr, 16);
        unsigned j;
        for (j = 0; j < n; j++)
            if (same(rows[j].d, &k))
                break;
        if (j < n) { /* a duplicate slot: merge, then let it re-sort */
            r.made += rows[j].made;
            r.failed += rows[j].failed;
            if (!r.last_err)
                r.last_err = rows[j].last_err;
            memmove(&rows[j], &rows[j + 1], (n - j - 1) * sizeof rows[0]);
            n--;
        }
        /* insertion into a sorted array of at most top rows */
        unsigned pos = n;
        while (pos > 0 && (rows[pos - 1].failed + rows[pos - 1].made < r.failed + r.made ||
                           (rows[pos - 1].failed + rows[pos - 1].made == r.failed + r.made &&
                            rows[pos - 1].failed < r.failed)))
            pos--;
        if (pos >= top)
            continue;
        unsigned last = n < top ? n : top - 1;
        memmove(&rows[pos + 1], &rows[pos], (last - pos) * sizeof rows[0]);
        rows[pos] = r;
        if (n < top)
            n++;
    }
    return n;
}

static unsigned top_errnos(const struct sp_summary *s, int *errs, uint64_t *counts, unsigned top)
{
    unsigned n = 0;
    for (int e = 1; e < SP_SUMMARY_ERRNOS; e++) {
        uint64_t c = atomic_load(&s->by_errno[e]);
        if (c == 0)
            continue;
        unsigned pos = n;
        while (pos > 0 && counts[pos - 1] < c)
            pos--;
        if (pos >= top)
            continue;
        unsigned last = n < top ? n : top - 1;
        memmove(&errs[pos + 1], &errs[pos], (last - pos) * sizeof errs[0]);
        memmove(&counts[pos + 1], &counts[pos], (last - pos) * sizeof counts[0]);
        errs[pos] = e;
        counts[pos] = c;
        if (n < top)
            n++;
    }
    return n;
}

static void put_errname(struct sp_buf *b, int err, int json)
{
    const char *n = sp_diag_errno_name(err);
    if (json) {
        if (n)
            sp_buf_put_json(b, n, strlen(n), 32);
        else
            sp_buf_puts(b, "null");
    } else if (n) {
        sp_buf_puts(b, n);
    } else {
        sp_buf_puts(b, "errno ");
        sp_buf_puti(b, err);
    }
}

/* A label and a count: ",\"made\":3" in JSON, " made 3" in text. */
static void put_count(struct sp_buf *b, const char *label, uint64_t v)
{
    sp_buf_puts(b, label);
    sp_buf_putu(b, v);
}

static void put_dest(struct sp_buf *b, const struct dest_row *r, int json)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    if (r->d->family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        memcpy(&in->sin_addr, r->d->addr, 4);
        len = sizeof *in;
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        memcpy(&in6->sin6_addr, r->d->addr, 16);
        len = sizeof *in6;
    }
    char tmp[64];
    size_t n = sp_format_addr((struct sockaddr *)&ss, len, tmp, sizeof tmp);
    if (json) {
        sp_buf_puts(b, "{\"addr\":");
        sp_buf_put_json(b, tmp, n, 64);
        put_count(b, ",\"port\":", r->d->port);
        put_count(b, ",\"made\":", r->made);
        put_count(b, ",\"failed\":", r->failed);
        sp_buf_puts(b, ",\"last_errno_name\":");
        if (r->last_err)
            put_errname(b, r->last_err, 1);
        else
            sp_buf_puts(b, "null");
        sp_buf_putc(b, '}');
        return;
    }
    if (r->d->family == AF_INET6)
        sp_buf_putc(b, '[');
    sp_buf_put(b, tmp, n);
    if (r->d->family == AF_INET6)
        sp_buf_putc(b, ']');
    put_count(b, ":", r->d->port);
    put_count(b, " made ", r->made);
    put_count(b, ", failed ", r->failed);
    if (r->last_err) {
        sp_buf_puts(b, " (last ");
        put_errname(b, r->last_err, 0);
        sp_buf_putc(b, ')');
    }
}

static void text_prefix(struct sp_buf *b, char *buf, size_t cap, pid_t pid, const char *prog)
{
    sp_buf_init(b, buf, cap - 1);
    sp_buf_puts(b, "sockpolicy[");
    sp_buf_putu(b, (unsigned)pid);
    sp_buf_putc(b, ' ');
    sp_buf_put_text(b, prog, strnlen(prog, 16), 64);
    sp_buf_puts(b, "]: summary: ");
}

static void end_line(struct sp_buf *b, const char *note,
                     void (*emit)(void *, const char *, size_t), void *ctx)
{
    if (note) { /* how the calls were seen, as an event line's note ends */
        sp_buf_puts(b, " (");
        sp_buf_put_text(b, note, strlen(note), 64);
        sp_buf_putc(b, ')');
    }
    b->p[b->len++] = '\n'; /* room kept by the cap - 1 above */
    b->p[b->len] = '\0';
    emit(ctx, b->p, b->len);
}

unsigned sp_summary_render(const struct sp_summary *s, pid_t pid, const char *prog, int json,
                           unsigned top, void (*emit)(void *ctx, const char *line, size_t len),
                           void *ctx)
{
    return sp_summary_render_note(s, pid, prog, NULL, json, top, emit, ctx);
}

unsigned sp_summary_render_note(const struct sp_summary *s, pid_t pid, const char *prog,
                                const char *note, int json, unsigned top,
                                void (*emit)(void *ctx, const char *line, size_t len), void *ctx)
{
    char buf[SP_DIAG_LINE_MAX];
    struct dest_row rows[TOP_MAX];
    int errs[TOP_MAX];
    uint64_t counts[TOP_MAX];
    struct sp_buf b;
    if (top > TOP_MAX)
        top = TOP_MAX;
    unsigned nd = top ? top_dests(s, rows, top) : 0;
    unsigned ne = top ? top_errnos(s, errs, counts, top) : 0;
    uint64_t made = atomic_load(&s->made), failed = atomic_load(&s->failed);
    if (json) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        sp_buf_init(&b, buf, sizeof buf - 1);
        sp_buf_puts(&b, "{\"time\":\"");
        sp_buf_put_time(&b, &now);
        sp_buf_puts(&b, "\",\"event\":\"summary\",\"pid\":");
        sp_buf_putu(&b, (unsigned)pid);
        sp_buf_puts(&b, ",\"prog\":");
        sp_buf_put_json(&b, prog, strnlen(prog, 16), 16);
        put_count(&b, ",\"made\":", made);
        put_count(&b, ",\"failed\":", failed);
        sp_buf_puts(&b, ",\"by_errno\":[");
        for (unsigned i = 0; i < ne; i++) {
            sp_buf_puts(&b, i ? ",{\"errno\":" : "{\"errno\":");
            sp_buf_putu(&b, (unsigned)errs[i]);
            sp_buf_puts(&b, ",\"errno_name\":");
            put_errname(&b, errs[i], 1);
            put_count(&b, ",\"count\":", counts[i]);
            sp_buf_putc(&b, '}');
        }
        sp_buf_puts(&b, "],\"by_destination\":[");
        for (unsigned i = 0; i < nd; i++) {
            if (i)
                sp_buf_putc(&b, ',');
            put_dest(&b, &rows[i], 1);
        }
        sp_buf_putc(&b, ']');
        if (note) {
            sp_buf_puts(&b, ",\"note\":");
            sp_buf_put_json(&b, note, strlen(note), 64);
        }
        sp_buf_putc(&b, '}');
        end_line(&b, NULL, emit, ctx);
        return 1;
    }
    unsigned lines = 0;
    text_prefix(&b, buf, sizeof buf, pid, prog);
    put_count(&b, "connections made ", made);
    put_count(&b, ", failed ", failed);
    end_line(&b, note, emit, ctx);
    lines++;
    for (unsigned i = 0; i < ne; i++, lines++) {
        text_prefix(&b, buf, sizeof buf, pid, prog);
        put_count(&b, "failed ", counts[i]);
        sp_buf_puts(&b, " x ");
        put_errname(&b, errs[i], 0);
        end_line(&b, note, emit, ctx);
    }
    for (unsigned i = 0; i < nd; i++, lines++) {
        text_prefix(&b, buf, sizeof buf, pid, prog);
        sp_buf_puts(&b, "to ");
        put_dest(&b, &rows[i], 0);
        end_line(&b, note, emit, ctx);
    }
    return lines;
}
