/* supervise/pending.c: non-blocking connects followed to their outcome, as the shim follows
 * them in its fd table. Keyed by the socket (device and inode of the duplicate: the program's
 * descriptor numbers are per process), ended when the program reads SO_ERROR (trapped) or
 * calls connect again. A bounded table: the oldest entry gives way. */
#include <errno.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/stat.h>

#include "sup.h"

#define NPENDING 1024

struct pending {
    uint64_t key; /* 0 free */
    uint64_t start_ns;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    const struct sp_rule *rule;
    uint32_t asked;
    struct bio_opt_report rep;
};

static struct pending table[NPENDING];
static unsigned next_slot;
static _Atomic unsigned npending; /* entries in use: 0 spares every lookup */
static pthread_mutex_t plock = PTHREAD_MUTEX_INITIALIZER;

uint64_t sup_sock_key(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return 0;
    return ((uint64_t)st.st_ino ^ ((uint64_t)st.st_dev << 40)) | 1;
}

void sup_pending_add(const struct sup_call *c, uint64_t start_ns, uint32_t asked,
                     const struct bio_opt_report *rep)
{
    uint64_t key = sup_sock_key(c->fd);
    if (!key)
        return;
    pthread_mutex_lock(&plock);
    struct pending *e = NULL;
    for (unsigned i = 0; i < NPENDING && !e; i++)
        if (table[i].key == key)
            e = &table[i];
    for (unsigned i = 0; i < NPENDING && !e; i++)
        if (!table[i].key)
            e = &table[i];
    if (!e)
        e = &table[next_slot++ % NPENDING];
    if (!e->key)
        npending++;
    e->key = key;
    e->start_ns = start_ns;
    e->addr = c->addr;
    e->addrlen = c->addrlen;
    e->rule = c->d.rule;
    e->asked = asked;
    if (rep)
        e->rep = *rep;
    else
        memset(&e->rep, 0, sizeof e->rep);
    pthread_mutex_unlock(&plock);
}

int sup_pending_take(int fd, uint64_t key, int err, enum sp_phase phase,
                     const struct sup_call *c)
{
    if (!key || !npending)
        return 0;
    /* SO_ERROR 0 while still in SYN_SENT: not the end yet */
    if (phase == SP_PHASE_SO_ERROR && err == 0 &&
        sp_diag_tcp_state(sp_diag_libc_ops(), fd) == TCP_SYN_SENT)
        return 0;
    struct pending e;
    int found = 0;
    pthread_mutex_lock(&plock);
    for (unsigned i = 0; i < NPENDING; i++)
        if (table[i].key == key) {
            e = table[i];
            table[i].key = 0;
            npending--;
            found = 1;
            break;
        }
    pthread_mutex_unlock(&plock);
    if (!found || !sup_log_wants(err))
        return found;
    struct sp_event ev;
    sup_event_init(&ev, SP_OP_CONNECT, c);
    ev.err = err;
    ev.phase = phase;
    ev.duration_ns = sp_diag_now_ns() - e.start_ns;
    sp_event_set_addr(&ev, 1, (const struct sockaddr *)&e.addr, e.addrlen);
    struct sockaddr_storage local;
    socklen_t llen = sizeof local;
    if (getsockname(fd, (struct sockaddr *)&local, &llen) == 0 && llen > sizeof(sa_family_t))
        sp_event_set_addr(&ev, 0, (const struct sockaddr *)&local, llen);
    ev.flags |= SP_EVF_NONBLOCK;
    ev.rule = sup.opts->trace ? NULL : e.rule;
    if (e.rule && e.asked) {
        ev.opts_asked = e.asked;
        ev.opts = e.rep;
    }
    sup_log_event(&ev);
    return found;
}

int sup_pending_has(uint64_t key)
{
    int found = 0;
    if (!key || !npending)
        return 0;
    pthread_mutex_lock(&plock);
    for (unsigned i = 0; i < NPENDING && !found; i++)
        found = table[i].key == key;
    pthread_mutex_unlock(&plock);
    return found;
}

/* ---- pin: options the program may not undo ---- */

#define NPIN 4096
struct pinned {
    uint64_t key; /* 0 free */
    uint32_t mask;
};
static struct pinned pins[NPIN];
static _Atomic unsigned npins;

void sup_pin_add(int fd, const struct sp_rule *r)
{
    if (!r || !r->pin || !r->opts.mask)
        return;
    uint64_t key = sup_sock_key(fd);
    if (!key)
        return;
    pthread_mutex_lock(&plock);
    struct pinned *e = NULL;
    for (unsigned i = 0; i < NPIN && !e; i++)
        if (pins[i].key == key || !pins[i].key)
            e = &pins[i];
    if (!e)
        e = &pins[next_slot++ % NPIN];
    if (!e->key)
        npins++;
    e->key = key;
    e->mask = r->opts.mask;
    pthread_mutex_unlock(&plock);
}

uint32_t sup_pin_mask(uint64_t key)
{
    uint32_t mask = 0;
    if (!key || !npins)
        return 0;
    pthread_mutex_lock(&plock);
    for (unsigned i = 0; i < NPIN; i++)
        if (pins[i].key == key) {
            mask = pins[i].mask;
            break;
        }
    pthread_mutex_unlock(&plock);
    return mask;
}
