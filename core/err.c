/* core/err.c: the per-thread error queue, shaped like OpenSSL's ERR_STATE so that it holds
 * exactly what libcrypto's would: a ring of 16 slots with top/bottom indices, in which one slot
 * always stays free, so the newest 15 entries survive an overflow (ERR_NUM_ERRORS = 16).
 *
 * No malloc, no locks, no errno changes: the state is a fixed __thread block (initial-exec,
 * since this code lives in an LD_PRELOAD library and must not call __tls_get_addr's allocator).
 * A signal handler may use the queue: each writer fills a slot before it publishes the new
 * top, and the index updates are single stores seen in program order by a handler on the same
 * thread (signal fences). A handler that interrupts a push can at worst lose one entry. */
#include <stdatomic.h>
#include <stddef.h>

#include "bio.h"
#include "err_int.h"

#define ERRQ_SLOTS 16

struct errq {
    unsigned long code[ERRQ_SLOTS];
    const char *data[ERRQ_SLOTS];
    unsigned top, bottom; /* top: newest slot; bottom: slot before the oldest; equal: empty */
};

static __thread struct errq errq __attribute__((tls_model("initial-exec")));

static void errq_push(unsigned long code, const char *data)
{
    struct errq *q = &errq;
    unsigned top = (q->top + 1) % ERRQ_SLOTS;

    if (top == q->bottom) /* full: drop the oldest, as ERR_new does */
        q->bottom = (q->bottom + 1) % ERRQ_SLOTS;
    q->code[top] = code;
    q->data[top] = data;
    atomic_signal_fence(memory_order_seq_cst);
    q->top = top;
    atomic_signal_fence(memory_order_seq_cst);
}

void bio_err_sys(int err, const char *data)
{
    errq_push(BIO_ERR_SYS_FLAG | (unsigned long)(unsigned)err, data);
}

void bio_err_bio(int reason)
{
    errq_push(BIO_ERR_LIB_BIO | (unsigned long)(unsigned)reason, NULL);
}

unsigned long bio_err_get(const char **data)
{
    struct errq *q = &errq;
    unsigned i;
    unsigned long code;

    if (q->top == q->bottom) {
        if (data)
            *data = NULL;
        return 0;
    }
    i = (q->bottom + 1) % ERRQ_SLOTS;
    code = q->code[i];
    if (data)
        *data = q->data[i];
    atomic_signal_fence(memory_order_seq_cst);
    q->bottom = i;
    atomic_signal_fence(memory_order_seq_cst);
    return code;
}

unsigned long bio_err_peek_last(void)
{
    struct errq *q = &errq;

    return q->top == q->bottom ? 0 : q->code[q->top];
}

void bio_err_clear(void)
{
    struct errq *q = &errq;

    q->bottom = q->top;
    atomic_signal_fence(memory_order_seq_cst);
}

struct reason_text {
    int reason;
    const char *text;
};

/* Section 3 of the reference: every socket-related BIO reason, text as in openssl.txt. */
static const struct reason_text bio_reasons[] = {
    {100, "accept error"},
    {103, "connect error"},
    {106, "tfo disabled"},
    {107, "gethostbyname addr is not af inet"},
    {108, "tfo no kernel support"},
    {109, "unable to tfo"},
    {110, "nbio connect error"},
    {111, "local addr not available"},
    {112, "non fatal"},
    {113, "no port defined"},
    {114, "peer addr not available"},
    {117, "unable to bind socket"},
    {118, "unable to create socket"},
    {119, "unable to listen socket"},
    {122, "WSAStartup"},
    {129, "ambiguous host or service"},
    {130, "malformed host or service"},
    {131, "unsupported protocol family"},
    {132, "getsockname error"},
    {133, "getsockname truncated address"},
    {134, "getting socktype"},
    {135, "invalid socket"},
    {136, "listen v6 only"},
    {137, "unable to keepalive"},
    {138, "unable to nodelay"},
    {139, "unable to reuseaddr"},
    {140, "unknown info type"},
    {141, "addrinfo addr is not af inet"},
    {142, "lookup returned nothing"},
    {143, "no accept addr or service specified"},
    {144, "no hostname or service specified"},
    {145, "unavailable ip family"},
    {146, "unsupported ip family"},
    {147, "connect timeout"},
    {150, "port mismatch"},
};

const char *bio_err_reason_string(unsigned long code)
{
    size_t i;

    if (code & BIO_ERR_SYS_FLAG)
        return bio_errno_text((int)(code & 0x7fffffffUL));
    if ((code & ~0x7fffffUL) != BIO_ERR_LIB_BIO)
        return NULL;
    for (i = 0; i < sizeof bio_reasons / sizeof bio_reasons[0]; i++)
        if ((unsigned long)bio_reasons[i].reason == (code & 0x7fffffUL))
            return bio_reasons[i].text;
    return NULL;
}
