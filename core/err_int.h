/* core/err_int.h: private to core/: pushing entries onto the per-thread error queue, and the
 * system call table read without a call. */
#ifndef SOCKPOLICY_CORE_ERR_INT_H
#define SOCKPOLICY_CORE_ERR_INT_H

#include "bio.h"
#include "sysops.h"

/* The table bio_sysops() returns, read directly inside core/ without the call (hidden: not a
 * symbol of the library, so a program linking core and libcrypto sees no new name). Spelled
 * bio__ops at each use, not through a macro named like the function, so grep tells them apart. */
extern const struct bio_sysops *bio__ops __attribute__((visibility("hidden")));

/* Queues a system entry (BIO_ERR_SYS_FLAG | err) with its static data string
 * ("calling connect()"). Never touches errno. */
void bio_err_sys(int err, const char *data);
/* Queues a BIO entry (BIO_ERR_LIB_BIO | reason), no data. Never touches errno. */
void bio_err_bio(int reason);

#endif
