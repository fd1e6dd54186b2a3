/* shim/apply.h: forcing a rule's options on a socket, and turning BIO's answers back into
 * what libc returns. A policy option the kernel refuses never fails the program's call: it is
 * logged by name and errno. */
#ifndef SOCKPOLICY_SHIM_APPLY_H
#define SOCKPOLICY_SHIM_APPLY_H

#include <stdint.h>

#include "fdtab.h"
#include "policy.h"

/* Options that are only meaningful at one step. */
#define SHIM_OPTS_LISTEN_AFTER BIO_OPT_BIT(BIO_OPT_TFO_QLEN)
#define SHIM_OPTS_ALL ((uint32_t)((1ULL << BIO_OPT_COUNT) - 1))

/* Sets rule->opts.mask & which on fd through bio_opt_apply, logging each refusal (name,
 * errno) and, at log level all, what was forced. Returns the number that failed. errno
 * preserved. */
int shim_apply_opts(int fd, const struct sp_rule *rule, uint32_t which, enum sp_op op);
/* The same for a socket of known family and type (no syscall to learn them). */
int shim_apply_opts_kind(int fd, const struct sp_rule *rule, uint32_t which, enum sp_op op,
                         int family, int type);

/* Moves the options BIO can set itself (keepalive, nodelay, TFO connect, reuseaddr: those in
 * flags_ok, forced on with a non-zero value) from *which into the returned BIO_SOCK_* flags. */
int shim_bio_flags(const struct sp_rule *rule, int family, int type, uint32_t *which, int flags_ok);

/* After bio_connect_sa/bio_bind_sa returned 0: when the newest queued error says an option step
 * failed, logs it by name and errno, clears that flag from *flags and returns 1 (retry without
 * it); else returns 0 (the call itself failed). The queue is emptied; errno preserved. */
int shim_bio_option_failed(int fd, int *flags, enum sp_op op);

/* Forces rule's options (which; rule may be NULL: none) on nfd, just accepted on listener lfd.
 * Options accepted sockets inherit (SHIM_OPTS_INHERITED) are set once on the listener instead,
 * its own values kept; an accepted socket then needs one getsockopt to confirm it has them,
 * unless sure (shim_fd_inh_sure of lfd, read before the accept call) is the listener's rule.
 * A peer of another rule gets the listener's own values back, and the listener gives the
 * scheme up. errno preserved. */
void shim_accept_opts_slow(int lfd, int nfd, const struct sp_rule *rule, uint32_t which,
                           int family, int type, const struct sp_rule *sure);
/* l: lfd's entry (shim_fd_peek), as the caller looked it up. */
static inline void shim_accept_opts(struct shim_fd *l, int lfd, int nfd, const struct sp_rule *rule,
                                    uint32_t which, int family, int type,
                                    const struct sp_rule *sure)
{
    /* The common case once the listener is set up: nfd inherited its values (sure), from the
     * rule this peer has too. No call unless the rule has options that are not inherited. */
    if (sure && sure == rule && l && __atomic_load_n(&l->inh_rule, __ATOMIC_ACQUIRE) == sure) {
        uint32_t want = rule->opts.mask & which & ~l->inh_mask;
        if (want)
            shim_apply_opts_kind(nfd, rule, want, SP_OP_ACCEPT, family, type);
        return;
    }
    shim_accept_opts_slow(lfd, nfd, rule, which, family, type, sure);
}
/* The program set an option on lfd itself: inherited values are its own from now on. */
void shim_inherit_forget(int lfd);

/* Records that the program may not change rule's forced options on fd (`pin`). */
void shim_pin_slow(int fd, const struct sp_rule *rule, int family, int type);
static inline void shim_pin(int fd, const struct sp_rule *rule, int family, int type)
{
    if (rule && rule->pin && rule->opts.mask)
        shim_pin_slow(fd, rule, family, type);
}

/* Forces O_NONBLOCK on fd (read-modify-write). errno preserved. */
void shim_set_nonblock(int fd);

#endif
