/* core/addr.c: bio_addr, as OpenSSL's BIO_ADDR (section 2 of the reference). Never queues an
 * error, never touches errno. */
#include <string.h>

#include "bio.h"

int bio_addr_rawmake(bio_addr *ap, int family, const void *where, size_t wherelen,
                     unsigned short port)
{
    switch (family) {
    case AF_INET:
        if (wherelen != sizeof(struct in_addr))
            return 0;
        /* Zeroes the sockaddr_in region only, as 3.0's make does. */
        memset(&ap->s_in, 0, sizeof ap->s_in);
        ap->s_in.sin_family = AF_INET;
        ap->s_in.sin_port = port;
        memcpy(&ap->s_in.sin_addr, where, sizeof ap->s_in.sin_addr);
        return 1;
    case AF_INET6:
        if (wherelen != sizeof(struct in6_addr))
            return 0;
        memset(&ap->s_in6, 0, sizeof ap->s_in6);
        ap->s_in6.sin6_family = AF_INET6;
        ap->s_in6.sin6_port = port;
        memcpy(&ap->s_in6.sin6_addr, where, sizeof ap->s_in6.sin6_addr);
        return 1;
    case AF_UNIX:
        if (wherelen + 1 > sizeof ap->s_un.sun_path)
            return 0;
        memset(&ap->s_un, 0, sizeof ap->s_un);
        ap->s_un.sun_family = AF_UNIX;
        /* strncpy semantics on purpose: BIO stops at the first NUL and reads up to 107 bytes
         * whatever wherelen says (reference section 2). */
        strncpy(ap->s_un.sun_path, where, sizeof ap->s_un.sun_path - 1);
        return 1;
    default:
        return 0;
    }
}

int bio_addr_family(const bio_addr *ap)
{
    return ap->sa.sa_family;
}

int bio_addr_rawaddress(const bio_addr *ap, void *p, size_t *l)
{
    size_t len;
    const void *src;

    switch (ap->sa.sa_family) {
    case AF_INET:
        len = sizeof ap->s_in.sin_addr;
        src = &ap->s_in.sin_addr;
        break;
    case AF_INET6:
        len = sizeof ap->s_in6.sin6_addr;
        src = &ap->s_in6.sin6_addr;
        break;
    case AF_UNIX:
        len = strnlen(ap->s_un.sun_path, sizeof ap->s_un.sun_path);
        src = ap->s_un.sun_path;
        break;
    default:
        return 0;
    }
    if (p != NULL)
        memcpy(p, src, len);
    if (l != NULL)
        *l = len;
    return 1;
}

unsigned short bio_addr_rawport(const bio_addr *ap)
{
    if (ap->sa.sa_family == AF_INET)
        return ap->s_in.sin_port;
    if (ap->sa.sa_family == AF_INET6)
        return ap->s_in6.sin6_port;
    return 0;
}

void bio_addr_clear(bio_addr *ap)
{
    memset(ap, 0, sizeof *ap);
    ap->sa.sa_family = AF_UNSPEC;
}

socklen_t bio_addr_sockaddr_size(const bio_addr *ap)
{
    switch (ap->sa.sa_family) {
    case AF_INET:
        return sizeof(struct sockaddr_in);
    case AF_INET6:
        return sizeof(struct sockaddr_in6);
    case AF_UNIX:
        return sizeof(struct sockaddr_un);
    default:
        return sizeof(bio_addr);
    }
}

int bio_addr_from_sockaddr(bio_addr *ap, const struct sockaddr *sa, socklen_t len)
{
    size_t n = len < sizeof *ap ? len : sizeof *ap;

    if (sa == NULL)
        return 0;
    memcpy(ap, sa, n);
    memset((char *)ap + n, 0, sizeof *ap - n);
    return 1;
}

const struct sockaddr *bio_addr_sockaddr(const bio_addr *ap)
{
    return &ap->sa;
}
