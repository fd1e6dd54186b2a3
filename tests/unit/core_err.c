/* tests/unit/core_err.c: the per-thread error queue: order, overflow (the newest 15 survive,
 * as in OpenSSL's 16-slot ring), peek/clear, reason texts, errno preservation, per-thread
 * isolation, and use from a signal handler. */
#include "core_helpers.h"

#include <pthread.h>
#include <signal.h>

static volatile sig_atomic_t handler_ok;

static void on_usr1(int sig)
{
    int saved = errno;
    bio_addr a;
    const char *data = NULL;
    unsigned long code;

    (void)sig;
    bio_addr_clear(&a);
    errno = 777;
    /* A failing call from the handler queues behind what the interrupted code left. */
    bio_bind(-1, &a, 0);
    code = bio_err_peek_last();
    handler_ok = (errno == 777 && code == BIOR(BIO_R_INVALID_SOCKET)) ? 1 : -1;
    (void)data;
    errno = saved;
}

static void *thread_main(void *arg)
{
    unsigned long *out = arg;
    bio_addr a;

    bio_addr_clear(&a);
    out[0] = bio_err_get(NULL); /* the main thread's entries are not ours */
    bio_connect(-1, &a, 0);
    out[1] = bio_err_peek_last();
    return NULL;
}

int main(void)
{
    bio_addr a = addr4("127.0.0.1", 0);
    unsigned long code, first = 0, last = 0;
    const char *data;
    int n, i, fd;

    bio_err_clear();
    is_int(bio_err_get(&data), 0, "empty queue: 0");
    ok(data == NULL, "empty queue: data NULL");
    is_int(bio_err_peek_last(), 0, "empty queue: peek 0");

    /* Order: oldest first, peek gives the newest without removing. */
    errno = 4321;
    bio_bind(-2, &a, 0);
    is_int(errno, EBADF, "errno is the syscall's after a failure");
    is_int(bio_err_peek_last(), BIOR(BIO_R_UNABLE_TO_BIND_SOCKET), "peek: newest is the reason");
    is_int(bio_err_peek_last(), BIOR(BIO_R_UNABLE_TO_BIND_SOCKET), "peek does not remove");
    code = bio_err_get(&data);
    is_int(code, SYS(EBADF), "get: oldest is the SYS entry");
    is_str(data, "calling bind()", "SYS entry data");
    code = bio_err_get(NULL);
    is_int(code, BIOR(BIO_R_UNABLE_TO_BIND_SOCKET), "get(NULL) works");
    is_int(bio_err_get(NULL), 0, "then empty");

    /* Overflow: 10 failures push 20 entries; the newest 15 remain. */
    for (i = 0; i < 10; i++) {
        errno = 0;
        bio_bind(-2, &a, 0);
    }
    is_int(errno, EBADF, "errno kept while the queue overflows");
    for (n = 0; (code = bio_err_get(&data)) != 0 && n < 100; n++) {
        if (n == 0)
            first = code;
        last = code;
    }
    is_int(n, 15, "overflow keeps 15 entries (16-slot ring, one free)");
    is_int(first, BIOR(BIO_R_UNABLE_TO_BIND_SOCKET), "overflow drops the oldest first");
    is_int(last, BIOR(BIO_R_UNABLE_TO_BIND_SOCKET), "overflow keeps the newest");

    bio_bind(-1, &a, 0);
    bio_bind(-1, &a, 0);
    bio_err_clear();
    is_int(bio_err_peek_last(), 0, "clear empties the queue");
    is_int(bio_err_get(NULL), 0, "clear: get gives 0");

    /* Reason texts. */
    is_str(bio_err_reason_string(BIOR(BIO_R_UNABLE_TO_KEEPALIVE)), "unable to keepalive",
           "reason text 137");
    is_str(bio_err_reason_string(BIOR(BIO_R_CONNECT_ERROR)), "connect error", "reason text 103");
    is_str(bio_err_reason_string(BIOR(BIO_R_UNABLE_TO_TFO)), "unable to tfo", "reason text 109");
    is_str(bio_err_reason_string(BIOR(BIO_R_GETSOCKNAME_TRUNCATED_ADDRESS)),
           "getsockname truncated address", "reason text 133");
    {
        static const int codes[] = {100, 103, 106, 107, 108, 109, 110, 111, 112, 113, 114, 117,
                                    118, 119, 122, 129, 130, 131, 132, 133, 134, 135, 136, 137,
                                    138, 139, 140, 141, 142, 143, 144, 145, 146, 147, 150};
        int all = 1;

        for (i = 0; i < (int)(sizeof codes / sizeof codes[0]); i++)
            all &= bio_err_reason_string(BIOR(codes[i])) != NULL;
        ok(all, "every reason of the reference's table has a text");
    }
    ok(bio_err_reason_string(BIOR(999)) == NULL, "unknown BIO reason: NULL");
    ok(bio_err_reason_string(0x20000001UL) == NULL, "other library: NULL");
    is_str(bio_err_reason_string(SYS(ECONNREFUSED)), "Connection refused", "SYS text");
    is_str(bio_err_reason_string(SYS(EINPROGRESS)), "Operation now in progress", "SYS text 2");
    ok(bio_err_reason_string(SYS(4000)) == NULL, "unknown errno: NULL");
    is_str(bio_errno_name(EINPROGRESS), "EINPROGRESS", "errno name");
    is_str(bio_errno_name(EAGAIN), "EAGAIN", "errno name EAGAIN");
    is_str(bio_errno_name(EOPNOTSUPP), "EOPNOTSUPP", "errno name EOPNOTSUPP");
    ok(bio_errno_name(0) == NULL && bio_errno_name(-1) == NULL, "errno name of 0/-1: NULL");
    {
        int all = 1, named = 0;

        for (i = 1; i < 134; i++) {
            const char *nm = bio_errno_name(i);

            if (!nm)
                continue;
            named++;
            if (bio_errno_from_name(nm, strlen(nm)) != i) {
                diag("errno %d: %s reads back as %d", i, nm, bio_errno_from_name(nm, strlen(nm)));
                all = 0;
            }
        }
        ok(all && named > 100, "every errno name reads back as its value (%d names)", named);
    }
    is_int(bio_errno_from_name("EWOULDBLOCK", 11), EAGAIN, "errno alias EWOULDBLOCK");
    is_int(bio_errno_from_name("ENOTSUP", 7), EOPNOTSUPP, "errno alias ENOTSUP");
    is_int(bio_errno_from_name("ECONNREFUSE", 11), 0, "a name's prefix is no name");
    is_int(bio_errno_from_name("ECONNREFUSEDX", 12), ECONNREFUSED, "only len bytes are read");
    is_int(bio_errno_from_name("", 0), 0, "the empty name: 0");
    {
        int all = 1;

        for (i = 1; i < 134; i++) {
            const char *t = bio_errno_text(i);

            if (t && strcmp(t, strerror(i)) != 0) {
                diag("errno %d: ours \"%s\", strerror \"%s\"", i, t, strerror(i));
                all = 0;
            }
        }
        ok(all, "errno texts agree with this libc's strerror");
    }

    /* Per thread. */
    bio_bind(-1, &a, 0);
    {
        pthread_t t;
        unsigned long out[2] = {1, 1};

        pthread_create(&t, NULL, thread_main, out);
        pthread_join(t, NULL);
        is_int(out[0], 0, "a new thread starts with an empty queue");
        is_int(out[1], BIOR(BIO_R_INVALID_SOCKET), "the thread's own entry");
        is_int(bio_err_get(NULL), BIOR(BIO_R_INVALID_SOCKET), "main thread keeps its entry");
        is_int(bio_err_get(NULL), 0, "and only it");
    }

    /* Signal handler: pushes behind the interrupted code's entries, errno untouched. */
    {
        struct sigaction sa;

        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_usr1;
        sigaction(SIGUSR1, &sa, NULL);
        fd = socket(AF_INET, SOCK_STREAM, 0);
        close(fd);
        bio_bind(fd, &a, 0);
        errno = 55;
        raise(SIGUSR1);
        is_int(handler_ok, 1, "handler: queue usable, errno preserved inside");
        is_int(errno, 55, "errno preserved across the handler");
        expect_queue("handler's entry queues behind the interrupted code's", 3,
                     (const unsigned long[]){SYS(EBADF), BIOR(BIO_R_UNABLE_TO_BIND_SOCKET),
                                             BIOR(BIO_R_INVALID_SOCKET)},
                     (const char *const[]){"calling bind()", NULL, NULL});
    }
    return done_testing();
}
