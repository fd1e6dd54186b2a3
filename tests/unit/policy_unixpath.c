/* tests/unit/policy_unixpath.c: sp_unix_canonical (policy/unixpath.c), the unix path both
 * front ends decide on, against a fake file system: the socket through its link for connect,
 * the canonical directory and the last name for bind (and for a connect to a name that does
 * not exist), "." for a relative name, the spelling with "//" and "/./" collapsed when nothing
 * resolves. The shim and supervisor tests check the same against the real file system. */
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/un.h>

#include "policy.h"
#include "tap.h"

/* The fake file system: /run/app -> /srv/app (a directory), /run/app/sock a socket in it,
 * /tmp/link a link to /srv/app/sock; the working directory is /home/u. */
static size_t fake(void *ctx, const char *path, int flags, char *buf, size_t size)
{
    (void)ctx;
    static const char *const map[][2] = {
        { "/run/app/sock", "/srv/app/sock" }, { "/tmp/link", "/srv/app/sock" },
        { "/run/app/", "/srv/app" },          { "/run//app/", "/srv/app" },
        { ".", "/home/u" },                   { "/", "/" },
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        int dir = map[i][0][strlen(map[i][0]) - 1] == '/' || !strcmp(map[i][0], ".");
        if (strcmp(path, map[i][0]) == 0 && (dir || !(flags & O_DIRECTORY))) {
            size_t n = strlen(map[i][1]);
            if (n >= size)
                return 0;
            memcpy(buf, map[i][1], n);
            return n;
        }
    }
    return 0;
}

static const struct sp_path_ops ops = { fake, NULL };

static const char *canon(const char *reach, const char *spelled, enum sp_op op, int *res)
{
    static char out[4096];
    size_t m = sp_unix_canonical(&ops, reach, spelled, strlen(spelled), op, out, sizeof out - 1, res);
    out[m] = 0;
    return out;
}

int main(void)
{
    int r;
    is_str(canon("/tmp/link", "/tmp/link", SP_OP_CONNECT, &r), "/srv/app/sock", "connect: the socket through a link");
    is_int(r, 1, "and resolved");
    is_str(canon("/run/app/new", "/run/app/new", SP_OP_BIND, &r), "/srv/app/new", "bind: the canonical directory, then the name");
    is_str(canon("/tmp/link", "/tmp/link", SP_OP_BIND, &r), "/tmp/link", "bind never follows the last name (a link stays itself)");
    is_str(canon("/run/app/gone", "/run/app/gone", SP_OP_CONNECT, &r), "/srv/app/gone", "connect to a name that does not exist: the directory resolved");
    is_str(canon("s", "s", SP_OP_BIND, &r), "/home/u/s", "a relative name: the working directory");
    is_str(canon("/nowhere//x/./y", "/nowhere//x/./y", SP_OP_CONNECT, &r), "/nowhere/x/y", "nothing resolves: the spelling, // and /./ collapsed");
    is_int(r, 0, "and not resolved");
    is_str(canon("/proc/1/cwd/zz/q", "zz//q", SP_OP_CONNECT, &r), "zz/q", "the supervisor's reach (/proc/PID/cwd) unresolved: the program's own spelling");
    is_str(canon("/run/app/..", "/run/app/..", SP_OP_BIND, &r), "/run/app/..", "a last name of .. is not split off");
    /* sp_unix_path: the path of an address, not an abstract name. */
    struct sockaddr_storage ss;
    struct sockaddr_un *un = (struct sockaddr_un *)(void *)&ss;
    char path[sizeof un->sun_path + 1];
    memset(&ss, 0, sizeof ss);
    un->sun_family = AF_UNIX;
    strcpy(un->sun_path, "/run/x.sock");
    socklen_t base = (socklen_t)offsetof(struct sockaddr_un, sun_path);
    is_int((int)sp_unix_path(&ss, base + 11, path), 11, "sp_unix_path: the length of the path");
    is_str(path, "/run/x.sock", "and the path, NUL-terminated");
    is_int((int)sp_unix_path(&ss, base + 4, path), 4, "a length that cuts the path: what it covers");
    is_int((int)sp_unix_path(&ss, base, path), 0, "an unnamed address: no path");
    un->sun_path[0] = 0;
    is_int((int)sp_unix_path(&ss, base + 5, path), 0, "an abstract name: no path");
    done_testing();
    return 0;
}
