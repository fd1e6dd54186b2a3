/* core/bio.h: our implementation of OpenSSL's BIO socket routines (Linux, OpenSSL 3.0
 * behaviour; TFO as in 3.2+ on Linux). The contract is ../shared/spec/bio-sockets.md.
 * No policy, no logging. Every system call goes through the table in core/sysops.h.
 *
 * Flag and reason names are those of <openssl/bio.h> with the same values, guarded so that
 * this header and OpenSSL's can be included in one file. Our symbols are lower case
 * (bio_connect), OpenSSL's upper case (BIO_connect): both libraries link into one program. */
#ifndef SOCKPOLICY_CORE_BIO_H
#define SOCKPOLICY_CORE_BIO_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#ifndef BIO_SOCK_REUSEADDR
#define BIO_SOCK_REUSEADDR 0x01
#endif
#ifndef BIO_SOCK_V6_ONLY
#define BIO_SOCK_V6_ONLY 0x02
#endif
#ifndef BIO_SOCK_KEEPALIVE
#define BIO_SOCK_KEEPALIVE 0x04
#endif
#ifndef BIO_SOCK_NONBLOCK
#define BIO_SOCK_NONBLOCK 0x08
#endif
#ifndef BIO_SOCK_NODELAY
#define BIO_SOCK_NODELAY 0x10
#endif
#ifndef BIO_SOCK_TFO
#define BIO_SOCK_TFO 0x20
#endif

/* Our extension, honoured by bio_connect_sa only: leave the socket's blocking mode as it is
 * (no FIONBIO), for a caller that has already made the mode what it wants. A high bit, so it
 * can never collide with a future OpenSSL flag; bio_connect ignores it, as BIO_connect ignores
 * every bit it does not know. */
#define SP_BIO_KEEP_MODE 0x40000000

/* Reason codes (lib BIO), values as in OpenSSL's bioerr.h. */
#ifndef BIO_R_ACCEPT_ERROR
#define BIO_R_ACCEPT_ERROR 100
#endif
#ifndef BIO_R_CONNECT_ERROR
#define BIO_R_CONNECT_ERROR 103
#endif
#ifndef BIO_R_UNABLE_TO_TFO
#define BIO_R_UNABLE_TO_TFO 109
#endif
#ifndef BIO_R_UNABLE_TO_BIND_SOCKET
#define BIO_R_UNABLE_TO_BIND_SOCKET 117
#endif
#ifndef BIO_R_UNABLE_TO_CREATE_SOCKET
#define BIO_R_UNABLE_TO_CREATE_SOCKET 118
#endif
#ifndef BIO_R_UNABLE_TO_LISTEN_SOCKET
#define BIO_R_UNABLE_TO_LISTEN_SOCKET 119
#endif
#ifndef BIO_R_GETSOCKNAME_ERROR
#define BIO_R_GETSOCKNAME_ERROR 132
#endif
#ifndef BIO_R_GETSOCKNAME_TRUNCATED_ADDRESS
#define BIO_R_GETSOCKNAME_TRUNCATED_ADDRESS 133
#endif
#ifndef BIO_R_GETTING_SOCKTYPE
#define BIO_R_GETTING_SOCKTYPE 134
#endif
#ifndef BIO_R_INVALID_SOCKET
#define BIO_R_INVALID_SOCKET 135
#endif
#ifndef BIO_R_LISTEN_V6_ONLY
#define BIO_R_LISTEN_V6_ONLY 136
#endif
#ifndef BIO_R_UNABLE_TO_KEEPALIVE
#define BIO_R_UNABLE_TO_KEEPALIVE 137
#endif
#ifndef BIO_R_UNABLE_TO_NODELAY
#define BIO_R_UNABLE_TO_NODELAY 138
#endif
#ifndef BIO_R_UNABLE_TO_REUSEADDR
#define BIO_R_UNABLE_TO_REUSEADDR 139
#endif
#ifndef BIO_R_UNKNOWN_INFO_TYPE
#define BIO_R_UNKNOWN_INFO_TYPE 140
#endif

/* Packed error codes, as ERR_get_error() returns them. */
#define BIO_ERR_SYS_FLAG 0x80000000UL /* | errno: a system call failed */
#define BIO_ERR_LIB_BIO 0x10000000UL  /* | reason: ERR_LIB_BIO (32) << 23 */

/* The address: a union like OpenSSL's BIO_ADDR (112 bytes on x86_64), but public so that
 * it can live on the stack (the shim may not allocate). */
typedef union bio_addr {
    struct sockaddr sa;
    struct sockaddr_in s_in;
    struct sockaddr_in6 s_in6;
    struct sockaddr_un s_un;
} bio_addr;

/* Only the address query exists (BIO_SOCK_INFO_ADDRESS in OpenSSL, an enum we cannot guard). */
enum bio_sock_info_type { bio_sock_info_address = 0 };
union bio_sock_info_u {
    bio_addr *addr;
};

/* Returns the fd, or -1 with errno set and two error entries queued (socket(), reason 118). */
int bio_socket(int domain, int socktype, int protocol, int options);
/* Returns 1, or 0 with errno set and the error queue filled as BIO_bind does. */
int bio_bind(int sock, const bio_addr *addr, int options);
/* Returns 1, or 0 (errno set; the queue is empty for a non-fatal errno such as EINPROGRESS). */
int bio_connect(int sock, const bio_addr *addr, int options);
/* Returns 1, or 0 with errno set; always binds, as BIO_listen does. */
int bio_listen(int sock, const bio_addr *addr, int options);
/* Returns the accepted fd, or -1 with errno set (queue empty for a non-fatal errno). */
int bio_accept_ex(int accept_sock, bio_addr *peer, int options);
/* Returns 1, or 0 (sock < 0: no syscall; close failed: errno from close). Never queues. */
int bio_closesocket(int sock);
/* Returns the pending socket error (0 if none), or errno if getsockopt failed. Never queues. */
int bio_sock_error(int sock);
/* Returns 1 with the local address in info->addr, or 0 with the queue filled. */
int bio_sock_info(int sock, enum bio_sock_info_type type, union bio_sock_info_u *info);
/* Returns 1 if ioctl(FIONBIO, mode) worked, else 0 with one SYS entry queued. */
int bio_socket_nbio(int s, int mode);
/* Returns 1 if setsockopt(TCP_NODELAY, turn_on) worked, else 0; errno from setsockopt. */
int bio_set_tcp_ndelay(int sock, int turn_on);
/* True when i is 0 or -1 and errno is one BIO treats as retryable (EAGAIN, EINPROGRESS...). */
int bio_sock_should_retry(int i);
/* True for the errnos BIO treats as non-fatal. */
int bio_sock_non_fatal_error(int err);

/* Variants on a plain sockaddr and its length, for the shim (which has no bio_addr and must
 * keep the program's own address length, e.g. for abstract AF_UNIX names). Same steps,
 * returns and errno as bio_bind / bio_connect; bio_accept_sa uses accept4(flags) when flags
 * is not 0, stores the peer's length in *len when len is not NULL, and sets the accepted
 * socket's mode with FIONBIO only when the options ask for a mode accept4's flags did not
 * already give (bio_accept_ex always makes that ioctl, as BIO_accept_ex does). */
int bio_bind_sa(int sock, const struct sockaddr *sa, socklen_t len, int options);
int bio_connect_sa(int sock, const struct sockaddr *sa, socklen_t len, int options);
int bio_accept_sa(int accept_sock, struct sockaddr *sa, socklen_t *len, int options, int flags);

/* bio_addr helpers, as BIO_ADDR_*. rawmake returns 1, or 0 leaving ap unchanged. */
int bio_addr_rawmake(bio_addr *ap, int family, const void *where, size_t wherelen,
                     unsigned short port);
int bio_addr_family(const bio_addr *ap);
int bio_addr_rawaddress(const bio_addr *ap, void *p, size_t *l);
unsigned short bio_addr_rawport(const bio_addr *ap);
void bio_addr_clear(bio_addr *ap);
/* The length BIO passes to the kernel: 16, 28, 110 or sizeof(bio_addr). */
socklen_t bio_addr_sockaddr_size(const bio_addr *ap);
/* Wraps a plain sockaddr: copies min(len, sizeof *ap) bytes and zeroes the rest.
 * Returns 1, or 0 when sa is NULL. */
int bio_addr_from_sockaddr(bio_addr *ap, const struct sockaddr *sa, socklen_t len);
/* The address as a plain sockaddr (the same storage). */
const struct sockaddr *bio_addr_sockaddr(const bio_addr *ap);

/* The per-thread error queue (fixed size, no malloc, async-signal-safe, errno untouched).
 * bio_err_get: the oldest entry's packed code (0 when empty) and its data string, or NULL. */
unsigned long bio_err_get(const char **data);
/* The newest entry's code without removing it, or 0. */
unsigned long bio_err_peek_last(void);
/* Empties this thread's queue. */
void bio_err_clear(void);
/* Reason text for a packed code: "unable to keepalive" for BIO codes, strerror-like text for
 * SYS codes; NULL when unknown. Static storage, no malloc. */
const char *bio_err_reason_string(unsigned long code);
/* The errno's symbolic name ("EINPROGRESS") and glibc's English text ("Operation now in
 * progress"), or NULL when unknown. Static storage; never calls strerror, never sets errno. */
const char *bio_errno_name(int err);
const char *bio_errno_text(int err);
/* The errno value whose name is the len bytes at name ("ECONNREFUSED"; glibc's other names
 * EWOULDBLOCK, ENOTSUP and EDEADLOCK too), or 0 when none is. Never sets errno. */
int bio_errno_from_name(const char *name, size_t len);

#endif
