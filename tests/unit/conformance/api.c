/* tests/unit/conformance/api.c: OpenSSL's BIO_* and our bio_* behind one table. */
#include "conformance.h"

static void *o_addr_new(void) { return BIO_ADDR_new(); }
static void o_addr_free(void *a) { BIO_ADDR_free(a); }
static int o_rawmake(void *a, int f, const void *w, size_t wl, unsigned short p)
{
    return BIO_ADDR_rawmake(a, f, w, wl, p);
}
static int o_family(const void *a) { return BIO_ADDR_family(a); }
static int o_rawaddress(const void *a, void *p, size_t *l) { return BIO_ADDR_rawaddress(a, p, l); }
static unsigned short o_rawport(const void *a) { return BIO_ADDR_rawport(a); }
static int o_bind(int s, const void *a, int o) { return BIO_bind(s, a, o); }
static int o_connect(int s, const void *a, int o) { return BIO_connect(s, a, o); }
static int o_listen(int s, const void *a, int o) { return BIO_listen(s, a, o); }
static int o_accept_ex(int s, void *a, int o) { return BIO_accept_ex(s, a, o); }
static int o_sock_info(int s, int type, void *a)
{
    union BIO_sock_info_u u;

    u.addr = a;
    return BIO_sock_info(s, (enum BIO_sock_info_type)type, &u);
}
static unsigned long o_err_get(const char **data)
{
    int flags = 0;
    unsigned long e;

    if (data)
        *data = NULL; /* an empty queue leaves it unset */
    e = ERR_get_error_all(NULL, NULL, NULL, data, &flags);

    if (data && *data && **data == 0)
        *data = NULL;
    return e;
}

static void *s_addr_new(void)
{
    bio_addr *a = calloc(1, sizeof *a);

    bio_addr_clear(a);
    return a;
}
static int s_rawmake(void *a, int f, const void *w, size_t wl, unsigned short p)
{
    return bio_addr_rawmake(a, f, w, wl, p);
}
static int s_family(const void *a) { return bio_addr_family(a); }
static int s_rawaddress(const void *a, void *p, size_t *l) { return bio_addr_rawaddress(a, p, l); }
static unsigned short s_rawport(const void *a) { return bio_addr_rawport(a); }
static int s_bind(int s, const void *a, int o) { return bio_bind(s, a, o); }
static int s_connect(int s, const void *a, int o) { return bio_connect(s, a, o); }
static int s_listen(int s, const void *a, int o) { return bio_listen(s, a, o); }
static int s_accept_ex(int s, void *a, int o) { return bio_accept_ex(s, a, o); }
static int s_sock_info(int s, int type, void *a)
{
    union bio_sock_info_u u;

    u.addr = a;
    return bio_sock_info(s, (enum bio_sock_info_type)type, &u);
}

const struct api openssl_api = {
    "openssl",      o_addr_new,          o_addr_free,    o_rawmake,     o_family,
    o_rawaddress,   o_rawport,           BIO_socket,     o_bind,        o_connect,
    o_listen,       o_accept_ex,         BIO_closesocket, BIO_sock_error, o_sock_info,
    BIO_socket_nbio, BIO_set_tcp_ndelay, BIO_sock_should_retry, BIO_sock_non_fatal_error,
    o_err_get,      ERR_clear_error,
};
const struct api ours_api = {
    "ours",         s_addr_new,          free,           s_rawmake,     s_family,
    s_rawaddress,   s_rawport,           bio_socket,     s_bind,        s_connect,
    s_listen,       s_accept_ex,         bio_closesocket, bio_sock_error, s_sock_info,
    bio_socket_nbio, bio_set_tcp_ndelay, bio_sock_should_retry, bio_sock_non_fatal_error,
    bio_err_get,    bio_err_clear,
};
