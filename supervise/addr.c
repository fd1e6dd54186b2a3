/* supervise/addr.c: the address a trapped call passes, read once from the program's memory
 * into the supervisor's own buffer: what the policy decides on is what the call uses, whatever
 * another thread of the program writes there meanwhile.
 * TODO: the shared sp_addr_normalize() (policy/, being written) replaces sup_addr_matchable. */
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/un.h>

#include "sup.h"

int sup_read_addr(struct sup_call *c, uint64_t ptr, uint64_t len)
{
    memset(&c->addr, 0, sizeof c->addr);
    c->addrlen = 0;
    /* As the kernel's move_addr_to_kernel: a negative or oversized length is EINVAL. */
    if ((int)len < 0 || len > sizeof c->addr)
        return EINVAL;
    if (len == 0)
        return 0;
    if (sup_read_mem(c, ptr, &c->addr, (size_t)len) != 0)
        return EFAULT;
    c->addrlen = (socklen_t)len;
    return 0;
}

int sup_addr_matchable(const struct sup_call *c)
{
    if (c->addrlen < sizeof(sa_family_t) || c->addr.ss_family != c->family)
        return 0;
    switch (c->family) {
    case AF_INET:
        return c->addrlen >= sizeof(struct sockaddr_in);
    case AF_INET6:
        return c->addrlen >= 24; /* SIN6_LEN_RFC2133: no scope id, read as 0 */
    case AF_UNIX:
        return c->addrlen > offsetof(struct sockaddr_un, sun_path);
    default:
        return 0;
    }
}
