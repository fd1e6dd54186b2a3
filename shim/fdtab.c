/* shim/fdtab.c: the per-fd table (no allocation per call: one lazy mmap). */
#include "fdtab.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#define FDTAB_CAP (1u << 17) /* 131072 fds, 18 MiB of address space at most, touched lazily */

_Atomic(struct shim_fdtab_hdr *) shim_fdtab;
int shim_fd_pins;

struct shim_fd *shim_fd_get(int fd)
{
    struct shim_fd *e = shim_fd_peek(fd);
    if (e || fd < 0 || atomic_load(&shim_fdtab))
        return e;
    int saved = errno;
    struct rlimit rl;
    size_t cap = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        cap = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > FDTAB_CAP ? FDTAB_CAP : rl.rlim_max;
    if (cap < 1024)
        cap = 1024;
    size_t bytes = sizeof(struct shim_fdtab_hdr) + cap * sizeof(struct shim_fd);
    struct shim_fdtab_hdr *t = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (t != MAP_FAILED) {
        t->cap = cap;
        struct shim_fdtab_hdr *none = NULL;
        if (!atomic_compare_exchange_strong(&shim_fdtab, &none, t))
            munmap(t, bytes); /* another thread won */
    }
    errno = saved;
    return shim_fd_peek(fd);
}

struct shim_fd *shim_fd_valid(int fd)
{
    struct shim_fd *e = shim_fd_peek(fd);
    if (!e || !__atomic_load_n(&e->ino, __ATOMIC_RELAXED))
        return NULL;
    int saved = errno;
    struct stat st;
    int same = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) &&
               (uint64_t)st.st_ino == __atomic_load_n(&e->ino, __ATOMIC_RELAXED);
    errno = saved;
    if (!same) {
        __atomic_store_n(&e->ino, 0, __ATOMIC_RELAXED); /* the rest is believed only with it */
        return NULL;
    }
    return e;
}

struct shim_fd *shim_fd_claim(int fd, int family, int type)
{
    int saved = errno;
    struct stat st;
    struct shim_fd *e = NULL;
    if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) && (e = shim_fd_get(fd)) != NULL) {
        __atomic_store_n(&e->ino, 0, __ATOMIC_RELAXED);
        e->pinned = 0;
        e->pin_rule = NULL;
        e->connect_ms = 0;
        e->logged = 0;
        e->connect_rule = NULL;
        e->opts_asked = 0;
        __atomic_store_n(&e->kind, SHIM_FD_KIND(family, type), __ATOMIC_RELAXED);
        __atomic_store_n(&e->ino, (uint64_t)st.st_ino, __ATOMIC_RELAXED);
    }
    errno = saved;
    return e;
}

void shim_fd_set_kind_slow(int fd, int family, int type)
{
    struct shim_fd *e = shim_fd_get(fd);
    if (e) {
        __atomic_store_n(&e->kind, SHIM_FD_KIND(family, type), __ATOMIC_RELAXED);
        shim_fd_drop_state(e);
    }
}

void shim_fd_forget(int lo, int hi)
{
    struct shim_fdtab_hdr *t = atomic_load_explicit(&shim_fdtab, memory_order_acquire);
    if (!t || hi < 0 || lo < 0)
        return;
    if ((size_t)hi >= t->cap)
        hi = (int)t->cap - 1;
    for (int fd = lo; fd <= hi; fd++) {
        struct shim_fd *e = &t->fds[fd];
        /* Tested first: a range (close_range) must not dirty, so map, untouched pages. */
        if (__atomic_load_n(&e->kind, __ATOMIC_RELAXED))
            __atomic_store_n(&e->kind, 0, __ATOMIC_RELAXED);
        if (__atomic_load_n(&e->ino, __ATOMIC_RELAXED) ||
            __atomic_load_n(&e->inh_rule, __ATOMIC_RELAXED) ||
            __atomic_load_n(&e->inh_off, __ATOMIC_RELAXED))
            shim_fd_drop_state(e);
    }
}
