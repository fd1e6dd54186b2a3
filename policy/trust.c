/* policy/trust.c: what a privileged process (AT_SECURE, or euid 0) trusts: a policy file or
 * directory only root or the effective user can write, and a log file it may append to
 * without being led into another user's file. Used by the loader, the cache and the shim's
 * log (through the vetted settings). errno preserved. */
#include <errno.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include "load_int.h"

int sp__privileged(void)
{
    return getauxval(AT_SECURE) != 0 || geteuid() == 0;
}

const char *sp__untrusted(const struct stat *sb, uid_t euid)
{
    if (sb->st_uid != 0 && sb->st_uid != euid)
        return "owned by another user (neither root nor the effective user)";
    if (sb->st_mode & (S_IWGRP | S_IWOTH))
        return "writable by group or others";
    return NULL;
}

static int vet_refused(char *why, size_t size, const char *a, const char *b)
{
    struct sp_sbuf w = {why, 0, size};
    sp__puts(&w, " is refused in a privileged process: ");
    sp__puts(&w, a);
    sp__puts(&w, b);
    return SP_LOGFILE_REFUSED;
}

/* The nearest existing directory of dir (shortened in place): where the log file, or the
 * first of its missing directories, would be made. 0 with errno when none can be found. */
static int ancestor(char *dir, struct stat *db)
{
    for (;;) {
        if (stat(dir, db) == 0)
            return 1;
        size_t n = sp__strlen(dir);
        if (errno != ENOENT || n <= 1)
            return 0;
        while (n > 1 && dir[n - 1] != '/')
            n--;
        dir[n > 1 ? n - 1 : 1] = 0;
    }
}

int sp__vet_log_file(const char *path, uid_t euid, char *why, size_t size)
{
    int saved = errno;
    struct stat sb, db;
    char dir[256];
    size_t n = sp__strlen(path), slash = 0;
    int rc = SP_LOGFILE_VETTED;
    if (n >= sizeof dir || path[0] != '/')
        return vet_refused(why, size, "not an absolute path", "");
    for (size_t i = 0; i < n; i++)
        if (path[i] == '/')
            slash = i;
    memcpy(dir, path, slash ? slash : 1);
    dir[slash ? slash : 1] = 0;
    int exists = lstat(path, &sb) == 0;
    const char *u;
    if (!exists && errno != ENOENT)
        rc = vet_refused(why, size, strerrordesc_np(errno), "");
    else if (exists && S_ISLNK(sb.st_mode))
        rc = vet_refused(why, size, "a symbolic link", "");
    else if (exists && !S_ISREG(sb.st_mode) && !S_ISFIFO(sb.st_mode))
        rc = vet_refused(why, size, "not a regular file or FIFO", "");
    else if (exists && (u = sp__untrusted(&sb, euid)) != NULL)
        rc = vet_refused(why, size, u, "");
    else if (!ancestor(dir, &db))
        rc = vet_refused(why, size, "its directory: ", strerrordesc_np(errno));
    else if (db.st_uid != 0 && db.st_uid != euid)
        rc = vet_refused(why, size, "its directory is owned by another user", "");
    else if ((db.st_mode & (S_IWGRP | S_IWOTH)) && !(exists && (db.st_mode & S_ISVTX)))
        rc = vet_refused(why, size, "its directory is writable by group or others",
                         exists ? "" : " (another user could put a file or link there first)");
    errno = saved;
    return rc;
}
