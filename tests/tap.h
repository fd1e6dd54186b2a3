/* tests/tap.h: the smallest TAP producer that serves our C tests.
 * plan(n) first (or done_testing() last), then ok(cond, fmt, ...), is_int(got, want, name).
 * exit_status() returns non-zero when any test failed. */
#ifndef SOCKPOLICY_TESTS_TAP_H
#define SOCKPOLICY_TESTS_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

__attribute__((unused)) static void plan(int n)
{
    printf("1..%d\n", n);
    fflush(stdout);
}

__attribute__((unused, format(printf, 2, 3))) static int ok(int cond, const char *fmt, ...)
{
    va_list ap;
    printf("%s %d - ", cond ? "ok" : "not ok", ++tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    if (!cond)
        tap_failed++;
    return cond;
}

__attribute__((unused, format(printf, 1, 2))) static void diag(const char *fmt, ...)
{
    va_list ap;
    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

__attribute__((unused, format(printf, 1, 2))) static void skip(const char *fmt, ...)
{
    va_list ap;
    printf("ok %d # SKIP ", ++tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

#define is_int(got, want, ...)                                                                \
    do {                                                                                     \
        long long tap_g_ = (long long)(got), tap_w_ = (long long)(want);                     \
        if (!ok(tap_g_ == tap_w_, __VA_ARGS__))                                              \
            diag("  got %lld, want %lld", tap_g_, tap_w_);                                   \
    } while (0)

#define is_str(got, want, ...)                                                                \
    do {                                                                                     \
        const char *tap_g_ = (got), *tap_w_ = (want);                                        \
        int tap_same_ = (tap_g_ && tap_w_) ? strcmp(tap_g_, tap_w_) == 0 : tap_g_ == tap_w_; \
        if (!ok(tap_same_, __VA_ARGS__))                                                     \
            diag("  got \"%s\", want \"%s\"", tap_g_ ? tap_g_ : "(null)",                    \
                 tap_w_ ? tap_w_ : "(null)");                                                \
    } while (0)

__attribute__((unused)) static int done_testing(void)
{
    printf("1..%d\n", tap_n);
    fflush(stdout);
    return tap_failed ? 1 : 0;
}

__attribute__((unused)) static int exit_status(void)
{
    return tap_failed ? 1 : 0;
}

#endif
