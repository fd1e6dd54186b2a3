/* tests/unit/diag_rate.c: the token bucket's counts with a fake clock, the once-a-second
 * "suppressed N" report, and exact accounting under four threads. */
#include <pthread.h>

#include "diag.h"
#include "tap.h"

#define S 1000000000ull

static struct sp_rate shared;
static _Atomic uint64_t t_allowed, t_reported;

static void *hammer(void *arg)
{
    uint64_t base = (uint64_t)(uintptr_t)arg;
    for (int i = 0; i < 50000; i++) {
        uint64_t rep;
        /* 50000 events spread over 2 s of fake time per thread */
        if (sp_rate_take(&shared, base + (uint64_t)i * 40000, &rep))
            atomic_fetch_add(&t_allowed, 1);
        atomic_fetch_add(&t_reported, rep);
    }
    return NULL;
}

int main(void)
{
    struct sp_rate r;
    uint64_t rep, reported = 0;
    int allowed = 0;
    sp_rate_init(&r, 10, 10);
    uint64_t t0 = 100 * S;
    for (int i = 0; i < 1000; i++) { /* 1000 events within 0.5 s */
        allowed += sp_rate_take(&r, t0 + (uint64_t)i * 500000, &rep);
        reported += rep;
    }
    /* 10 of burst, plus 10/s refill over the 499.5 ms the events span = 4 more */
    is_int(allowed, 14, "rate 10/s burst 10: 14 of 1000 events in 0.5 s pass");
    is_int(reported, 0, "no report inside the second the drops began");
    allowed = sp_rate_take(&r, t0 + S + 1, &rep);
    is_int(rep, 986, "first event of the next second reports the 986 dropped");
    is_int(allowed, 1, "and is itself allowed (the bucket refilled)");
    sp_rate_take(&r, t0 + S + 2, &rep);
    is_int(rep, 0, "the report comes once");
    is_int(atomic_load(&r.total_suppressed), 986, "total suppressed is kept");
    for (int i = 0; i < 100; i++)
        sp_rate_take(&r, t0 + S + 3 + (uint64_t)i, &rep);
    ok(sp_rate_flush(&r) > 0 && sp_rate_flush(&r) == 0, "flush returns the unreported drops once (at exit)");

    sp_rate_init(&r, 0, 0);
    allowed = 0;
    for (int i = 0; i < 10000; i++)
        allowed += sp_rate_take(&r, t0, &rep);
    is_int(allowed, 10000, "rate 0 means unlimited");

    sp_rate_init(&shared, 1000, 100);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, hammer, (void *)(uintptr_t)(200 * S));
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    uint64_t a = atomic_load(&t_allowed);
    uint64_t dropped = atomic_load(&t_reported) + sp_rate_flush(&shared);
    is_int(a + dropped, 200000, "4 threads: allowed + reported suppressed = every event, none lost");
    /* Threads' fake clocks interleave, so the bucket may see time step back: it never
     * grants more than burst + rate x span. */
    ok(a >= 100 && a <= 100 + 1000 * 2 + 4, "allowed %llu within burst + rate x 2 s", (unsigned long long)a);
    return done_testing();
}
