/* diag/diag_rate.c: a per-process token bucket, so that a program in a reconnect loop cannot
 * flood the disk. One 64-bit word holds the tokens and the time of the last refill, updated
 * with compare-and-swap: no lock, safe from signal handlers. What is dropped is counted and
 * reported once per second as "suppressed N events". */
#include "diag.h"

#define UNIT 1024u /* a token, in the bucket's fixed-point units */

void sp_rate_init(struct sp_rate *r, uint32_t rate, uint32_t burst)
{
    if (rate > 1000000)
        rate = 1000000;
    if (burst > 1000000)
        burst = 1000000;
    if (burst == 0)
        burst = rate ? rate : 1;
    r->rate = rate;
    r->burst = burst;
    atomic_store(&r->state, (uint64_t)burst * UNIT); /* full, time 0: refilled at first use */
    atomic_store(&r->suppressed, 0);
    atomic_store(&r->report_s, 0);
    atomic_store(&r->total_suppressed, 0);
}

int sp_rate_take(struct sp_rate *r, uint64_t now_ns, uint64_t *report)
{
    int64_t now_s = (int64_t)(now_ns / 1000000000u);
    *report = 0;
    int allow = 1;
    if (r->rate != 0) {
        uint32_t now_ms = (uint32_t)(now_ns / 1000000u);
        uint64_t cap = (uint64_t)r->burst * UNIT;
        uint64_t old = atomic_load_explicit(&r->state, memory_order_relaxed), upd;
        do {
            uint32_t then_ms = (uint32_t)(old >> 32);
            uint64_t tok = old & 0xffffffffu;
            /* Threads read the clock before they race here, so "now" may be a little older
             * than the last update: then nothing is added and time does not step back (a
             * wrapped difference would refill the whole bucket). */
            uint32_t elapsed = now_ms - then_ms, at = now_ms;
            if ((int32_t)elapsed < 0) {
                elapsed = 0;
                at = then_ms;
            }
            uint64_t add = (uint64_t)elapsed * r->rate * UNIT / 1000;
            tok = tok + add > cap ? cap : tok + add;
            allow = tok >= UNIT;
            if (allow)
                tok -= UNIT;
            upd = (uint64_t)at << 32 | tok;
        } while (!atomic_compare_exchange_weak_explicit(&r->state, &old, upd,
                                                        memory_order_relaxed,
                                                        memory_order_relaxed));
    }
    if (!allow) {
        atomic_fetch_add(&r->total_suppressed, 1);
        if (atomic_fetch_add(&r->suppressed, 1) == 0)
            atomic_store(&r->report_s, now_s); /* the window of this run of drops */
    }
    int64_t rs = atomic_load(&r->report_s);
    if (rs != now_s && atomic_load(&r->suppressed) != 0 &&
        atomic_compare_exchange_strong(&r->report_s, &rs, now_s))
        *report = atomic_exchange(&r->suppressed, 0);
    return allow;
}

uint64_t sp_rate_flush(struct sp_rate *r)
{
    return atomic_exchange(&r->suppressed, 0);
}
