/* shim/fdtab.c: the per-fd table (no allocation per call: one lazy mmap). */
#include "fdtab.h"
#include "real.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

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

/* ---- pins, keyed by the socket's inode ----
 * Open addressing in tables of 4096 << i slots, mapped as needed and never unmapped (readers
 * hold no lock). A slot's inode is claimed by compare-and-swap; a socket closed everywhere in
 * the process leaves its slot until a sweep (when an insert finds no room) turns it into a
 * tombstone: one pass over /proc/self/fd marks the inodes still open, and a slot unmarked in
 * two sweeps in a row is dropped (two, so that a socket moving between numbers while one
 * sweep reads the directory is not lost). */
#define PIN_TABLES 16
#define PIN_PROBES 32
#define PIN_TOMB (~(uint64_t)0)
struct pin_slot {
    uint64_t ino; /* 0: empty; PIN_TOMB: dropped */
    uint32_t mask;
    uint32_t gen; /* the sweep that last saw it open (or that was current when it was added) */
    const struct sp_rule *rule;
};
static struct pin_slot *pin_tab[PIN_TABLES];
static uint32_t pin_gen = 1;
static int pin_sweeping;
uint32_t shim_pin_opts;

static size_t pin_cap(int i)
{
    return (size_t)4096 << i;
}

/* The slot of ino in the tables mapped so far (claim 0), or a free one claimed for it
 * (claim 1); NULL when there is none. */
static struct pin_slot *pin_probe(uint64_t ino, int claim)
{
    uint64_t h = ino * 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < PIN_TABLES; i++) {
        struct pin_slot *t = __atomic_load_n(&pin_tab[i], __ATOMIC_ACQUIRE);
        if (!t)
            break;
        for (size_t j = 0; j < PIN_PROBES; j++) {
            struct pin_slot *s = &t[(h + j) & (pin_cap(i) - 1)];
            uint64_t v = __atomic_load_n(&s->ino, __ATOMIC_ACQUIRE);
            if (!claim) {
                if (v == ino)
                    return s;
                if (!v)
                    break;
            } else if ((v == 0 || v == PIN_TOMB) &&
                       __atomic_compare_exchange_n(&s->ino, &v, ino, 0, __ATOMIC_ACQ_REL,
                                                   __ATOMIC_RELAXED)) {
                return s;
            }
        }
    }
    return NULL;
}

static struct pin_slot *pin_find(uint64_t ino)
{
    return pin_probe(ino, 0);
}

static struct pin_slot *pin_claim(uint64_t ino)
{
    return pin_probe(ino, 1);
}

static int pin_map_next(void)
{
    for (int i = 0; i < PIN_TABLES; i++) {
        if (__atomic_load_n(&pin_tab[i], __ATOMIC_ACQUIRE))
            continue;
        size_t bytes = pin_cap(i) * sizeof(struct pin_slot);
        struct pin_slot *t = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (t == MAP_FAILED)
            return -1;
        struct pin_slot *none = NULL;
        if (!__atomic_compare_exchange_n(&pin_tab[i], &none, t, 0, __ATOMIC_ACQ_REL,
                                         __ATOMIC_ACQUIRE))
            munmap(t, bytes); /* another thread mapped it: room there */
        return 0;
    }
    return -1;
}

/* Drops the slots of sockets no longer open in the process (see above). One sweep at a time;
 * a caller that finds one under way goes on without. */
static void pin_sweep(void)
{
    int idle = 0;
    if (!__atomic_compare_exchange_n(&pin_sweeping, &idle, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return;
    uint32_t g = __atomic_add_fetch(&pin_gen, 1, __ATOMIC_ACQ_REL);
    int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) {
        __atomic_store_n(&pin_sweeping, 0, __ATOMIC_RELEASE);
        return; /* nothing is known to be closed: nothing is dropped */
    }
    char buf[4096];
    long n;
    while ((n = syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0) {
        for (long off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(void *)(buf + off);
            off += d->d_reclen;
            int fd = 0;
            const char *c = d->d_name;
            if (*c < '0' || *c > '9')
                continue;
            while (*c >= '0' && *c <= '9' && fd < (1 << 27))
                fd = fd * 10 + (*c++ - '0');
            struct stat st;
            if (fd == dir || fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
                continue;
            struct pin_slot *s = pin_find((uint64_t)st.st_ino);
            if (s)
                __atomic_store_n(&s->gen, g, __ATOMIC_RELAXED);
        }
    }
    syscall(SYS_close, dir); /* not through our close: nothing to forget */
    if (n == 0) /* the whole directory was read: what it did not show is closed */
        for (int i = 0; i < PIN_TABLES; i++) {
            struct pin_slot *t = __atomic_load_n(&pin_tab[i], __ATOMIC_ACQUIRE);
            for (size_t j = 0; t && j < pin_cap(i); j++) {
                uint64_t v = __atomic_load_n(&t[j].ino, __ATOMIC_RELAXED);
                if (v && v != PIN_TOMB && g - __atomic_load_n(&t[j].gen, __ATOMIC_RELAXED) >= 2) {
                    __atomic_store_n(&t[j].mask, 0, __ATOMIC_RELAXED);
                    __atomic_store_n(&t[j].ino, PIN_TOMB, __ATOMIC_RELEASE);
                }
            }
        }
    __atomic_store_n(&pin_sweeping, 0, __ATOMIC_RELEASE);
}

/* The inode of the socket open on fd, or 0. errno preserved. */
static uint64_t sock_ino(int fd)
{
    int saved = errno;
    struct stat st;
    uint64_t ino = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) ? (uint64_t)st.st_ino : 0;
    errno = saved;
    return ino == PIN_TOMB ? 0 : ino;
}

int shim_pin_add(int fd, uint32_t mask, const struct sp_rule *rule)
{
    uint64_t ino = sock_ino(fd);
    if (!ino)
        return -1;
    int saved = errno;
    struct pin_slot *s = pin_find(ino);
    for (int round = 0; !s && round < 3; round++) {
        s = pin_claim(ino);
        if (s) {
            __atomic_store_n(&s->gen, __atomic_load_n(&pin_gen, __ATOMIC_ACQUIRE), __ATOMIC_RELAXED);
            __atomic_store_n(&s->mask, 0, __ATOMIC_RELAXED);
        } else if (round == 0 && __atomic_load_n(&pin_tab[0], __ATOMIC_ACQUIRE)) {
            pin_sweep(); /* full where this inode hashes: drop the closed sockets first */
        } else if (pin_map_next() != 0) {
            break;
        }
    }
    errno = saved;
    if (!s)
        return -1;
    __atomic_store_n(&s->rule, rule, __ATOMIC_RELAXED);
    __atomic_fetch_or(&s->mask, mask, __ATOMIC_RELEASE);
    __atomic_fetch_or(&shim_pin_opts, mask, __ATOMIC_RELAXED);
    __atomic_fetch_or(&shim_fd_pins, SHIM_PINS_PINNED, __ATOMIC_RELEASE);
    return 0;
}

uint32_t shim_pin_get(int fd, const struct sp_rule **rule)
{
    uint64_t ino = sock_ino(fd);
    struct pin_slot *s = ino ? pin_find(ino) : NULL;
    uint32_t mask = s ? __atomic_load_n(&s->mask, __ATOMIC_ACQUIRE) : 0;
    *rule = mask ? __atomic_load_n(&s->rule, __ATOMIC_RELAXED) : NULL;
    return mask;
}

/* The kind from the kernel. 0, or -1 with errno preserved. */
static int kernel_kind(int fd, int *family, int *type)
{
    int saved = errno, fam = 0, ty = 0;
    socklen_t l1 = sizeof fam, l2 = sizeof ty;
    if (shim_real.getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &fam, &l1) != 0 ||
        shim_real.getsockopt(fd, SOL_SOCKET, SO_TYPE, &ty, &l2) != 0) {
        errno = saved;
        return -1;
    }
    *family = fam;
    *type = ty;
    return 0;
}

int shim_sock_kind_slow(int fd, int *family, int *type)
{
    int fam, ty;
    if (kernel_kind(fd, &fam, &ty) != 0)
        return -1;
    *family = fam;
    *type = ty;
    struct shim_fd *e = shim_fd_get(fd);
    uint32_t none = 0; /* keep any per-fd state: it has its own inode check */
    if (e)
        __atomic_compare_exchange_n(&e->kind, &none, SHIM_FD_KIND(fam, ty), 0, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED);
    return 0;
}

int shim_sock_kind_sure(int fd, int *family, int *type)
{
    int fam, ty;
    struct shim_fd *e = shim_fd_peek(fd);
    uint32_t was = e ? __atomic_load_n(&e->kind, __ATOMIC_RELAXED) : 0;
    if (kernel_kind(fd, &fam, &ty) != 0) {
        /* not a socket (any more): what was recorded is some closed socket's */
        if (was)
            __atomic_compare_exchange_n(&e->kind, &was, 0, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
        return -1;
    }
    *family = fam;
    *type = ty;
    uint32_t now = SHIM_FD_KIND(fam, ty);
    if (!e)
        e = shim_fd_get(fd);
    /* Compared with what was read before the look: a socket() of another thread that took
     * the number meanwhile recorded its own kind, which stays. */
    if (e && was != now &&
        __atomic_compare_exchange_n(&e->kind, &was, now, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED) &&
        was)
        shim_fd_drop_state(e); /* another socket's: the listener set-up, the inode */
    return 0;
}
