/* supervise/pending.c: non-blocking connects followed to their outcome, as the shim follows
 * them in its fd table. Keyed by the socket (device and inode of the duplicate: the program's
 * descriptor numbers are per process), ended when the program reads SO_ERROR (trapped) or
 * calls connect again, or closes the socket first (close is not trapped: once a second the
 * supervisor looks whether the program's descriptor still names the socket, and notes the
 * socket's TCP state while it does, for the line that says how it ended). A bounded table:
 * the oldest entry gives way. */
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

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
    pid_t tid;      /* the thread that connected, its process (0: not read yet), */
    pid_t tgid;
    int pfd;        /* the program's descriptor, the socket's inode */
    ino_t ino;
    int family, type;
    int state;      /* the TCP state last seen, -1 none */
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
    struct stat st;
    if (fstat(c->fd, &st) != 0)
        return;
    uint64_t key = ((uint64_t)st.st_ino ^ ((uint64_t)st.st_dev << 40)) | 1; /* sup_sock_key */
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
    e->tid = (pid_t)c->n.pid;
    e->tgid = 0;
    e->pfd = (int)c->n.data.args[0];
    e->ino = st.st_ino;
    e->family = c->family;
    e->type = c->type;
    e->state = -1;
    pthread_mutex_unlock(&plock);
}

/* Logs how the connect of e ended (err, learnt in phase; fd: a duplicate of the socket for
 * its local address, or -1 when it is gone; state: its TCP state at close). */
static void log_end(const struct pending *e, int fd, int err, enum sp_phase phase, int state,
                    const struct sup_call *c)
{
    struct sp_event ev;
    sup_event_init(&ev, SP_OP_CONNECT, c);
    ev.err = err;
    ev.phase = phase;
    ev.tcp_state = state;
    ev.duration_ns = sp_diag_now_ns() - e->start_ns;
    sp_event_set_addr(&ev, 1, (const struct sockaddr *)&e->addr, e->addrlen);
    struct sockaddr_storage local;
    socklen_t llen = sizeof local;
    if (fd >= 0 && getsockname(fd, (struct sockaddr *)&local, &llen) == 0 &&
        llen > sizeof(sa_family_t))
        sp_event_set_addr(&ev, 0, (const struct sockaddr *)&local, llen);
    ev.flags |= SP_EVF_NONBLOCK;
    sup_log_outcome(&ev, e->rule, e->rule ? e->asked : 0, &e->rep);
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
    if (found && sup_log_wants(err))
        log_end(&e, fd, err, phase, -1, c);
    return found;
}

/* The TCP state of the program's descriptor pfd of process tgid, read on a duplicate; -1. */
static int state_of(pid_t tgid, int pfd)
{
    int pidfd = (int)syscall(SYS_pidfd_open, tgid, 0), state = -1;
    if (pidfd < 0)
        return -1;
    int fd = (int)syscall(SYS_pidfd_getfd, pidfd, pfd, 0);
    close(pidfd);
    if (fd >= 0) {
        state = sp_diag_tcp_state(sp_diag_libc_ops(), fd);
        close(fd);
    }
    return state;
}

void sup_pending_sweep(int now_too)
{
    static uint64_t last;
    uint64_t now = sp_diag_now_ns();
    if (!npending || (!now_too && now - last < 1000000000u))
        return;
    last = now;
    for (unsigned i = 0; i < NPENDING; i++) {
        pthread_mutex_lock(&plock);
        struct pending e = table[i];
        pthread_mutex_unlock(&plock);
        if (!e.key)
            continue;
        struct sup_call who; /* the connecting thread, for the process and its name */
        memset(&who, 0, sizeof who);
        who.n.pid = (uint32_t)e.tid;
        who.n.data.args[0] = (uint64_t)e.pfd;
        who.fd = -1;
        who.family = e.family;
        who.type = e.type;
        if (!e.tgid) {
            sup_who(&who);
            e.tgid = who.tgid;
        }
        if (!who.comm[0]) /* the process is gone: the program's name */
            snprintf(who.comm, sizeof who.comm, "%.15s", sup.prog);
        int there = sup_fd_is(e.tgid, e.pfd, e.ino);
        int state = there ? state_of(e.tgid, e.pfd) : e.state;
        pthread_mutex_lock(&plock);
        int same = table[i].key == e.key && table[i].start_ns == e.start_ns;
        if (same && there) {
            table[i].tgid = e.tgid;
            table[i].state = state;
        } else if (same) {
            table[i].key = 0;
            npending--;
        }
        pthread_mutex_unlock(&plock);
        if (same && !there && sup_log_wants(EIO)) /* closed before its outcome was read */
            log_end(&e, -1, 0, SP_PHASE_CLOSE, state, &who);
    }
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
