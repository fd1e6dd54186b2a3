/* tests/unit/policy_cache.c: compiled policies in files (sp_policy_save / sp_policy_map and
 * SP_LOAD_CACHE): a mapped policy answers as the parsed one did, and a truncated, damaged,
 * stale (its file, an include, or an include directory changed) or unsafely writable compiled
 * file is refused with its errno, after which SP_LOAD_CACHE parses the source instead. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy.h"
#include "policy_int.h"
#include "tap.h"

static char dir[64];

static void put(const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        abort();
}

static const char *at(const char *name)
{
    static char path[4][128];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
    return path[k];
}

static unsigned line_of(const struct sp_policy *p, const char *ip, unsigned port)
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, ip, &in.sin_addr);
    struct sp_query q = {SP_OP_CONNECT, AF_INET, SOCK_STREAM, (void *)&in, sizeof in};
    const struct sp_rule *r = sp_policy_match(p, &q);
    return r ? r->line : 0;
}

static int last_errno;
static char last_msg[512];
static void on_diag(void *ctx, const struct sp_diag *d)
{
    (void)ctx;
    snprintf(last_msg, sizeof last_msg, "%s", d->msg);
}

/* Maps OUT and returns its errno (0 when it mapped, and then frees it). */
static int map_err(const char *out)
{
    errno = 0;
    last_msg[0] = 0;
    struct sp_policy *p = sp_policy_map(out, on_diag, NULL);
    last_errno = errno;
    if (p) {
        sp_policy_free(p);
        return 0;
    }
    return last_errno;
}

static void flip(const char *path, long off)
{
    int fd = open(path, O_RDWR);
    unsigned char c;
    if (fd < 0 || pread(fd, &c, 1, off) != 1)
        abort();
    c ^= 0x10;
    if (pwrite(fd, &c, 1, off) != 1 || close(fd) != 0)
        abort();
}

static void copy(const char *from, const char *to)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cp -p '%s' '%s'", from, to);
    if (system(cmd) != 0)
        abort();
}

int main(void)
{
    plan(23);
    snprintf(dir, sizeof dir, "/tmp/sp_cache.XXXXXX");
    if (!mkdtemp(dir))
        abort();
    char sub[96];
    snprintf(sub, sizeof sub, "%s/conf.d", dir);
    mkdir(sub, 0755);
    put("inc.conf", "deny connect to 10.9.0.0/16 port 80\n");
    put("conf.d/a.conf", "pass connect to 10.8.0.0/16\n");
    char main_conf[512];
    snprintf(main_conf, sizeof main_conf,
             "log all\n"
             "set connect to 10.1.0.0/16 port 5432 keepalive=60/10/5 nodelay\n"
             "include inc.conf\n"
             "include %s/*.conf\n"
             "set connect prog curl uid 1000 nodelay pin\n"
             "deny connect to 10.0.0.0/8 errno=ECONNREFUSED\n"
             "default connect deny\n", sub);
    put("p.conf", main_conf);
    char conf[128], out[128];
    snprintf(conf, sizeof conf, "%s", at("p.conf"));
    snprintf(out, sizeof out, "%s", at("p.conf.spc"));

    struct sp_policy *p = sp_policy_load(conf, NULL, NULL);
    ok(p && sp_policy_save(p, out) == 0, "a policy with includes loads and saves");
    struct stat st;
    int st_ok = stat(out, &st) == 0;
    ok(st_ok && (st.st_mode & 0777) == 0644 && st.st_size > 4096,
       "the compiled file is there, mode 0644, %lld bytes", (long long)st.st_size);
    struct sp_policy *m = sp_policy_map(out, on_diag, NULL);
    ok(m != NULL, "it maps back%s%s", m ? "" : ": ", m ? "" : last_msg);
    if (!m)
        return exit_status();
    int same = 1;
    const char *ips[] = {"10.1.2.3", "10.9.1.1", "10.8.7.7", "10.7.7.7", "11.0.0.1"};
    unsigned ports[] = {5432, 80, 443};
    for (int k = 0; k < 2; k++) {
        const char *prog = k ? "curl" : "wget";
        sp_policy_specialise(p, prog, 1000);
        sp_policy_specialise(m, prog, 1000);
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < 3; j++)
                same &= line_of(p, ips[i], ports[j]) == line_of(m, ips[i], ports[j]);
    }
    ok(same, "the mapped policy decides 30 calls (two processes) as the parsed one does");
    ok(line_of(m, "10.1.2.3", 5432) == 2 && line_of(m, "10.9.1.1", 80) == 1 &&
       line_of(m, "10.8.7.7", 80) == 1 && line_of(m, "10.7.7.7", 1) == 5,
       "and the answers are the right ones (includes' line 1; curl uid 1000: line 5)");
    sp_policy_specialise(m, "wget", 1000);
    ok(line_of(m, "10.7.7.7", 1) == 6 && line_of(m, "11.0.0.1", 1) == 0,
       "specialised again for another program: its prog rule no longer applies");
    const struct sp_rule *r = sp_policy_rule(m, 0);
    ok(r && !strcmp(r->file, conf) && !strcmp(r->text, "set connect to 10.1.0.0/16 port 5432 keepalive=60/10/5 nodelay") &&
       (const char *)r->text > (const char *)m && (const char *)r->text < (const char *)m + m->size,
       "a mapped rule's file and text point into the mapping");
    ok(sp_policy_settings(m)->log_level == SP_LOG_ALL &&
       sp_policy_settings(m)->default_action[SP_OP_CONNECT] == SP_ACT_DENY, "settings survive");
    sp_policy_free(m);

    struct sp_policy *c = sp_policy_load_ex(conf, SP_LOAD_CACHE | SP_LOAD_NO_WARNINGS, NULL, NULL);
    ok(c && c->map_base != NULL, "SP_LOAD_CACHE maps PATH.spc when it is fresh");
    sp_policy_free(c);

    /* Damage. */
    const char *bad = at("bad.spc");
    copy(out, bad);
    truncate(bad, st.st_size - 1);
    ok(map_err(bad) == EBADMSG, "truncated by one byte: EBADMSG (%s)", last_msg);
    copy(out, bad);
    truncate(bad, 100);
    ok(map_err(bad) == EBADMSG, "truncated inside the header: EBADMSG");
    copy(out, bad);
    flip(bad, 4096 + st.st_size / 3);
    ok(map_err(bad) == EBADMSG, "a flipped byte in the blob: EBADMSG (%s)", last_msg);
    copy(out, bad);
    flip(bad, st.st_size - 1);
    ok(map_err(bad) == EBADMSG, "a flipped last byte: EBADMSG");
    copy(out, bad);
    flip(bad, 20);
    ok(map_err(bad) == EBADMSG, "a flipped byte in the header: EBADMSG");
    ok(map_err(conf) == EBADMSG, "a policy source is not a compiled policy: EBADMSG");
    copy(out, bad);
    chmod(bad, 0664);
    ok(map_err(bad) == EPERM, "group-writable: EPERM");
    ok(map_err(at("missing.spc")) == ENOENT, "missing: ENOENT");

    /* Staleness: the file, an include, the include directory. */
    sleep(0); /* mtimes have nanoseconds; sizes change too */
    put("inc.conf", "deny connect to 10.9.0.0/16 port 81\n");
    ok(map_err(out) == ESTALE && strstr(last_msg, "inc.conf"), "an edited include: ESTALE (%s)", last_msg);
    put("inc.conf", "deny connect to 10.9.0.0/16 port 80\n");
    sp_policy_free(sp_policy_load(conf, NULL, NULL));
    p = sp_policy_load(conf, NULL, NULL);
    sp_policy_save(p, out);
    sp_policy_free(p);
    ok(map_err(out) == 0, "compiled again: fresh");
    put("conf.d/b.conf", "deny connect to 10.1.0.0/16\n");
    ok(map_err(out) == ESTALE, "a file added to an include directory: ESTALE (%s)", last_msg);
    unlink(at("conf.d/b.conf"));
    p = sp_policy_load(conf, NULL, NULL);
    sp_policy_save(p, out);
    sp_policy_free(p);
    {
        char edited[600];
        snprintf(edited, sizeof edited, "deny connect to 10.1.2.3\n%s", main_conf);
        put("p.conf", edited);
    }
    ok(map_err(out) == ESTALE, "an edited policy: ESTALE");
    c = sp_policy_load_ex(conf, SP_LOAD_CACHE, NULL, NULL);
    ok(c && !c->map_base && sp_policy_specialise(c, "x", 0) == 0 && line_of(c, "10.1.2.3", 5432) == 1,
       "SP_LOAD_CACHE with a stale compiled file parses the source, and sees the edit");
    sp_policy_free(c);
    errno = 0;
    ok(sp_policy_save(NULL, out) == -1 && errno == EINVAL, "saving nothing: EINVAL");

    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    system(cmd);
    return exit_status();
}
