/* tests/unit/policy_same.c: sp_policy_same(), which lets a live reload of a file rewritten
 * with what it held keep the policy in force instead of mapping another copy. The same text
 * read twice, after a touch, through an include, and from a compiled file is the same; a rule,
 * an option, a setting, an include more or a different file name is not. */
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

static void put(const char *name, const char *text)
{
    FILE *f = fopen(at(name), "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        abort();
}

static struct sp_policy *load(const char *name)
{
    struct sp_policy *p = sp_policy_load(at(name), NULL, NULL);
    if (p && sp_policy_specialise(p, "prog", 1000) != 0) {
        sp_policy_free(p);
        p = NULL;
    }
    return p;
}

/* 1 when NAME now loads as the same policy as ref. */
static int same_as(const struct sp_policy *ref, const char *name)
{
    struct sp_policy *p = load(name);
    int r = p ? sp_policy_same(ref, p) : -1;
    sp_policy_free(p);
    return r;
}

static const char base[] = "log failures\n"
                           "set connect to 10.0.0.0/8 port 5432 keepalive=60/10/5 nodelay\n"
                           "deny connect to 169.254.169.254\n"
                           "set accept from 192.168.0.0/16 keepalive=30/5/3\n"
                           "set connect prog curl uid 1000 nodelay pin\n";

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/sp_same.XXXXXX");
    if (!mkdtemp(dir))
        abort();
    put("a.conf", base);
    struct sp_policy *ref = load("a.conf");
    ok(ref != NULL, "the policy loads");
    is_int(sp_policy_same(ref, ref), 1, "a policy is the same as itself");
    is_int(same_as(ref, "a.conf"), 1, "read twice: the same");

    struct timespec later[2] = { { time(NULL) + 5, 0 }, { time(NULL) + 5, 0 } };
    utimensat(AT_FDCWD, at("a.conf"), later, 0);
    is_int(same_as(ref, "a.conf"), 1, "touched (another mtime): the same");

    put("a.conf", base); /* rewritten in place: same text, new mtime */
    is_int(same_as(ref, "a.conf"), 1, "rewritten with the same text: the same");

    put("b.conf", base);
    rename(at("b.conf"), at("a.conf")); /* another inode */
    is_int(same_as(ref, "a.conf"), 1, "replaced by a rename with the same text: the same");

    struct sp_policy *now = load("a.conf"); /* ref's recorded sources are stale by now */
    ok(now && sp_policy_save(now, at("a.spc")) == 0, "saved compiled");
    sp_policy_free(now);
    struct sp_policy *m = sp_policy_map(at("a.spc"), NULL, NULL);
    if (m && sp_policy_specialise(m, "prog", 1000) != 0) {
        sp_policy_free(m);
        m = NULL;
    }
    is_int(m ? sp_policy_same(ref, m) : -1, 1, "mapped from the compiled file: the same");
    sp_policy_free(m);

    static const struct {
        const char *what, *text;
    } differ[] = {
        {"a port changed", "log failures\n"
                           "set connect to 10.0.0.0/8 port 5433 keepalive=60/10/5 nodelay\n"
                           "deny connect to 169.254.169.254\n"
                           "set accept from 192.168.0.0/16 keepalive=30/5/3\n"
                           "set connect prog curl uid 1000 nodelay pin\n"},
        {"an option value changed", "log failures\n"
                           "set connect to 10.0.0.0/8 port 5432 keepalive=61/10/5 nodelay\n"
                           "deny connect to 169.254.169.254\n"
                           "set accept from 192.168.0.0/16 keepalive=30/5/3\n"
                           "set connect prog curl uid 1000 nodelay pin\n"},
        {"the log level changed", "log all\n"
                           "set connect to 10.0.0.0/8 port 5432 keepalive=60/10/5 nodelay\n"
                           "deny connect to 169.254.169.254\n"
                           "set accept from 192.168.0.0/16 keepalive=30/5/3\n"
                           "set connect prog curl uid 1000 nodelay pin\n"},
        {"a prog match changed", "log failures\n"
                           "set connect to 10.0.0.0/8 port 5432 keepalive=60/10/5 nodelay\n"
                           "deny connect to 169.254.169.254\n"
                           "set accept from 192.168.0.0/16 keepalive=30/5/3\n"
                           "set connect prog wget uid 1000 nodelay pin\n"},
        {"a comment added (the rules' lines move)", "# hello\nlog failures\n"
                           "set connect to 10.0.0.0/8 port 5432 keepalive=60/10/5 nodelay\n"
                           "deny connect to 169.254.169.254\n"
                           "set accept from 192.168.0.0/16 keepalive=30/5/3\n"
                           "set connect prog curl uid 1000 nodelay pin\n"},
        {"two rules swapped", "log failures\n"
                           "deny connect to 169.254.169.254\n"
                           "set connect to 10.0.0.0/8 port 5432 keepalive=60/10/5 nodelay\n"
                           "set accept from 192.168.0.0/16 keepalive=30/5/3\n"
                           "set connect prog curl uid 1000 nodelay pin\n"},
    };
    for (size_t i = 0; i < sizeof differ / sizeof differ[0]; i++) {
        put("a.conf", differ[i].text);
        is_int(same_as(ref, "a.conf"), 0, "%s: not the same", differ[i].what);
    }

    /* An include more, even an empty one, is another source to watch. */
    char text[1024];
    snprintf(text, sizeof text, "%sinclude %s/*.inc\n", base, dir);
    put("a.conf", text);
    struct sp_policy *inc = load("a.conf");
    ok(inc != NULL, "with an include pattern: loads");
    put("x.inc", "# nothing\n");
    is_int(inc ? same_as(inc, "a.conf") : -1, 0, "an include file more (empty): not the same");
    put("c.conf", base);
    is_int(same_as(ref, "c.conf"), 0, "the same text under another file name: not the same");
    is_int(sp_policy_same(ref, NULL), 0, "NULL: not the same");
    sp_policy_free(inc);
    sp_policy_free(ref);

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
    return done_testing();
}
