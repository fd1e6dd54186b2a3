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
    if (!e || !e->ino)
        return NULL;
    int saved = errno;
    struct stat st;
    int same = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) && (uint64_t)st.st_ino == e->ino;
    errno = saved;
    if (!same) {
        memset(e, 0, sizeof *e);
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
        memset(e, 0, sizeof *e);
        e->family = (int16_t)family;
        e->type = (int16_t)type;
        e->ino = (uint64_t)st.st_ino;
    }
    errno = saved;
    return e;
}

void shim_fd_set_kind(int fd, int family, int type)
{
    struct shim_fd *e = shim_fd_peek(fd);
    if (__builtin_expect(!e, 0))
        e = shim_fd_get(fd);
    if (e) {
        e->family = (int16_t)family;
        e->type = (int16_t)type;
        e->ino = 0;
        e->inh_rule = NULL;
        e->inh_off = 0;
    }
}

void shim_fd_forget(int lo, int hi)
{
    struct shim_fdtab_hdr *t = atomic_load_explicit(&shim_fdtab, memory_order_acquire);
    if (!t || hi < 0 || lo < 0)
        return;
    if ((size_t)hi >= t->cap)
        hi = (int)t->cap - 1;
    for (int fd = lo; fd <= hi; fd++)
        if (t->fds[fd].ino || t->fds[fd].type || t->fds[fd].inh_rule) {
            t->fds[fd].ino = 0;
            t->fds[fd].type = 0;
            t->fds[fd].inh_rule = NULL;
            t->fds[fd].inh_off = 0;
        }
}
