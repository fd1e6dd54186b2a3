/* shim/apply.c: forcing options, and reading BIO's error queue back. */
#include "apply.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>

#include "bio.h"
#include "fdtab.h"
#include "log.h"
#include "real.h"
#include "state.h"

/* The exact setsockopt calls that forcing rule's options (which) on a socket of one kind
 * makes, worked out once: this thread's last one is kept (a rule pointer stays unique for the
 * life of the process: superseded policies stay mapped), so forcing is a loop of setsockopt
 * calls with no per-option applicability test. A signal handler's hook may run in the middle
 * of that loop: in_use says so, and the handler works out a plan of its own on its stack
 * rather than rewrite the one the interrupted loop is reading. */
struct opt_plan {
    const struct sp_rule *rule;
    uint32_t which, kind;
    uint32_t skipped; /* does not apply to this kind */
    uint32_t asked;   /* rule->opts.mask & which */
    uint32_t set;     /* the options the calls set */
    int simple;       /* every option is a plain int (else bio_opt_apply_kind does it) */
    unsigned n;
    int in_use;       /* the thread's plan only: a call below on this thread is reading it */
    struct opt_call {
        int level, name, val; /* the value copied from the rule (rules never change) */
        unsigned opt;
    } call[BIO_OPT_COUNT];
};
static __thread struct opt_plan plan __attribute__((tls_model("initial-exec")));

static void __attribute__((noinline)) plan_build(struct opt_plan *pl, const struct sp_rule *rule,
                                                 uint32_t which, int family, int type)
{
    pl->rule = NULL;
    pl->n = 0;
    pl->skipped = 0;
    pl->set = 0;
    pl->simple = 1;
    for (uint32_t todo = rule->opts.mask & which; todo; todo &= todo - 1) {
        unsigned o = (unsigned)__builtin_ctz(todo);
        int level, name;
        if (!bio_opt_applies((enum bio_opt)o, family, type))
            pl->skipped |= BIO_OPT_BIT(o);
        else if (bio_opt_int_key((enum bio_opt)o, family, &level, &name) != 0)
            pl->simple = 0;
        else {
            pl->call[pl->n++] = (struct opt_call){ level, name, rule->opts.val[o], o };
            pl->set |= BIO_OPT_BIT(o);
        }
    }
    pl->asked = rule->opts.mask & which;
    pl->which = which;
    pl->kind = SHIM_FD_KIND(family, type);
    pl->rule = rule;
}

/* Inlined twice: on the thread's plan (a TLS address the compiler knows) and on a handler's
 * own, so the common case reads its plan as directly as before the guard existed. */
static inline __attribute__((always_inline)) int
apply_plan(int fd, const struct sp_rule *rule, uint32_t which, enum sp_op op, int family,
           int type, const struct opt_plan *pl)
{
    struct bio_opt_report rep;
    if (!pl->simple) {
        int saved = errno;
        int failed = bio_opt_apply_kind(fd, &rule->opts, which, family, type, &rep);
        shim_log_opts(fd, rule, which, op, &rep); /* into the event the hook logs */
        errno = saved;
        return failed;
    }
    /* A loop of raw calls; the report is built only when one fails or the event is logged
     * at once (socket() has no later event). */
    int *ep = &errno, saved = *ep;
    uint32_t failed = 0;
    for (const struct opt_call *c = pl->call, *end = c + pl->n; c < end; c++)
        if (__builtin_expect(shim_real.setsockopt(fd, c->level, c->name, &c->val, sizeof(int)) != 0,
                             0)) {
            failed |= BIO_OPT_BIT(c->opt);
            rep.err[c->opt] = *ep;
        }
    if (__builtin_expect(!failed && op != SP_OP_SOCKET, 1)) {
        shim_log_opts_ok(fd, op, pl->asked, pl->set, pl->skipped);
        return 0;
    }
    *ep = saved;
    rep.applied = pl->set & ~failed;
    rep.skipped = pl->skipped;
    rep.failed = failed;
    shim_log_opts(fd, rule, which, op, &rep); /* into the event the hook logs */
    return failed ? __builtin_popcount(failed) : 0;
}

/* A signal handler's call while this thread was forcing options: a plan of its own. */
static int __attribute__((noinline, cold)) apply_nested(int fd, const struct sp_rule *rule,
                                                        uint32_t which, enum sp_op op,
                                                        int family, int type)
{
    struct opt_plan mine;
    plan_build(&mine, rule, which, family, type);
    return apply_plan(fd, rule, which, op, family, type, &mine);
}

int shim_apply_opts_kind(int fd, const struct sp_rule *rule, uint32_t which, enum sp_op op,
                         int family, int type)
{
    if (!rule || !(rule->opts.mask & which))
        return 0;
    if (__builtin_expect(plan.in_use, 0))
        return apply_nested(fd, rule, which, op, family, type);
    /* A handler between the test and this store finishes before it: it leaves in_use 0. */
    plan.in_use = 1;
    atomic_signal_fence(memory_order_seq_cst);
    if (plan.rule != rule || plan.which != which || plan.kind != SHIM_FD_KIND(family, type))
        plan_build(&plan, rule, which, family, type);
    int r = apply_plan(fd, rule, which, op, family, type, &plan);
    atomic_signal_fence(memory_order_seq_cst);
    plan.in_use = 0;
    return r;
}

int shim_apply_opts(int fd, const struct sp_rule *rule, uint32_t which, enum sp_op op)
{
    if (!rule || !(rule->opts.mask & which))
        return 0;
    int saved = errno, family, type;
    if (shim_sock_kind(fd, &family, &type) != 0) {
        char eb[24];
        shim_log(SP_LOG_FAILURES, "%s fd=%d: cannot read the socket's kind to force options: %s",
                 sp_op_name(op), fd, sp_diag_errno_label(errno, eb, sizeof eb));
        errno = saved;
        return 0;
    }
    return shim_apply_opts_kind(fd, rule, which, op, family, type);
}

/* The last option of mask (the order bio_opt_apply_kind sets them in) whose forced value differs
 * from the listener's own, or -1 when every one already had its value. */
static int inh_check_opt(const struct shim_fd *l, const struct sp_rule *rule, uint32_t mask)
{
    for (int o = SHIM_INH_OPTS - 1; o >= 0; o--)
        if ((mask & BIO_OPT_BIT(o)) && l->inh_orig[o] != rule->opts.val[o])
            return o;
    return -1;
}

/* Puts the listener's own values back on fd (a socket that inherited them, or the listener). */
static void inh_restore(int fd, const struct shim_fd *l, int family, int type)
{
    struct bio_optset orig;
    struct bio_opt_report rep;
    orig.mask = l->inh_mask;
    for (int o = 0; o < SHIM_INH_OPTS; o++)
        orig.val[o] = l->inh_orig[o];
    bio_opt_apply_kind(fd, &orig, l->inh_mask, family, type, &rep);
}

/* Sets rule's inheritable options on the listener lfd, its own values kept first. 1 when all
 * went on (then the next accepted sockets have them), else 0 (the listener is as it was). */
static int inh_setup(int lfd, struct shim_fd *l, const struct sp_rule *rule, uint32_t mask,
                     int family, int type)
{
    for (int o = 0; o < SHIM_INH_OPTS; o++)
        if ((mask & BIO_OPT_BIT(o)) && bio_opt_read(lfd, (enum bio_opt)o, NULL, &l->inh_orig[o]) != 0)
            return 0;
    l->inh_mask = mask;
    struct bio_opt_report rep;
    if (bio_opt_apply_kind(lfd, &rule->opts, mask, family, type, &rep) != 0 || rep.applied != mask) {
        inh_restore(lfd, l, family, type);
        return 0;
    }
    l->inh_check = (int8_t)inh_check_opt(l, rule, mask);
    __atomic_store_n(&l->inh_sure, NULL, __ATOMIC_RELAXED);
    /* release: inh_rule publishes inh_orig, inh_mask and inh_check (plain fields) to the
     * other threads accepting on lfd, which load it with acquire */
    __atomic_store_n(&l->inh_rule, rule, __ATOMIC_RELEASE);
    /* setsockopt on lfd must drop this */
    __atomic_fetch_or(&shim_fd_pins, SHIM_PINS_INHERIT, __ATOMIC_RELAXED);
    return 1;
}

/* Listener l's inheritance is given up for good: options go on each socket from now. */
static void inh_off(struct shim_fd *l)
{
    __atomic_store_n(&l->inh_rule, NULL, __ATOMIC_RELAXED);
    __atomic_store_n(&l->inh_sure, NULL, __ATOMIC_RELAXED);
    __atomic_store_n(&l->inh_off, 1, __ATOMIC_RELAXED);
}

/* Gives inheritance up on listener lfd: its own values back, options on each socket from now. */
static void inh_drop(int lfd, struct shim_fd *l, int family, int type)
{
    inh_restore(lfd, l, family, type);
    inh_off(l);
}

void shim_accept_opts_slow(int lfd, int nfd, const struct sp_rule *rule, uint32_t which,
                           int family, int type, const struct sp_rule *sure)
{
    struct shim_fd *l = shim_fd_peek(lfd);
    uint32_t want = rule ? rule->opts.mask & which : 0;
    const struct sp_rule *ir = l ? __atomic_load_n(&l->inh_rule, __ATOMIC_ACQUIRE) : NULL;
    int saved = errno;
    if (ir) {
        int v, o = l->inh_check;
        /* nfd has the listener's forced values only if the handshake completed after they
         * were set: one read of the last one set tells (they are set in order). */
        int has = o < 0 || sure == ir ||
                  (bio_opt_read(nfd, (enum bio_opt)o, NULL, &v) == 0 && v == ir->opts.val[o]);
        if (has && sure != ir && rule == ir)
            __atomic_store_n(&l->inh_sure, ir, __ATOMIC_RELAXED); /* later accepts skip the read */
        if (rule == ir) {
            if (has)
                want &= ~l->inh_mask; /* inherited: nothing to set for those */
        } else {
            /* Another rule (or none) for this peer: it must not keep what it inherited. */
            if (has)
                inh_restore(nfd, l, family, type);
            inh_drop(lfd, l, family, type);
        }
    } else if (l && !__atomic_load_n(&l->inh_off, __ATOMIC_RELAXED) &&
               __atomic_load_n(&l->kind, __ATOMIC_RELAXED) && (want & SHIM_OPTS_INHERITED) &&
               type == SOCK_STREAM && (family == AF_INET || family == AF_INET6)) {
        /* One thread sets the listener up (inh_off 2 while and after it does): a second
         * one reading the listener's values meanwhile would keep the forced ones as its own.
         * The others put the options on their sockets until inh_rule is published. */
        uint8_t none = 0;
        if (__atomic_compare_exchange_n(&l->inh_off, &none, 2, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED) &&
            !inh_setup(lfd, l, rule, want & SHIM_OPTS_INHERITED, family, type))
            __atomic_store_n(&l->inh_off, 0, __ATOMIC_RELAXED); /* as it was: a later accept tries again */
    }
    errno = saved;
    if (want)
        shim_apply_opts_kind(nfd, rule, want, SP_OP_ACCEPT, family, type);
}

void shim_inherit_forget(int lfd)
{
    struct shim_fd *l = shim_fd_peek(lfd);
    if (l && __atomic_load_n(&l->inh_rule, __ATOMIC_RELAXED))
        inh_off(l); /* the program changed the listener: its values are its own now */
}

static const struct {
    enum bio_opt opt;
    int flag;
} bio_flag_opts[] = {
    { BIO_OPT_KEEPALIVE, BIO_SOCK_KEEPALIVE },
    { BIO_OPT_NODELAY, BIO_SOCK_NODELAY },
    { BIO_OPT_TFO_CONNECT, BIO_SOCK_TFO },
    { BIO_OPT_REUSEADDR, BIO_SOCK_REUSEADDR },
};

int shim_bio_flags(const struct sp_rule *rule, int family, int type, uint32_t *which, int flags_ok)
{
    int flags = 0;
    for (unsigned i = 0; i < sizeof bio_flag_opts / sizeof bio_flag_opts[0]; i++) {
        enum bio_opt o = bio_flag_opts[i].opt;
        if (!(flags_ok & bio_flag_opts[i].flag) || !(rule->opts.mask & *which & BIO_OPT_BIT(o)))
            continue;
        if (!bio_opt_applies(o, family, type)) {
            *which &= ~BIO_OPT_BIT(o); /* BIO would fail the call: skip it, as bio_opt_apply does */
            continue;
        }
        if (rule->opts.val[o] != 0) {
            flags |= bio_flag_opts[i].flag;
            *which &= ~BIO_OPT_BIT(o);
        }
    }
    return flags;
}

int shim_bio_option_failed(int fd, int *flags, enum sp_op op)
{
    int saved = errno;
    unsigned long code = bio_err_peek_last();
    bio_err_clear();
    int flag = 0;
    enum bio_opt opt = BIO_OPT_KEEPALIVE;
    if (code == (BIO_ERR_LIB_BIO | BIO_R_UNABLE_TO_KEEPALIVE)) {
        flag = BIO_SOCK_KEEPALIVE;
    } else if (code == (BIO_ERR_LIB_BIO | BIO_R_UNABLE_TO_NODELAY)) {
        flag = BIO_SOCK_NODELAY;
        opt = BIO_OPT_NODELAY;
    } else if (code == (BIO_ERR_LIB_BIO | BIO_R_UNABLE_TO_TFO)) {
        flag = BIO_SOCK_TFO;
        opt = BIO_OPT_TFO_CONNECT;
    } else if (code == (BIO_ERR_LIB_BIO | BIO_R_UNABLE_TO_REUSEADDR)) {
        flag = BIO_SOCK_REUSEADDR;
        opt = BIO_OPT_REUSEADDR;
    }
    if (!flag || !(*flags & flag)) {
        errno = saved;
        return 0;
    }
    shim_log_opt_result(fd, op, opt, saved); /* refused: in the event the hook logs */
    *flags &= ~flag;
    errno = saved;
    return 1;
}

void shim_pin_slow(int fd, const struct sp_rule *rule, int family, int type)
{
    (void)family;
    (void)type;
    if (shim_pin_add(fd, rule->opts.mask, rule) != 0) {
        int saved = errno;
        shim_log(SP_LOG_FAILURES, "%s:%u: cannot pin the options of fd=%d: no room to record it",
                 rule->file ? rule->file : "?", rule->line, fd);
        errno = saved;
    }
}

void shim_set_nonblock(int fd)
{
    int saved = errno;
    int fl = shim_real.fcntl(fd, F_GETFL);
    if (fl >= 0 && !(fl & O_NONBLOCK))
        shim_real.fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    errno = saved;
}
