/* shim/real.c: resolve the real libc functions once, check each, refuse our own. */
#include "real.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "sysops.h"

struct shim_real shim_real;

_Atomic int shim_real_state;

/* Our own exported hooks (declared by libc's headers) are compared with what dlsym returns,
 * to recognise a lookup that came back to us. */

static void *resolve(const char *name, void *ours, int *bad)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (p == ours) {
        p = NULL; /* a loop back into the shim: better fail than recurse forever */
        *bad = 1;
    }
    return p;
}

int shim_real_init(void)
{
    if (atomic_load_explicit(&shim_real_state, memory_order_acquire) != 0)
        return atomic_load_explicit(&shim_real_state, memory_order_relaxed) > 0 ? 0 : -1;
    int saved = errno, bad = 0;
    struct shim_real r;
#define SHIM_REAL_RESOLVE(name, ret, args) r.name = (ret(*) args)resolve(#name, (void *)name, &bad);
    SHIM_REAL_FUNCS(SHIM_REAL_RESOLVE)
#undef SHIM_REAL_RESOLVE
    /* Not hooked: libc's own are the real ones. */
    r.getsockname = getsockname;
    r.ioctl = ioctl;
    r.fcntl = fcntl;
    /* close_range is optional (glibc >= 2.34); every other name is required. */
    if (!r.socket || !r.bind || !r.listen || !r.connect || !r.accept || !r.accept4 ||
        !r.setsockopt || !r.getsockopt || !r.close || !r.dup2 || !r.dup3 || !r.sendto ||
        !r.sendmsg)
        bad = 1;
    shim_real = r; /* racing initialisers store identical values */
    if (!bad) {
        struct bio_sysops ops = {
            .socket = r.socket, .bind = r.bind, .connect = r.connect, .listen = r.listen,
            .accept = r.accept, .accept4 = r.accept4, .setsockopt = r.setsockopt,
            .getsockopt = r.getsockopt, .getsockname = r.getsockname, .ioctl = r.ioctl,
            .fcntl = r.fcntl, .close = r.close,
        };
        bio_set_sysops(&ops);
    }
    atomic_store_explicit(&shim_real_state, bad ? -1 : 1, memory_order_release);
    errno = saved;
    return bad ? -1 : 0;
}
