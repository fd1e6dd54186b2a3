/* tests/unit/policy_bytes.c: a compiled policy is used only while its text holds the bytes it
 * was compiled from (issue 13). Size and mtime do not prove it (cp -p, rsync -t and touch -r
 * keep them, and a write in the tick the text was read in keeps them too); change time does,
 * except in that tick, and then the bytes' checksum decides. A text touched but unchanged
 * keeps its compiled form. Only the public calls: sp_policy_load, _save, _map. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "policy.h"
#include "tap.h"

static char dir[64];

static const char *at(const char *name)
{
    static char path[4][128];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
    return path[k];
}

/* Writes text over name in place (same inode), as an editor that does not rename would. */
static void put(const char *name, const char *text)
{
    int fd = open(at(name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd) != 0)
        abort();
}

static unsigned port_denied(const struct sp_policy *p)
{
    const struct sp_rule *r = sp_policy_rule_count(p) ? sp_policy_rule(p, 0) : NULL;
    return r ? (unsigned)atoi(strstr(r->text, "port ") + 5) : 0;
}

/* Maps NAME.spc: the port its first rule denies, or 0 with errno when refused. */
static unsigned mapped_port(const char *name)
{
    char spc[160];
    snprintf(spc, sizeof spc, "%s.spc", at(name));
    struct sp_policy *m = sp_policy_map(spc, NULL, NULL);
    if (!m)
        return 0;
    unsigned port = port_denied(m);
    sp_policy_free(m);
    return port;
}

static int compile(const char *name)
{
    char spc[160];
    snprintf(spc, sizeof spc, "%s.spc", at(name));
    struct sp_policy *p = sp_policy_load(at(name), NULL, NULL);
    int rc = p ? sp_policy_save(p, spc) : -1;
    sp_policy_free(p);
    return rc;
}

/* Sets name's mtime back to m (its ctime moves: only root could forge that). */
static void set_mtime(const char *name, struct timespec m)
{
    struct timespec t[2] = {m, m};
    if (utimensat(AT_FDCWD, at(name), t, 0) != 0)
        abort();
}

int main(void)
{
    plan(8);
    snprintf(dir, sizeof dir, "/tmp/sp_bytes.XXXXXX");
    if (!mkdtemp(dir))
        abort();
    static const char a[] = "deny connect to 127.0.0.1 port 1001\n";
    static const char b[] = "deny connect to 127.0.0.1 port 1002\n"; /* the same size */
    struct stat st;

    /* 1. Edited later, size and mtime restored (cp -p, rsync -t). */
    put("x.conf", a);
    ok(compile("x.conf") == 0 && mapped_port("x.conf") == 1001, "compiled x.conf maps (port 1001)");
    stat(at("x.conf"), &st);
    struct timespec pause = {0, 20 * 1000 * 1000};
    nanosleep(&pause, NULL);
    put("x.conf", b);
    set_mtime("x.conf", st.st_mtim);
    errno = 0;
    unsigned got = mapped_port("x.conf");
    ok(got == 0 && errno == ESTALE,
       "x.conf rewritten with other bytes of the same size, mtime restored: stale (got port %u)", got);

    /* 2. Edited at once, in the tick it was read in (no pause between read and write). */
    put("y.conf", a);
    struct sp_policy *p = sp_policy_load(at("y.conf"), NULL, NULL);
    stat(at("y.conf"), &st);
    put("y.conf", b);
    set_mtime("y.conf", st.st_mtim);
    char spc[160];
    snprintf(spc, sizeof spc, "%s.spc", at("y.conf"));
    ok(p && sp_policy_save(p, spc) == 0, "y.conf read, rewritten at once, then saved");
    sp_policy_free(p);
    errno = 0;
    got = mapped_port("y.conf");
    ok(got == 0 && errno == ESTALE, "the compiled y.conf holds the bytes first read: stale (got port %u)", got);

    /* 3. Read and saved in the tick of its last change, unchanged: used, now and later. */
    put("z.conf", a);
    ok(compile("z.conf") == 0 && mapped_port("z.conf") == 1001,
       "z.conf compiled in the tick it was written in maps");
    nanosleep(&pause, NULL);
    ok(mapped_port("z.conf") == 1001, "and still maps a tick later");

    /* 4. Touched, bytes unchanged: the identity moved, the bytes prove it. */
    nanosleep(&pause, NULL);
    if (utimensat(AT_FDCWD, at("z.conf"), NULL, 0) != 0)
        abort();
    errno = 0;
    got = mapped_port("z.conf");
    ok(got == 1001, "z.conf touched: its bytes are the same, the compiled form still maps (errno %d)", errno);
    put("z.conf", b);
    errno = 0;
    got = mapped_port("z.conf");
    ok(got == 0 && errno == ESTALE, "z.conf edited: stale (got port %u)", got);

    const char *names[] = {"x.conf", "x.conf.spc", "y.conf", "y.conf.spc", "z.conf", "z.conf.spc"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        unlink(at(names[i]));
    rmdir(dir);
    return tap_failed != 0;
}
