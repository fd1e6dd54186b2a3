/* policy/names.c: how the language spells operations, actions, errno values and options. */
#include <errno.h>

#include "bio.h"
#include "policy_int.h"

/* The words of the language, one table each: rule.c parses with them, the log prints them. */
const char *const sp__op_words[SP_OP_COUNT + 1] = {"socket", "bind",   "listen", "connect",
                                                   "accept", "send",   "any"};
const char *const sp__action_words[SP_ACT_COUNT] = {"set", "pass", "deny", "audit", "fail", "delay"};

const char *sp_op_name(enum sp_op op)
{
    return (unsigned)op < SP_OP_COUNT ? sp__op_words[op] : NULL;
}

const char *sp_action_name(enum sp_action a)
{
    unsigned i = (unsigned)a - SP_ACT_SET;
    return i < SP_ACT_COUNT ? sp__action_words[i] : NULL;
}

/* errno names are core's table (core/errno_tab.c), the one the log lines print. */
const char *sp_errno_name(int err)
{
    return bio_errno_name(err);
}

int sp_errno_from_name(const char *name, size_t len)
{
    return bio_errno_from_name(name, len);
}

#define OPS_ALL ((1u << SP_OP_COUNT) - 1)
#define OP(o) (1u << SP_OP_##o)

struct optdef {
    const char *name;
    int id;
    unsigned ops; /* where it means something */
};

static const struct optdef optdefs[] = {
    {"keepalive", SP_O_KEEPALIVE, OPS_ALL & ~OP(SEND)},
    {"keepalive-idle", SP_O_KEEPIDLE, OPS_ALL & ~OP(SEND)},
    {"keepalive-interval", SP_O_KEEPINTVL, OPS_ALL & ~OP(SEND)},
    {"keepalive-intvl", SP_O_KEEPINTVL, OPS_ALL & ~OP(SEND)},
    {"keepalive-count", SP_O_KEEPCNT, OPS_ALL & ~OP(SEND)},
    {"keepalive-cnt", SP_O_KEEPCNT, OPS_ALL & ~OP(SEND)},
    {"nodelay", SP_O_NODELAY, OPS_ALL},
    {"tfo", SP_O_TFO, OP(CONNECT) | OP(SEND) | OP(LISTEN)},
    {"tfo-queue", SP_O_TFO_QUEUE, OP(LISTEN)},
    {"user-timeout", SP_O_USER_TIMEOUT, OPS_ALL},
    {"syn-count", SP_O_SYNCNT, OP(SOCKET) | OP(BIND) | OP(CONNECT) | OP(SEND)},
    {"reuseaddr", SP_O_REUSEADDR, OP(SOCKET) | OP(BIND) | OP(LISTEN)},
    {"reuseport", SP_O_REUSEPORT, OP(SOCKET) | OP(BIND) | OP(LISTEN)},
    {"v6only", SP_O_V6ONLY, OP(SOCKET) | OP(BIND) | OP(LISTEN)},
    {"nonblock", SP_O_NONBLOCK, OPS_ALL},
    {"mark", SP_O_MARK, OPS_ALL},
    {"tos", SP_O_TOS, OPS_ALL},
    {"rcvbuf", SP_O_RCVBUF, OPS_ALL},
    {"sndbuf", SP_O_SNDBUF, OPS_ALL},
    {"linger", SP_O_LINGER, OPS_ALL & ~OP(SEND)},
    {"congestion", SP_O_CONGESTION, OPS_ALL & ~OP(SEND)},
    {"bind-device", SP_O_BINDDEV, OPS_ALL},
    {"connect-timeout", SP_O_CONNECT_TIMEOUT, OP(CONNECT)},
    {"pin", SP_O_PIN, OPS_ALL},
    {"errno", SP_O_ERRNO, OPS_ALL},
    {"rate", SP_O_RATE, OPS_ALL},
    {"by", SP_O_BY, OPS_ALL},
};

int sp__opt_lookup(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof optdefs / sizeof optdefs[0]; i++)
        if (sp__streq(s, n, optdefs[i].name))
            return optdefs[i].id;
    return -1;
}

const char *sp__opt_name(int id)
{
    for (size_t i = 0; i < sizeof optdefs / sizeof optdefs[0]; i++)
        if (optdefs[i].id == id)
            return optdefs[i].name;
    return "?";
}

unsigned sp__opt_ops(int id)
{
    for (size_t i = 0; i < sizeof optdefs / sizeof optdefs[0]; i++)
        if (optdefs[i].id == id)
            return optdefs[i].ops;
    return 0;
}
