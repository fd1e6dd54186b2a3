/* diag/diag_tfo.c: does net.ipv4.tcp_fastopen allow what a policy asks for? Read with raw
 * open/read (no stdio on a hook's path); the answer names the value to set. Bits, from the
 * kernel's ip-sysctl documentation: 0x1 client, 0x2 server, 0x4 client without a cookie,
 * 0x200 server without a cookie, 0x400 server on every listener. */
#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "diag.h"

int sp_tfo_read(const char *path, struct sp_tfo *t)
{
    int saved = errno;
    t->value = -1;
    t->client_ok = t->server_ok = 0;
    int fd = open(path ? path : "/proc/sys/net/ipv4/tcp_fastopen", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        errno = saved;
        return -1;
    }
    char buf[32];
    ssize_t n;
    do
        n = read(fd, buf, sizeof buf - 1);
    while (n < 0 && errno == EINTR);
    syscall(SYS_close, fd); /* close() is one of our hooks: go around it */
    int v = 0, digits = 0;
    for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9' && v < 100000; i++, digits++)
        v = v * 10 + (buf[i] - '0');
    errno = saved;
    if (digits == 0)
        return -1;
    t->value = v;
    t->client_ok = (v & 0x1) != 0;
    t->server_ok = (v & 0x2) != 0;
    return 0;
}

size_t sp_tfo_advice(const struct sp_tfo *t, int want_client, int want_server, char *buf,
                     size_t cap)
{
    struct sp_buf b;
    sp_buf_init(&b, buf, cap);
    int miss_c = want_client && !t->client_ok, miss_s = want_server && !t->server_ok;
    if (!miss_c && !miss_s)
        return 0;
    if (t->value < 0) {
        sp_buf_puts(&b, "net.ipv4.tcp_fastopen could not be read: TFO may be off");
        return b.len;
    }
    int want = t->value | (want_client ? 0x1 : 0) | (want_server ? 0x2 : 0);
    sp_buf_puts(&b, "net.ipv4.tcp_fastopen is ");
    sp_buf_putu(&b, (unsigned)t->value);
    sp_buf_puts(&b, ", which does not allow ");
    sp_buf_puts(&b, miss_c && miss_s ? "client or server" : miss_c ? "client" : "server");
    sp_buf_puts(&b, " TFO: set it to ");
    sp_buf_putu(&b, (unsigned)want);
    sp_buf_puts(&b, " (sysctl -w net.ipv4.tcp_fastopen=");
    sp_buf_putu(&b, (unsigned)want);
    sp_buf_putc(&b, ')');
    return b.len;
}
