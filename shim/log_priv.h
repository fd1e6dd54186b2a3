/* shim/log_priv.h: what the logger's own files (log_env.c, log_cfg.c, log_event.c, pending.c)
 * share and nothing else includes. The public contract is log.h. */
#ifndef SOCKPOLICY_SHIM_LOG_PRIV_H
#define SOCKPOLICY_SHIM_LOG_PRIV_H

#include <stddef.h>

#include "diag.h"

/* ---- log_env.c: the environment as the process started with it, and fd 2 then ---- */

/* The longest $SOCKPOLICY_LOG file path kept, made absolute. */
#define SHIM_LOG_ENV_MAX 255
/* The logger is being set up for a process that is secure (AT_SECURE) or not: reads the
 * environment if the constructor did not, and notes fd 2 if not yet. */
void shim_log_env_use(int secure);
/* $SOCKPOLICY_LOG as read at start ("" when unset or refused), whatever secure says. */
const char *shim_log_env_dest(void);
/* Whether the default sink is stderr: `sockpolicy run` ($SOCKPOLICY_RUN), not secure. */
int shim_log_user_stderr(void);
/* Whether fd 2 is still the file it was at start-up (one fstat). */
int shim_log_stderr_same(void);
/* The length of a $SOCKPOLICY_LOG refused as too long, once (then 0): for one line. */
size_t shim_log_env_refused_once(void);

/* ---- log_cfg.c: the configuration in force and its sink ---- */

/* Writes ev through the current configuration (level filter, rate limit, format, sink),
 * counting it in the summary; opens the sink at the first line. errno is not saved here: the
 * callers save it. */
void shim_log_emit(struct sp_event *ev);
/* Whether `sockpolicy run --trace` set the log up (events then name no rule). */
int shim_log_tracing(void);
/* The real functions the diagnosis library makes and closes its sockets with. */
const struct sp_diag_ops *shim_log_ops(void);
/* Whether the logger is set up and logs anything (the exit handler's test). */
int shim_log_active(void);
/* At exit: the summary and the suppressed-lines count, if any are kept. errno preserved. */
void shim_log_finish(void);

#endif
