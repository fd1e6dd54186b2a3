/* shim/log.c: the logger and its own small formatter (no stdio on a hook's path). */
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "real.h"

enum { DEST_STDERR, DEST_FILE, DEST_SYSLOG, DEST_OFF };

static struct {
    int dest;
    enum sp_log_level level;
    enum sp_log_format format;
    char path[256];
    dev_t dev;            /* identity of fd (or of fd 2 for DEST_STDERR) */
    ino_t ino;
    int have_id;
} lg = { .dest = DEST_STDERR, .level = SP_LOG_FAILURES };
_Atomic int shim_log_fd = -1;

static dev_t err_dev;
static ino_t err_ino;
static int err_known;

void shim_log_early(void)
{
    struct stat st;
    if (!err_known && fstat(2, &st) == 0) {
        err_dev = st.st_dev;
        err_ino = st.st_ino;
        err_known = 1;
    }
}

void shim_log_setup(const struct sp_settings *s, int secure)
{
    const char *env = secure ? NULL : getenv("SOCKPOLICY_LOG");
    shim_log_early();
    if (s) {
        lg.level = s->log_level;
        lg.format = s->log_format;
        if (s->log_target == SP_LOGTO_FILE && s->log_file[0]) {
            lg.dest = DEST_FILE;
            memcpy(lg.path, s->log_file, sizeof lg.path);
            lg.path[sizeof lg.path - 1] = 0;
        } else if (s->log_target == SP_LOGTO_SYSLOG || s->log_target == SP_LOGTO_JOURNALD) {
            lg.dest = DEST_SYSLOG; /* journald listens on /dev/log too */
        }
    }
    if (env && *env) {
        if (!strcmp(env, "stderr")) {
            lg.dest = DEST_STDERR;
        } else if (!strcmp(env, "syslog") || !strcmp(env, "journald")) {
            lg.dest = DEST_SYSLOG;
        } else if (!strcmp(env, "off") || !strcmp(env, "none")) {
            lg.dest = DEST_OFF;
        } else if (strlen(env) < sizeof lg.path) {
            lg.dest = DEST_FILE;
            strcpy(lg.path, env);
        }
        /* Asking for a log and getting nothing would puzzle: --log implies at least failures. */
        if (lg.level == SP_LOG_OFF && lg.dest != DEST_OFF)
            lg.level = SP_LOG_FAILURES;
    }
}

int shim_log_on(enum sp_log_level level)
{
    return lg.dest != DEST_OFF && level != SP_LOG_OFF && level <= lg.level;
}

void shim_log_fd_gone_slow(int lo, int hi)
{
    int fd = atomic_load_explicit(&shim_log_fd, memory_order_relaxed);
    if (fd >= lo && fd <= hi)
        atomic_compare_exchange_strong(&shim_log_fd, &fd, -1); /* the program owns it now */
}

/* Our descriptor, when it is still the file we opened. */
static int still_ours(int fd, dev_t dev, ino_t ino)
{
    struct stat st;
    return fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

static atomic_int opening; /* one thread (re)opens the destination at a time */

static int open_dest(void)
{
    int fd = atomic_load_explicit(&shim_log_fd, memory_order_acquire);
    if (fd >= 0 && still_ours(fd, lg.dev, lg.ino))
        return fd;
    /* Racing threads wait (briefly, bounded: a signal handler may have interrupted the opener
     * on this very thread) for the one that opens, rather than each opening its own. */
    for (int spins = 0;; spins++) {
        int idle = 0;
        if (atomic_compare_exchange_strong(&opening, &idle, 1))
            break;
        if (spins > 2000)
            return -1; /* drop this line */
        sched_yield();
        fd = atomic_load_explicit(&shim_log_fd, memory_order_acquire);
        if (fd >= 0 && still_ours(fd, lg.dev, lg.ino))
            return fd;
    }
    fd = atomic_load_explicit(&shim_log_fd, memory_order_acquire);
    if (fd >= 0 && still_ours(fd, lg.dev, lg.ino))
        goto done; /* opened by the thread we waited for */
    if (lg.dest == DEST_FILE) {
        fd = open(lg.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0644);
    } else {
        struct sockaddr_un un = { .sun_family = AF_UNIX, .sun_path = "/dev/log" };
        fd = shim_real.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && shim_real.connect(fd, (struct sockaddr *)&un, sizeof un) != 0) {
            shim_real.close(fd);
            fd = -1;
        }
    }
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) != 0) {
        shim_real.close(fd);
        fd = -1;
    }
    if (fd >= 0) {
        lg.dev = st.st_dev;
        lg.ino = st.st_ino;
    }
    /* A stale number being replaced is not closed: the program may have reused it. */
    atomic_store_explicit(&shim_log_fd, fd, memory_order_release);
done:
    atomic_store(&opening, 0);
    return fd;
}

static size_t json_escape(char *out, size_t size, const char *in)
{
    size_t n = 0;
    for (; *in && n + 7 < size; in++) {
        unsigned char c = (unsigned char)*in;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20) {
            n += shim_fmt(out + n, size - n, "\\u%04x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    out[n] = 0;
    return n;
}

static const char *level_name(enum sp_log_level level)
{
    return level == SP_LOG_FAILURES ? "failure" : level == SP_LOG_ALL ? "info" : "debug";
}

void shim_log(enum sp_log_level level, const char *fmt, ...)
{
    if (!shim_log_on(level))
        return;
    int saved = errno;
    char msg[768], line[1024];
    va_list ap;
    va_start(ap, fmt);
    shim_vfmt(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t n = 0;
    if (lg.dest == DEST_SYSLOG)
        n = shim_fmt(line, sizeof line, "<%d>", level == SP_LOG_FAILURES ? 12 : level == SP_LOG_ALL ? 14 : 15);
    if (lg.format == SP_FMT_JSON) {
        char esc[900];
        json_escape(esc, sizeof esc, msg);
        n += shim_fmt(line + n, sizeof line - n,
                      "{\"prog\":\"sockpolicy\",\"pid\":%d,\"level\":\"%s\",\"msg\":\"%s\"}\n",
                      (int)getpid(), level_name(level), esc);
    } else {
        n += shim_fmt(line + n, sizeof line - n, "sockpolicy[%d]: %s\n", (int)getpid(), msg);
    }
    if (n >= sizeof line - 1)
        line[sizeof line - 2] = '\n';
    if (lg.dest == DEST_STDERR) {
        if (!err_known || still_ours(2, err_dev, err_ino))
            (void)!write(2, line, n);
    } else {
        int fd = open_dest();
        if (fd >= 0)
            (void)!write(fd, line, lg.dest == DEST_SYSLOG && n ? n - 1 : n);
    }
    errno = saved;
}

/* ---- the formatter ---- */

struct out {
    char *buf;
    size_t size, n;
};

static void put(struct out *o, char c)
{
    if (o->n + 1 < o->size)
        o->buf[o->n] = c;
    o->n++;
}

static void put_num(struct out *o, unsigned long long v, int neg, unsigned base, int width,
                    char pad, int left)
{
    char tmp[24];
    int len = 0;
    size_t start = o->n;
    do {
        tmp[len++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    if (neg)
        tmp[len++] = '-';
    if (neg && pad == '0') {
        put(o, '-');
        len--;
        width--;
    }
    if (!left)
        for (int i = len; i < width; i++)
            put(o, pad);
    while (len)
        put(o, tmp[--len]);
    while (left && o->n - start < (size_t)(width > 0 ? width : 0))
        put(o, ' ');
}

size_t shim_vfmt(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct out o = { buf, size, 0 };
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            put(&o, *p);
            continue;
        }
        p++;
        int left = 0, width = 0, lng = 0, sz = 0;
        char pad = ' ';
        if (*p == '-') {
            left = 1;
            p++;
        }
        if (*p == '0') {
            pad = '0';
            p++;
        }
        while (*p >= '0' && *p <= '9')
            width = width * 10 + (*p++ - '0');
        while (*p == 'l') {
            lng++;
            p++;
        }
        if (*p == 'z') {
            sz = 1;
            p++;
        }
        switch (*p) {
        case 'd':
        case 'i': {
            long long v = sz ? (long long)va_arg(ap, ssize_t)
                          : lng >= 2 ? va_arg(ap, long long)
                          : lng ? va_arg(ap, long) : va_arg(ap, int);
            put_num(&o, v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v, v < 0, 10,
                    width, pad, left);
            break;
        }
        case 'u':
        case 'x': {
            unsigned long long v = sz ? va_arg(ap, size_t)
                                   : lng >= 2 ? va_arg(ap, unsigned long long)
                                   : lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
            put_num(&o, v, 0, *p == 'x' ? 16 : 10, width, pad, left);
            break;
        }
        case 'p':
            put(&o, '0');
            put(&o, 'x');
            put_num(&o, (uintptr_t)va_arg(ap, void *), 0, 16, 0, ' ', 0);
            break;
        case 'c':
            put(&o, (char)va_arg(ap, int));
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            int len = (int)strlen(s);
            if (!left)
                for (int i = len; i < width; i++)
                    put(&o, ' ');
            while (*s)
                put(&o, *s++);
            if (left)
                for (int i = len; i < width; i++)
                    put(&o, ' ');
            break;
        }
        case '%':
            put(&o, '%');
            break;
        default:
            if (!*p)
                p--;
            break;
        }
    }
    if (size)
        buf[o.n < size ? o.n : size - 1] = 0;
    return o.n < size ? o.n : (size ? size - 1 : 0);
}

size_t shim_fmt(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = shim_vfmt(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

const char *shim_fmt_addr(char *buf, size_t size, const struct sockaddr *sa, socklen_t len)
{
    char ip[INET6_ADDRSTRLEN];
    if (!sa || len < sizeof(sa_family_t)) {
        shim_fmt(buf, size, "-");
    } else if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const void *)sa;
        const unsigned char *a = (const unsigned char *)&in->sin_addr;
        shim_fmt(buf, size, "%u.%u.%u.%u:%u", a[0], a[1], a[2], a[3], ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const void *)sa;
        if (!inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip))
            ip[0] = 0;
        shim_fmt(buf, size, "[%s]:%u", ip, ntohs(in6->sin6_port));
    } else if (sa->sa_family == AF_UNIX) {
        const struct sockaddr_un *un = (const void *)sa;
        size_t plen = len - offsetof(struct sockaddr_un, sun_path);
        char path[sizeof un->sun_path + 1];
        if (plen > sizeof un->sun_path)
            plen = sizeof un->sun_path;
        if (plen == 0) {
            shim_fmt(buf, size, "unix:(unnamed)");
            return buf;
        }
        int abstract = un->sun_path[0] == 0;
        size_t i = 0;
        for (size_t k = abstract; k < plen && (abstract || un->sun_path[k]); k++)
            path[i++] = un->sun_path[k] >= 0x20 && un->sun_path[k] < 0x7f ? un->sun_path[k] : '?';
        path[i] = 0;
        shim_fmt(buf, size, "unix:%s%s", abstract ? "@" : "", path);
    } else {
        shim_fmt(buf, size, "family %d", sa->sa_family);
    }
    return buf;
}

const char *shim_errname(int err, char *buf, size_t size)
{
    const char *name = sp_errno_name(err);
    if (name)
        return name;
    shim_fmt(buf, size, "errno %d", err);
    return buf;
}
