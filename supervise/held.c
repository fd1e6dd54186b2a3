/* supervise/held.c: connections the supervisor accepted for a program's accept that went
 * away before it got them (a signal interrupted it between the supervisor's accept and the
 * ADDFD that hands the connection over). They are not lost: the next accept on the same
 * listening socket gets one of them before the kernel's queue; a listening socket the program
 * closes closes the ones kept for it (looked at once a second). A bounded table. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sup.h"

#define NHELD 64

struct held {
    int fd;                       /* the connection */
    uint64_t key;                 /* the listening socket (sup_sock_key); 0 free */
    pid_t tgid;                   /* and where the program holds it: process, descriptor, */
    int lfd;                      /* inode (for the once-a-second look) */
    ino_t ino;
    struct sockaddr_storage peer; /* as accept4 gave it */
    socklen_t peerlen;
};

static struct held table[NHELD];
static _Atomic unsigned nheld; /* in use: 0 spares every lookup */
static pthread_mutex_t hlock = PTHREAD_MUTEX_INITIALIZER;

void sup_held_keep(struct sup_call *c, int nfd)
{
    struct stat st;
    uint64_t key = sup_sock_key(c->fd);
    sup_who(c);
    if (!key || fstat(c->fd, &st) != 0) {
        close(nfd);
        return;
    }
    pthread_mutex_lock(&hlock);
    struct held *e = NULL;
    for (unsigned i = 0; i < NHELD && !e; i++)
        if (!table[i].key)
            e = &table[i];
    if (e) {
        e->fd = nfd;
        e->key = key;
        e->tgid = c->tgid;
        e->lfd = (int)c->n.data.args[0];
        e->ino = st.st_ino;
        e->peer = c->addr;
        e->peerlen = c->addrlen;
        nheld++;
    }
    pthread_mutex_unlock(&hlock);
    if (!e)
        close(nfd); /* full: as many kept as a backlog of interrupted accepts can need */
}

/* The entry kept for c's listening socket, under hlock; NULL none. */
static struct held *find(const struct sup_call *c)
{
    uint64_t key = sup_sock_key(c->fd);
    for (unsigned i = 0; key && i < NHELD; i++)
        if (table[i].key == key)
            return &table[i];
    return NULL;
}

int sup_held_has(const struct sup_call *c)
{
    if (!atomic_load(&nheld))
        return 0;
    pthread_mutex_lock(&hlock);
    int has = find(c) != NULL;
    pthread_mutex_unlock(&hlock);
    return has;
}

int sup_held_take(struct sup_call *c, int nonblock)
{
    if (!atomic_load(&nheld))
        return -1;
    pthread_mutex_lock(&hlock);
    struct held *e = find(c);
    int fd = -1;
    if (e) {
        fd = e->fd;
        c->addr = e->peer;
        c->addrlen = e->peerlen;
        e->fd = -1;
        e->key = 0;
        nheld--;
    }
    pthread_mutex_unlock(&hlock);
    if (fd >= 0) { /* this accept's SOCK_NONBLOCK, read-modify-write */
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0)
            fcntl(fd, F_SETFL, nonblock ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
    }
    return fd;
}

int sup_fd_is(pid_t tgid, int fd, ino_t ino)
{
    char path[64], link[64], want[64];
    snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)tgid, fd);
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n < 0)
        return 0;
    link[n] = 0;
    snprintf(want, sizeof want, "socket:[%lu]", (unsigned long)ino);
    return strcmp(link, want) == 0;
}

void sup_held_sweep(void)
{
    static uint64_t last;
    uint64_t now = sp_diag_now_ns();
    if (!atomic_load(&nheld) || now - last < 1000000000u)
        return;
    last = now;
    pthread_mutex_lock(&hlock);
    for (unsigned i = 0; i < NHELD; i++)
        if (table[i].key && !sup_fd_is(table[i].tgid, table[i].lfd, table[i].ino)) {
            close(table[i].fd);
            table[i].fd = -1;
            table[i].key = 0;
            nheld--;
        }
    pthread_mutex_unlock(&hlock);
}
