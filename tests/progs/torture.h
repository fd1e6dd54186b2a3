/* tests/progs/torture.h: what every torture program needs: count its open descriptors (for
 * the leak check) and turn a deadlock into exit 3 from a SIGALRM watchdog. Plain code any
 * program could have; nothing of sockpolicy. Define TORTURE_WATCHDOG_FD before including it
 * to write the watchdog's line elsewhere than stdout. */
#ifndef SOCKPOLICY_TESTS_TORTURE_H
#define SOCKPOLICY_TESTS_TORTURE_H

#include <dirent.h>
#include <unistd.h>

#ifndef TORTURE_WATCHDOG_FD
#define TORTURE_WATCHDOG_FD 1
#endif

/* The number of open descriptors, or -1 when /proc/self/fd cannot be read. */
static inline int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    struct dirent *e;
    if (!d)
        return -1;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

/* SIGALRM handler: a run that has not finished by its deadline deadlocked or crawled. */
static inline void watchdog_alarm(int sig)
{
    static const char msg[] = "FAIL: watchdog: deadlock or far too slow\n";
    (void)sig;
    (void)!write(TORTURE_WATCHDOG_FD, msg, sizeof msg - 1);
    _exit(3);
}

#endif
