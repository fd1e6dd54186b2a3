/* shim/real.c: resolve the real libc functions, each at most once, and refuse our own.
 * Start-up costs nothing here: each table member starts at a first-call resolver (a local
 * function, so the table needs only relative relocations), and the full resolve for core's
 * sysops runs with the policy load. */
#include "real.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <string.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include "libc.h"
#include "sysops.h"

_Atomic int shim_real_state;

/* Our own image, from the linker: a lookup that lands inside it came back to the shim (another
 * library's RTLD_NEXT chain looping, or libc lacking the name and a later object being us).
 * Comparing against the range instead of each hook's address keeps the hooks' addresses out of
 * the relocations (no symbol lookup at load time). */
extern const char __ehdr_start[] __attribute__((visibility("hidden")));
extern const char _etext[] __attribute__((visibility("hidden")));

static int is_ours(const void *p)
{
    return (const char *)p >= __ehdr_start && (const char *)p < _etext;
}

/* An ELF note in our image (a PT_NOTE segment: nothing exported) by which one copy of the
 * library recognises another. */
#define SP_NOTE_TYPE 0x53500001u
static const struct {
    uint32_t namesz, descsz, type;
    char name[12];
    uint32_t desc;
} sp_note __attribute__((used, section(".note.sockpolicy"), aligned(4))) = {
    11, 4, SP_NOTE_TYPE, "sockpolicy", 1
};

struct find_copy {
    const char *addr;
    int found; /* 1: addr lies in an object that carries our note */
};

static int find_copy_cb(struct dl_phdr_info *info, size_t size, void *ctx)
{
    struct find_copy *f = ctx;
    (void)size;
    int inside = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        const char *lo = (const char *)(info->dlpi_addr + ph->p_vaddr);
        if (ph->p_type == PT_LOAD && f->addr >= lo && f->addr < lo + ph->p_memsz)
            inside = 1;
    }
    if (!inside)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const char *n = (const char *)(info->dlpi_addr + ph->p_vaddr), *end = n + ph->p_memsz;
        while (n + 12 <= end) {
            uint32_t namesz, descsz, type;
            memcpy(&namesz, n, 4);
            memcpy(&descsz, n + 4, 4);
            memcpy(&type, n + 8, 4);
            const char *name = n + 12;
            if (type == SP_NOTE_TYPE && namesz == 11 && name + 11 <= end &&
                !memcmp(name, "sockpolicy", 11))
                f->found = 1;
            n = name + ((namesz + 3) & ~3u) + ((descsz + 3) & ~3u);
        }
    }
    return 1; /* the object holding addr: stop */
}

/* 1 when fn, a function found next in line, belongs to another copy of this library. */
static int in_other_copy(const void *fn)
{
    struct find_copy f = { (const char *)fn, 0 };
    if (!fn)
        return 0;
    dl_iterate_phdr(find_copy_cb, &f);
    return f.found;
}

static _Atomic int other_copy = -1; /* -1: not asked yet */

int shim_real_other_copy(void)
{
    int v = atomic_load_explicit(&other_copy, memory_order_relaxed);
    if (v < 0) {
        int saved = errno;
        /* connect and socket: the names every copy hooks. */
        v = in_other_copy(dlsym(RTLD_NEXT, "connect")) || in_other_copy(dlsym(RTLD_NEXT, "socket"));
        atomic_store_explicit(&other_copy, v, memory_order_relaxed);
        errno = saved;
    }
    return v;
}

static void *resolve(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    return p && !is_ours(p) ? p : NULL;
}

/* One first-call resolver per name: look the name up, store it, call it. A name that cannot
 * be had fails the call with ENOSYS (the table keeps the resolver, so it is asked again). */
#define SHIM_REAL_FIRST(name, ret, params, args)                                                \
    static ret first_##name params                                                              \
    {                                                                                           \
        int saved = errno;                                                                      \
        ret(*real_fn) params = (ret(*) params)resolve(#name);                                   \
        if (!real_fn) {                                                                         \
            errno = ENOSYS;                                                                     \
            return -1;                                                                          \
        }                                                                                       \
        __atomic_store_n(&shim_real.name, real_fn, __ATOMIC_RELAXED);                           \
        errno = saved;                                                                          \
        return real_fn args;                                                                    \
    }
SHIM_REAL_FUNCS(SHIM_REAL_FIRST)
#undef SHIM_REAL_FIRST

#define SHIM_REAL_INIT_FIRST(name, ret, params, args) .name = first_##name,
struct shim_real shim_real = {
    SHIM_REAL_FUNCS(SHIM_REAL_INIT_FIRST)
    /* not hooked: libc's own are the real ones, through core's plain-libc wrappers (bound
     * lazily through the PLT rather than taken by address: no lookup at load time) */
    .getsockname = bio_libc_getsockname,
    .ioctl = bio_libc_ioctl,
    .fcntl = bio_libc_fcntl,
};
#undef SHIM_REAL_INIT_FIRST

int shim_real_init(void)
{
    if (atomic_load_explicit(&shim_real_state, memory_order_acquire) != 0)
        return atomic_load_explicit(&shim_real_state, memory_order_relaxed) > 0 ? 0 : -1;
    int saved = errno, bad = 0;
    struct shim_real r = shim_real;
#define SHIM_REAL_RESOLVE(name, ret, params, args)                                              \
    if ((void *)r.name == (void *)first_##name) {                                               \
        void *p = resolve(#name);                                                               \
        if (p)                                                                                  \
            __atomic_store_n(&shim_real.name, r.name = (ret(*) params)p, __ATOMIC_RELAXED);     \
        else if (__builtin_strcmp(#name, "close_range") != 0)                                   \
            bad = 1; /* close_range is optional (glibc >= 2.34); every other name is required */ \
    }
    SHIM_REAL_FUNCS(SHIM_REAL_RESOLVE)
#undef SHIM_REAL_RESOLVE
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
