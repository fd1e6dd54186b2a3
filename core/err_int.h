/* core/err_int.h: private to core/: pushing entries onto the per-thread error queue. */
#ifndef SOCKPOLICY_CORE_ERR_INT_H
#define SOCKPOLICY_CORE_ERR_INT_H

#include "bio.h"

/* Queues a system entry (BIO_ERR_SYS_FLAG | err) with its static data string
 * ("calling connect()"). Never touches errno. */
void bio_err_sys(int err, const char *data);
/* Queues a BIO entry (BIO_ERR_LIB_BIO | reason), no data. Never touches errno. */
void bio_err_bio(int reason);

#endif
