/* shim/clock.c: the cycle counter's rate (clock.h). */
#include <stdatomic.h>

#include "clock.h"
#include "diag.h"

/* The reference: ns is stored last and cleared first, so a reader that sees the same nonzero
 * ns before and after reading cycles has a matching pair. */
static struct {
    _Atomic uint64_t cycles, ns;
} ref;

static void ref_set(uint64_t cycles, uint64_t ns)
{
    atomic_store_explicit(&ref.ns, 0, memory_order_release);
    atomic_store_explicit(&ref.cycles, cycles, memory_order_release);
    atomic_store_explicit(&ref.ns, ns, memory_order_release);
}

/* The reference pair, or 0 when there is none (or it is being replaced). */
static int ref_get(uint64_t *cycles, uint64_t *ns)
{
    uint64_t n = atomic_load_explicit(&ref.ns, memory_order_acquire);
    *cycles = atomic_load_explicit(&ref.cycles, memory_order_acquire);
    *ns = n;
    return n && atomic_load_explicit(&ref.ns, memory_order_acquire) == n;
}

/* Set once: the first load and the logger's set-up may run in two threads at once, and two
 * writers could leave one's cycles with the other's ns. After it, only the thread holding the
 * reload watch rebases (shim_cycles_per_ns). */
static atomic_flag started = ATOMIC_FLAG_INIT;

void shim_clock_start(void)
{
    if (SHIM_HAVE_CYCLES && !atomic_flag_test_and_set(&started))
        ref_set(shim_cycles(), sp_diag_now_ns());
}

double shim_cycles_per_ns(void)
{
    uint64_t t = shim_cycles(), now = sp_diag_now_ns(), rc, rn;
    if (!SHIM_HAVE_CYCLES || !ref_get(&rc, &rn))
        return 0;
    if (t < rc || now < rn) {
        ref_set(t, now);
        return 0;
    }
    if (now - rn < 50000000ull)
        return 0;
    return (double)(t - rc) / (double)(now - rn);
}

uint64_t shim_cycles_elapsed_ns(uint64_t stamp)
{
    uint64_t t = shim_cycles(), now = sp_diag_now_ns(), rc, rn;
    if (!SHIM_HAVE_CYCLES || !ref_get(&rc, &rn) || now <= rn || t <= rc || stamp > t)
        return 0;
    uint64_t span = now - rn;
    uint64_t d = (uint64_t)((double)(t - stamp) * (double)span / (double)(t - rc));
    return d < span ? d : span;
}
