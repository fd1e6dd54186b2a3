/* tests/unit/diag_tfo.c: the TFO sysctl check on fake sysctl files, and the real one read. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "tap.h"

static char path[64];

static struct sp_tfo with(const char *content)
{
    FILE *f = fopen(path, "w");
    fputs(content, f);
    fclose(f);
    struct sp_tfo t;
    sp_tfo_read(path, &t);
    return t;
}

int main(void)
{
    char buf[256];
    snprintf(path, sizeof path, "/tmp/sp_tfo.%d", (int)getpid());
    struct sp_tfo t = with("1\n");
    ok(t.value == 1 && t.client_ok && !t.server_ok, "1: client only");
    is_int(sp_tfo_advice(&t, 1, 0, buf, sizeof buf), 0, "client TFO wanted with 1: no warning");
    sp_tfo_advice(&t, 0, 1, buf, sizeof buf);
    is_str(buf, "net.ipv4.tcp_fastopen is 1, which does not allow server TFO: set it to 3 "
                "(sysctl -w net.ipv4.tcp_fastopen=3)", "server TFO wanted with 1: set 3");
    t = with("0\n");
    sp_tfo_advice(&t, 1, 1, buf, sizeof buf);
    is_str(buf, "net.ipv4.tcp_fastopen is 0, which does not allow client or server TFO: set it "
                "to 3 (sysctl -w net.ipv4.tcp_fastopen=3)", "both wanted with 0");
    t = with("1026\n"); /* 0x402: server, every listener */
    sp_tfo_advice(&t, 1, 0, buf, sizeof buf);
    ok(t.server_ok && !t.client_ok && strstr(buf, "set it to 1027"), "other bits are kept in the advice");
    t = with("junk");
    errno = 55;
    ok(t.value == -1 && sp_tfo_read(path, &t) == -1 && errno == 55, "garbage: -1, errno preserved");
    unlink(path);
    ok(sp_tfo_read(path, &t) == -1 && t.value == -1, "missing file: -1");
    if (access("/proc/sys/net/ipv4/tcp_fastopen", R_OK) == 0) {
        FILE *f = fopen("/proc/sys/net/ipv4/tcp_fastopen", "r");
        int v = -2;
        if (fscanf(f, "%d", &v) != 1)
            v = -2;
        fclose(f);
        is_int(sp_tfo_read(NULL, &t) == 0 ? t.value : -1, v, "the real sysctl reads as stdio reads it (%d)", v);
    } else {
        skip("no /proc/sys/net/ipv4/tcp_fastopen");
    }
    return done_testing();
}
