/* tests/unit/diag_sink_own.c: what a sink may do with descriptors (issue 14), read back from
 * outside with fcntl and the files. A sink's descriptor is high and close-on-exec; a
 * rotated descriptor the program closed and reused is never closed by the next rotation; a
 * file that cannot be opened hands its lines to the fallback and is opened at a later line
 * (not before a second has passed); a privileged writer (SP_SINK_F_OWNER) refuses a symlink
 * and a file others may write, and keeps one it may trust. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "diag.h"
#include "tap.h"

static char dir[64];

static char *slurp(const char *path, char *buf, size_t cap)
{
    buf[0] = '\0';
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return buf;
    ssize_t n = read(fd, buf, cap - 1);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
    return buf;
}

static void next_second(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    struct timespec d = {0, 1000000000 - ts.tv_nsec + 20000000};
    nanosleep(&d, NULL);
}

static void test_high(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/high.log", dir);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    long lim = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1024 ? 1024 : (long)rl.rlim_cur;
    struct sp_sink s;
    int next = dup(0);
    close(next);
    is_int(sp_sink_file(&s, NULL, path), 0, "file sink opens");
    int fd = atomic_load(&s.fd);
    ok(fd == lim - 24, "its descriptor is the lowest free from min(RLIMIT_NOFILE, 1024) - 24 (%d)", fd);
    ok(fcntl(fd, F_GETFD) & FD_CLOEXEC, "close-on-exec");
    int after = dup(0);
    close(after);
    is_int(after, next, "the program's next descriptor is what it was before the sink");
    sp_sink_close(&s);
}

static void test_retired(void)
{
    char path[128], rot[160], mine[160], buf[256];
    snprintf(path, sizeof path, "%s/rot.log", dir);
    snprintf(rot, sizeof rot, "%s/rot.log.1", dir);
    snprintf(mine, sizeof mine, "%s/mine.dat", dir);
    struct sp_sink s;
    sp_sink_file(&s, NULL, path);
    sp_sink_write(&s, "one\n", 4, NULL, LOG_INFO);
    int first = atomic_load(&s.fd);
    rename(path, rot);
    next_second();
    sp_sink_write(&s, "two\n", 4, NULL, LOG_INFO); /* rotation: first is retired */
    ok(atomic_load(&s.retired) == first, "a rotation keeps the old descriptor (%d) retired", first);
    /* The program closes every descriptor and opens its own file on that number. */
    close(first);
    int pfd = open(mine, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (pfd != first) {
        dup2(pfd, first);
        close(pfd);
    }
    rename(path, rot);
    next_second();
    sp_sink_write(&s, "three\n", 6, NULL, LOG_INFO); /* rotation: the retired one is closed, if ours */
    ok(fcntl(first, F_GETFD) >= 0, "the next rotation did not close the program's descriptor %d", first);
    ok(write(first, "mine\n", 5) == 5 && !strcmp(slurp(mine, buf, sizeof buf), "mine\n"),
       "which still writes to the program's file");
    is_str(slurp(path, buf, sizeof buf), "three\n", "the sink's line went to the new file");
    close(first);
    sp_sink_close(&s);
}

static void test_retry(void)
{
    char sub[96], path[128], fb[128], buf[256];
    snprintf(sub, sizeof sub, "%s/later", dir);
    snprintf(path, sizeof path, "%s/later/sp.log", dir);
    snprintf(fb, sizeof fb, "%s/fallback.log", dir);
    struct sp_sink s, f;
    sp_sink_file(&f, NULL, fb);
    next_second(); /* the failed open and the next line in the same second */
    errno = 0;
    is_int(sp_sink_file(&s, NULL, path), -1, "a file in a directory not there yet: not opened");
    ok(errno == ENOENT && s.kind == SP_SINK_FILE, "ENOENT, and still a file sink");
    s.fallback = &f;
    mkdir(sub, 0755);
    sp_sink_write(&s, "first\n", 6, NULL, LOG_INFO); /* the same second: not tried again */
    is_str(slurp(fb, buf, sizeof buf), "first\n", "its line went to the fallback");
    ok(access(path, F_OK) != 0, "the file is not tried again within the second");
    next_second();
    sp_sink_write(&s, "second\n", 7, NULL, LOG_INFO);
    is_str(slurp(path, buf, sizeof buf), "second\n", "a second later, a line opens it");
    is_str(slurp(fb, buf, sizeof buf), "first\n", "and the fallback gets nothing more");
    sp_sink_close(&s);
    sp_sink_close(&f);
}

static void test_owner(void)
{
    char target[128], link[128], open_to_all[128], good[128], buf[64];
    snprintf(target, sizeof target, "%s/target", dir);
    snprintf(link, sizeof link, "%s/link.log", dir);
    snprintf(open_to_all, sizeof open_to_all, "%s/all.log", dir);
    snprintf(good, sizeof good, "%s/good.log", dir);
    int t = open(target, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    close(t);
    symlink(target, link);
    int a = open(open_to_all, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    fchmod(a, 0666);
    close(a);
    struct sp_sink s;
    errno = 0;
    is_int(sp_sink_file_ex(&s, NULL, link, SP_SINK_F_OWNER), -1, "privileged: a symlink at the path is refused");
    is_int(errno, ELOOP, "with ELOOP");
    sp_sink_write(&s, "x\n", 2, NULL, LOG_INFO);
    is_str(slurp(target, buf, sizeof buf), "", "and what it points to gets nothing");
    sp_sink_close(&s);
    errno = 0;
    is_int(sp_sink_file_ex(&s, NULL, open_to_all, SP_SINK_F_OWNER), -1, "a file others may write is refused");
    is_int(errno, EPERM, "with EPERM");
    sp_sink_close(&s);
    is_int(sp_sink_file_ex(&s, NULL, good, SP_SINK_F_OWNER), 0, "a file it makes itself is kept");
    sp_sink_write(&s, "ok\n", 3, NULL, LOG_INFO);
    is_str(slurp(good, buf, sizeof buf), "ok\n", "and written");
    sp_sink_close(&s);
    is_int(sp_sink_file(&s, NULL, link), 0, "unprivileged (no flag): a symlink is followed as before");
    sp_sink_close(&s);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/sp_diag_own.XXXXXX");
    if (!mkdtemp(dir)) {
        plan(1);
        skip("mkdtemp failed");
        return 0;
    }
    test_high();
    test_retired();
    test_retry();
    test_owner();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
    return done_testing();
}
