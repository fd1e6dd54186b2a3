/* core/sysops.c: the table of system calls core/ makes, and plain libc's wrappers (libc.h),
 * the one definition every layer's plain-libc table points at. The hot path reads one pointer
 * to a const table; bio_set_sysops copies the caller's table once, at start-up. */
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "libc.h"
#include "sysops.h"
#include "err_int.h"

#define BIO_LIBC_DEFINE(name, ret, params, args)                                                \
    ret bio_libc_##name params                                                                  \
    {                                                                                           \
        return name args;                                                                       \
    }
BIO_LIBC_CALLS(BIO_LIBC_DEFINE)
#undef BIO_LIBC_DEFINE

/* ioctl and fcntl: the third argument, an int or a pointer, is passed on in the same register. */
#define BIO_LIBC_VARIADIC(name, second)                                                         \
    int bio_libc_##name(int fd, second b, ...)                                                  \
    {                                                                                           \
        va_list ap;                                                                             \
        va_start(ap, b);                                                                        \
        void *arg = va_arg(ap, void *);                                                         \
        va_end(ap);                                                                             \
        return name(fd, b, arg);                                                                \
    }
BIO_LIBC_VARIADIC(ioctl, unsigned long)
BIO_LIBC_VARIADIC(fcntl, int)
#undef BIO_LIBC_VARIADIC

#define BIO_LIBC_ENTRY(name, ret, params, args) .name = bio_libc_##name,
static const struct bio_sysops libc_ops = {
    BIO_LIBC_SYSOPS(BIO_LIBC_ENTRY)
    .ioctl = bio_libc_ioctl,
    .fcntl = bio_libc_fcntl,
};
#undef BIO_LIBC_ENTRY

static struct bio_sysops installed_ops;
const struct bio_sysops *bio__ops = &libc_ops;

void bio_set_sysops(const struct bio_sysops *ops)
{
    if (ops == NULL) {
        bio__ops = &libc_ops;
        return;
    }
    installed_ops = *ops;
    bio__ops = &installed_ops;
}

const struct bio_sysops *(bio_sysops)(void) /* the parentheses: not err_int.h's macro */
{
    return bio__ops;
}
