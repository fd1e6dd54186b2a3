/* tests/unit/diag_printf.c: the diagnosis library's own printf (diag_printf.c) agrees with the
 * C library's snprintf on every conversion it supports, truncates like it, and leaves errno
 * alone; sp_diag_errno_label names an errno or gives its number. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "diag.h"
#include "tap.h"

#define SAME(...)                                                                              \
    do {                                                                                       \
        char got_[128], want_[128];                                                            \
        size_t n_ = sp_diag_fmt(got_, sizeof got_, __VA_ARGS__);                               \
        int w_ = snprintf(want_, sizeof want_, __VA_ARGS__);                                   \
        if (!ok(strcmp(got_, want_) == 0 && n_ == (size_t)w_, "as snprintf: %s", #__VA_ARGS__)) \
            diag("  got \"%s\" (%zu), want \"%s\" (%d)", got_, n_, want_, w_);                  \
    } while (0)

int main(void)
{
    SAME("plain text, no conversion");
    SAME("%d %i %d", 0, -42, 2147483647);
    SAME("%d", (int)-2147483647 - 1);
    SAME("%ld %lld", -1234567890123L, -9223372036854775807LL - 1);
    SAME("%u %lu %llu", 4294967295u, 18446744073709551615UL, 18446744073709551615ULL);
    SAME("%x %lx %llx", 0xdeadbeefu, 0xfeedfacecafeUL, 0x0123456789abcdefULL);
    SAME("%zu %zd", (size_t)4096, (ssize_t)-7);
    SAME("[%5d] [%-5d] [%05d] [%-5u] [%08x]", 42, 42, -42, 7u, 0xbeefu);
    SAME("[%3d] [%03d]", 12345, 12345);
    SAME("[%s] [%8s] [%-8s] [%c%c]", "abc", "abc", "abc", 'x', 'y');
    SAME("[%2s] 100%% sure", "longer than the width");
    SAME("%p", (void *)(uintptr_t)0x7ffd1234);

    char buf[8];
    size_t n = sp_diag_fmt(buf, sizeof buf, "%s=%d", "connect", 111);
    is_str(buf, "connect", "cut to size-1 bytes and NUL-terminated");
    is_int(n, 7, "returns the length written, not the length wanted");
    n = sp_diag_fmt(buf, 0, "%d", 5);
    is_int(n, 0, "size 0: nothing written, 0 returned");
    char big[16];
    const char *volatile nul = NULL; /* hidden from the compiler's format check */
    sp_diag_fmt(big, sizeof big, "%s", nul);
    is_str(big, "(null)", "a NULL string prints as (null)");

    errno = EADDRINUSE;
    sp_diag_fmt(big, sizeof big, "%d %s", 1, "x");
    is_int(errno, EADDRINUSE, "errno untouched by the printf");

    char eb[24];
    is_str(sp_diag_errno_label(ECONNREFUSED, eb, sizeof eb), "ECONNREFUSED", "an errno by name");
    is_str(sp_diag_errno_label(4242, eb, sizeof eb), "errno 4242", "an unknown errno by number");
    return done_testing();
}
