/* shim/decide.c: the decision every hook makes (shim_decide's slow path, with the per-thread
 * memo in front of policy/decide.c's sp_decide), the gate actions (deny, fail, delay, audit),
 * and the random numbers and sleeps they use. No syscall on the decision's path but where a
 * recorded socket kind may be stale (see state.h). */
#include "decide.h"
#include "state.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fdtab.h"
#include "log.h"

/* The bits of an inet key's first word (family, port, IPv4 address) that op's rules in p may
 * test; all of them when not known for p. */
static uint64_t key_mask(const struct sp_policy *p, enum sp_op op)
{
    if (atomic_load_explicit(&shim_keys_p, memory_order_acquire) != p)
        return ~(uint64_t)0;
    uint32_t t = atomic_load_explicit(&shim_keys_tests, memory_order_acquire) >> (op * 4) & 15;
    if (atomic_load_explicit(&shim_keys_p, memory_order_acquire) != p)
        return ~(uint64_t)0;
    uint64_t m = ~(uint64_t)0;
    if (!(t & SP_TESTS_PORT))
        m &= ~(uint64_t)0xffff0000u; /* bytes 2-3: the port */
    if (!(t & SP_TESTS_ADDR))
        m &= 0xffffffffu;            /* bytes 4-7: the IPv4 address */
    return m;
}

/* Per thread, the last decision taken for an inet address: programs connect to (or hear
 * from) the same few peers over and over, and the answer depends only on the policy, the op,
 * the socket's kind and the address. Keyed by the policy pointer, which is never reused (old
 * policies stay mapped), so a reload makes every entry miss. */
__thread struct shim_decision_memo shim_memo __attribute__((tls_model("initial-exec")));

/* The decision both front ends take (policy/decide.c), in the shim's type. */
static struct shim_decision decide(const struct sp_policy *p, enum sp_op op, int family, int type,
                                   const struct sockaddr *sa, socklen_t len)
{
    struct sp_decision d = sp_decide(p, op, family, type, sa, len);
    return (struct shim_decision){d.rule, d.action, d.err};
}

/* Whether the kind the hook read may decide op's call on sa under p: no rule of op tells
 * types, or inet from inet6, apart, and the address is of the recorded family (the kernel
 * refuses one of another family, but for an IPv4 address on a dual-stack datagram socket)
 * or there is none (an accept whose peer no rule reads: no rule can then tell sockets apart). */
static int kind_decides(const struct sp_policy *p, enum sp_op op, int family,
                        const struct sockaddr *sa, socklen_t len)
{
    return !shim_op_tests(p, op, SP_TESTS_TYPE) &&
           (!sa || len < sizeof(sa_family_t) || sa->sa_family == family);
}

static struct shim_decision __attribute__((noinline))
decide_remember(const struct sp_policy *p, enum sp_op op, int family, int type,
                const struct sockaddr *sa, socklen_t len, uint32_t what, uint64_t k0, uint64_t k1,
                uint64_t k2)
{
    struct shim_decision d = decide(p, op, family, type, sa, len);
    /* Only an answer every socket of the address's family would get (see state.h). */
    if (!kind_decides(p, op, family, sa, len))
        return d;
    uint64_t m = key_mask(p, op);
    if (!(m >> 32)) /* no rule tests the address: nor its IPv6 part */
        k1 = k2 = 0;
    uint32_t seq = shim_memo.seq;
    if (seq & 1)
        return d; /* a signal handler interrupted this thread's write: leave it to finish */
    /* A handler between the load and this store writes a whole entry, which the stores
     * below then overwrite, all of them: the result is whole either way. */
    shim_memo.seq = seq + 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    shim_memo.p = NULL; /* first: a handler's read must not match a half-written entry */
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    shim_memo.what = what;
    shim_memo.kmask = m;
    shim_memo.k[0] = k0 & m;
    shim_memo.k[1] = k1;
    shim_memo.k[2] = k2;
    shim_memo.d = d;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    shim_memo.p = p;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    shim_memo.seq = seq + 2;
    return d;
}

struct shim_decision shim_decide_slow(const struct sp_policy *p, enum sp_op op, int fd,
                                      int *family, int *type, const struct sockaddr *sa,
                                      socklen_t len)
{
    if (p == SHIM_DENY_ALL)
        return (struct shim_decision){ NULL, SP_ACT_DENY, EACCES };
    /* The recorded kind decides only when no other socket the number might hold now would
     * be decided otherwise: else the kernel says (and a failing look leaves the call to
     * fail in the kernel as it will, on no socket). */
    if (fd >= 0 && !kind_decides(p, op, *family, sa, len))
        shim_sock_kind_sure(fd, family, type);
    uint64_t k0 = 0, k1 = 0, k2 = 0;
    if (!sa)
        return decide(p, op, *family, *type, sa, len);
    if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        memcpy(&k0, sa, 8); /* family, port, address */
    } else if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        uint32_t fp;
        memcpy(&fp, sa, 4); /* family and port; flowinfo is not matched */
        k0 = fp;
        memcpy(&k1, (const char *)sa + offsetof(struct sockaddr_in6, sin6_addr), 8);
        memcpy(&k2, (const char *)sa + offsetof(struct sockaddr_in6, sin6_addr) + 8, 8);
    } else {
        return decide(p, op, *family, *type, sa, len);
    }
    uint32_t what = (uint32_t)op | (uint32_t)(*type & 0xff) << 8 | (uint32_t)*family << 16;
    uint32_t seq = shim_memo.seq;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (shim_memo.p == p && shim_memo.what == what && shim_memo.k[0] == (k0 & shim_memo.kmask) &&
        (!(shim_memo.kmask >> 32) || (shim_memo.k[1] == k1 && shim_memo.k[2] == k2))) {
        struct shim_decision d = shim_memo.d;
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        if (shim_memo.seq == seq)
            return d;
    }
    return decide_remember(p, op, *family, *type, sa, len, what, k0, k1, k2);
}

static void log_rule(enum sp_log_level lvl, const char *what, const struct shim_decision *d,
                     enum sp_op op, int fd, const struct sockaddr *sa, socklen_t len)
{
    (void)what;
    if (shim_log_on(lvl))
        shim_log_decision(d->rule, d->action, d->err, op, fd, sa, len);
}

int shim_gate_slow(const struct shim_decision *d, enum sp_op op, int fd, const struct sockaddr *sa,
                   socklen_t len)
{
    switch (d->action) {
    case SP_ACT_DENY:
        log_rule(SP_LOG_FAILURES, "denied", d, op, fd, sa, len);
        errno = d->err ? d->err : EACCES;
        return -1;
    case SP_ACT_FAIL:
        if (d->rule && shim_random_ppm() < d->rule->fail_rate_ppm) {
            log_rule(SP_LOG_FAILURES, "failure injected", d, op, fd, sa, len);
            errno = d->err ? d->err : EIO;
            return -1;
        }
        return 0;
    case SP_ACT_DELAY:
        if (d->rule && d->rule->delay_ms) {
            log_rule(SP_LOG_ALL, "delayed", d, op, fd, sa, len);
            shim_sleep_ms(d->rule->delay_ms);
        }
        return 0;
    case SP_ACT_AUDIT:
        log_rule(SP_LOG_FAILURES, "audit", d, op, fd, sa, len);
        return 0;
    default:
        return 0;
    }
}

uint32_t shim_random_ppm(void)
{
    static __thread uint64_t s __attribute__((tls_model("initial-exec")));
    if (!s) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        s = (((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)(uintptr_t)&s << 7) ^
             (uint64_t)syscall(SYS_gettid)) | 1;
    }
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return (uint32_t)((s >> 11) % 1000000u);
}

void shim_sleep_ms(uint32_t ms)
{
    int saved = errno;
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    errno = saved;
}
