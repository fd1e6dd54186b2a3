/* shim/log_event.c: the events the hooks log, built here and written by log_cfg.c: a call's
 * event with the options its hook forced (kept per thread in shim_log_stash until the event
 * that reports them), a decision made before the call, and a failed call under SHIM_WATCH. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>

#include "fdtab.h"
#include "log.h"
#include "log_priv.h"
#include "real.h"

/* This thread's hook: the options it forced on one fd, for the event it logs next (log.h). */
__thread struct shim_log_stash shim_log_stash __attribute__((tls_model("initial-exec")));

static int stash_for(int fd, enum sp_op op)
{
    if (shim_log_stash.asked && shim_log_stash.fd == fd && shim_log_stash.op == op)
        return 1;
    memset(&shim_log_stash, 0, sizeof shim_log_stash);
    shim_log_stash.fd = fd;
    shim_log_stash.op = op;
    return 0;
}

/* The value read back differs from the one forced. */
static int differs(int fd, enum bio_opt o, const struct bio_optset *set)
{
    int v;
    if (bio_opt_read(fd, o, set, &v) != 0)
        return 0;
    switch (o) {
    case BIO_OPT_CONGESTION:
    case BIO_OPT_BINDTODEVICE:
        return v != 0;
    case BIO_OPT_KEEPALIVE:
    case BIO_OPT_NODELAY:
    case BIO_OPT_REUSEADDR:
    case BIO_OPT_REUSEPORT:
    case BIO_OPT_V6ONLY:
    case BIO_OPT_TFO_CONNECT:
        return (v != 0) != (set->val[o] != 0);
    default:
        return v != set->val[o];
    }
}

void shim_log_event(struct sp_event *ev, const struct sp_rule *rule)
{
    int saved = errno;
    ev->rule = shim_log_tracing() ? NULL : rule;
    if (rule && stash_for(ev->fd, ev->op)) {
        ev->opts_asked = shim_log_stash.asked;
        ev->opts = shim_log_stash.rep;
        if (shim_log_level == SP_LOG_DEBUG)
            for (int o = 0; o < BIO_OPT_COUNT; o++)
                if ((ev->opts.applied & BIO_OPT_BIT(o)) && differs(ev->fd, (enum bio_opt)o, &rule->opts))
                    ev->opts_differ |= BIO_OPT_BIT(o);
        memset(&shim_log_stash, 0, sizeof shim_log_stash);
    }
    if (ev->family && !ev->type && ev->fd >= 0) {
        int fam, type;
        if (shim_sock_kind(ev->fd, &fam, &type) == 0)
            ev->type = type;
    }
    shim_log_emit(ev);
    errno = saved;
}

void shim_log_call(enum sp_op op, int fd, int family, int type, const struct sockaddr *sa,
                   socklen_t len, int peer, const struct sp_rule *rule, int err, uint64_t t0_ns,
                   unsigned extra)
{
    if (!shim_log_wants(err))
        return;
    int saved = errno;
    struct sp_event ev;
    sp_event_init(&ev, op, fd);
    ev.family = family;
    ev.type = type;
    ev.err = err;
    ev.duration_ns = sp_diag_now_ns() - t0_ns;
    sp_event_set_addr(&ev, peer, sa, len);
    if (extra & SHIM_LOG_LOCAL) {
        bio_addr local;
        socklen_t llen = sizeof local;
        if (shim_real.getsockname(fd, &local.sa, &llen) == 0 && llen > sizeof(sa_family_t))
            sp_event_set_addr(&ev, 0, &local.sa, llen);
    }
    if (extra & SHIM_LOG_MODE) {
        int fl = shim_real.fcntl(fd, F_GETFL);
        if (fl >= 0 && (fl & O_NONBLOCK))
            ev.flags |= SP_EVF_NONBLOCK;
    }
    shim_log_event(&ev, rule);
    errno = saved;
}

void shim_log_decision(const struct sp_rule *rule, enum sp_action action, int err,
                       enum sp_op op, int fd, const struct sockaddr *sa, socklen_t len)
{
    int fails = action == SP_ACT_DENY || action == SP_ACT_FAIL;
    if (!shim_log_on(fails || action == SP_ACT_AUDIT ? SP_LOG_FAILURES : SP_LOG_ALL))
        return;
    int saved = errno;
    struct sp_event ev;
    char note[48];
    sp_event_init(&ev, op, fd);
    sp_event_set_addr(&ev, op == SP_OP_BIND || op == SP_OP_LISTEN ? 0 : 1, sa, len);
    if (fd >= 0)
        shim_sock_kind(fd, &ev.family, &ev.type);
    if (fails) {
        ev.err = err;
        ev.flags |= SP_EVF_NO_CALL;
        if (!rule)
            ev.flags |= SP_EVF_DEFAULT_DENY;
    } else {
        ev.flags |= SP_EVF_DECISION;
        if (action == SP_ACT_DELAY && rule) {
            sp_diag_fmt(note, sizeof note, "delayed %u ms", rule->delay_ms);
            ev.note = note;
        } else if (action == SP_ACT_AUDIT) {
            ev.note = "audit: the call goes ahead";
        }
    }
    ev.rule = rule;
    shim_log_emit(&ev);
    errno = saved;
}

void shim_log_opts(int fd, const struct sp_rule *rule, uint32_t which, enum sp_op op,
                   const struct bio_opt_report *rep)
{
    if (shim_log_level == SP_LOG_OFF)
        return;
    /* A new forcing starts the record (no memset: err[] is read only for failed bits). */
    shim_log_stash.fd = fd;
    shim_log_stash.op = op;
    shim_log_stash.asked = rule->opts.mask & which;
    shim_log_stash.rep.applied = rep->applied;
    shim_log_stash.rep.skipped = rep->skipped;
    shim_log_stash.rep.failed = rep->failed;
    for (uint32_t f = rep->failed; f; f &= f - 1)
        shim_log_stash.rep.err[__builtin_ctz(f)] = rep->err[__builtin_ctz(f)];
    if (op == SP_OP_SOCKET && shim_log_wants(rep->failed ? EINVAL : 0)) {
        struct sp_event ev;
        sp_event_init(&ev, op, fd);
        shim_sock_kind(fd, &ev.family, &ev.type);
        shim_log_event(&ev, rule);
    }
}

void shim_log_opt_result(int fd, enum sp_op op, enum bio_opt opt, int err)
{
    if (shim_log_level == SP_LOG_OFF)
        return;
    stash_for(fd, op);
    shim_log_stash.asked |= BIO_OPT_BIT(opt);
    if (err) {
        shim_log_stash.rep.failed |= BIO_OPT_BIT(opt);
        shim_log_stash.rep.applied &= ~BIO_OPT_BIT(opt);
        shim_log_stash.rep.err[opt] = err;
    } else if (!(shim_log_stash.rep.failed & BIO_OPT_BIT(opt))) {
        shim_log_stash.rep.applied |= BIO_OPT_BIT(opt);
    }
}

/* ---- calls under SHIM_WATCH (state.h): a policy of log settings alone ---- */

/* A failure worth a line at this level: an operation still going on (a non-blocking
 * connect's EINPROGRESS, EALREADY, EINTR) is no failure, and nothing to accept or send yet is
 * an event loop's normal state (debug only), as on the ruled paths. */
static int idle_worth(enum sp_op op, int err)
{
    if (op == SP_OP_CONNECT && (err == EINPROGRESS || err == EALREADY || err == EINTR))
        return 0;
    if ((op == SP_OP_ACCEPT || op == SP_OP_SEND) &&
        (err == EAGAIN || err == EWOULDBLOCK || err == EINTR))
        return shim_log_level >= SP_LOG_DEBUG;
    return 1;
}

void shim_log_watched(enum sp_op op, int fd, int family, int type, const struct sockaddr *sa,
                      socklen_t len, int err)
{
    if (!idle_worth(op, err))
        return;
    struct sp_event ev;
    sp_event_init(&ev, op, fd);
    ev.err = err;
    ev.family = family;
    ev.type = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0 && err != EBADF && err != ENOTSOCK) { /* no fd table under SHIM_WATCH */
        int v;
        socklen_t l = sizeof v;
        if (shim_real.getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &l) == 0)
            ev.family = v;
        l = sizeof v;
        if (shim_real.getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &l) == 0)
            ev.type = v;
    }
    /* The program's address, unless the kernel said it could not be read (EFAULT), its
     * length is wrong (EINVAL), or the kernel failed before it read it (EBADF, ENOTSOCK:
     * the descriptor is looked up first): never read what the kernel did not. */
    if (sa && len >= sizeof(sa_family_t) && err != EFAULT && err != EINVAL && err != EBADF &&
        err != ENOTSOCK)
        sp_event_set_addr(&ev, op == SP_OP_BIND ? 0 : 1, sa, len);
    else if (op == SP_OP_LISTEN && fd >= 0) {
        bio_addr local;
        socklen_t llen = sizeof local;
        if (shim_real.getsockname(fd, &local.sa, &llen) == 0 && llen > sizeof(sa_family_t))
            sp_event_set_addr(&ev, 0, &local.sa, llen);
    }
    shim_log_event(&ev, NULL);
}
