/* shim/clock.h: the one cycle counter the hooks read (no system call, no vDSO call: the CPU's
 * time stamp counter, or the virtual counter on arm64) and its rate against CLOCK_MONOTONIC,
 * from one reference point (taken again if the counter is seen to go back). Where there is a
 * counter, the reload deadline (state.h, shim_tick) and the log's durations (log.h,
 * shim_stamp) both count in it; elsewhere shim_tick counts calls and shim_stamp reads
 * sp_diag_now_ns (diag/), which is the wall time everywhere. */
#ifndef SOCKPOLICY_SHIM_CLOCK_H
#define SOCKPOLICY_SHIM_CLOCK_H

#include <stdint.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define SHIM_HAVE_CYCLES 1
static inline uint64_t shim_cycles(void)
{
    return __rdtsc();
}
#elif defined(__aarch64__)
#define SHIM_HAVE_CYCLES 1
static inline uint64_t shim_cycles(void)
{
    uint64_t v;
    __asm__ __volatile__("mrs %0, cntvct_el0" : "=r"(v));
    return v;
}
#else
#define SHIM_HAVE_CYCLES 0
static inline uint64_t shim_cycles(void)
{
    return 0;
}
#endif

/* Takes the reference point (a cycle count and CLOCK_MONOTONIC read together) unless one is
 * taken already. No lock, no malloc; errno preserved. */
void shim_clock_start(void);
/* Cycles per nanosecond from the reference point to now; 0 when not known yet (no counter,
 * less than 50 ms measured, no reference). A counter found to have gone back (another
 * CPU's, a migrated VM) starts a new reference. errno preserved. */
double shim_cycles_per_ns(void);
/* Nanoseconds since a stamp shim_cycles() took (at most the time since the reference); 0
 * when unknown. errno preserved. */
uint64_t shim_cycles_elapsed_ns(uint64_t stamp);

#endif
