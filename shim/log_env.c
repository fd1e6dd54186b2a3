/* shim/log_env.c: what the logger fixes when the library starts: $SOCKPOLICY_LOG and
 * $SOCKPOLICY_RUN as the process started with them (read once, by the constructor: a reload,
 * inside a hook, never calls getenv), and which file fd 2 was then (a stderr log is written
 * only while fd 2 is still that file). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "log_priv.h"

/* $SOCKPOLICY_LOG as read at start (the constructor), a relative file path made absolute
 * against the directory the program started in: a reload, inside a hook, does not call getenv
 * (the program may be changing its environment at that moment), and a program that changes
 * directory keeps one log file. env_refused: the value could not be used (too long), said
 * once in a line. */
static char env_log[SHIM_LOG_ENV_MAX + 1];
static int env_refused;
static size_t env_refused_len;
/* `sockpolicy run` (its $SOCKPOLICY_RUN) or --trace: a user at a terminal, whose default
 * sink is stderr. Everywhere else (/etc/ld.so.preload, a plain LD_PRELOAD, a systemd
 * drop-in) the program's stderr is written only when the policy says `log-to stderr`. */
static int run_mode;
static int env_read;

/* fd 2 at start-up (shim_log_early). */
static dev_t err_dev;
static ino_t err_ino;
static int err_known;

/* The environment the process started with, as the loader hands it to constructors: at
 * start-up, in every process, getenv() or environ would cost a symbol lookup each (issue 7's
 * start-up budget). */
static char **start_env;

/* The value of $name in the start-up environment (getenv() when it was not handed over). */
static const char *env_value(const char *name)
{
    if (!start_env)
        return getenv(name);
    for (char **e = start_env; *e; e++) {
        const char *v = *e, *n = name;
        while (*n && *v == *n) {
            v++;
            n++;
        }
        if (!*n && *v == '=')
            return v + 1;
    }
    return NULL;
}

/* Whether the process is secure (AT_SECURE) as the loader last said: then the environment is
 * not obeyed (see shim_log_env_use). */
static int log_secure;

/* Reads $SOCKPOLICY_LOG and $SOCKPOLICY_RUN once, at start (the constructor); whether a
 * secure process ignores them is decided where they are used (log_secure). */
static void read_env(void)
{
    if (env_read)
        return;
    env_read = 1;
    const char *run = env_value("SOCKPOLICY_RUN");
    run_mode = run && *run && !(run[0] == '0' && !run[1]);
    const char *env = env_value("SOCKPOLICY_LOG");
    if (!env || !*env)
        return;
    size_t n = strlen(env), at = 0;
    int file = strcmp(env, "stderr") && strcmp(env, "syslog") && strcmp(env, "journald") &&
               strcmp(env, "off") && strcmp(env, "none");
    if (file && env[0] != '/') {
        /* relative: against the directory the program starts in, once */
        if (!getcwd(env_log, sizeof env_log)) {
            env_log[0] = 0;
            env_refused = 1;
            env_refused_len = n;
            return;
        }
        at = strlen(env_log);
        if (at > 1)
            env_log[at++] = '/';
        else
            at = 1; /* "/" */
    }
    if (at + n >= sizeof env_log) {
        env_log[0] = 0;
        env_refused = 1;
        env_refused_len = at + n;
        return;
    }
    memcpy(env_log + at, env, n + 1);
}

void shim_log_early(void)
{
    struct stat st;
    if (!err_known && fstat(2, &st) == 0) {
        err_dev = st.st_dev;
        err_ino = st.st_ino;
        err_known = 1;
    }
}

/* glibc calls constructors with (argc, argv, envp). */
__attribute__((constructor)) static void shim_log_start(int argc, char **argv, char **envp)
{
    (void)argc;
    (void)argv;
    start_env = envp;
    read_env();
    start_env = NULL; /* the program may change it from now on */
}

void shim_log_env_use(int secure)
{
    shim_log_early();
    read_env();
    log_secure = secure;
}

const char *shim_log_env_dest(void)
{
    return env_log;
}

int shim_log_user_stderr(void)
{
    return run_mode && !log_secure;
}

int shim_log_stderr_same(void)
{
    struct stat st;
    return err_known && fstat(2, &st) == 0 && st.st_dev == err_dev && st.st_ino == err_ino;
}

size_t shim_log_env_refused_once(void)
{
    if (env_refused != 1)
        return 0;
    env_refused = 2; /* said once */
    return env_refused_len;
}

int shim_log_env_asks(void)
{
    return !log_secure && env_log[0] && strcmp(env_log, "off") != 0 && strcmp(env_log, "none") != 0;
}
