/* policy/prog.c: the name `prog` rules match, as every front end reads it (the shim from
 * /proc/self/exe, the supervisor from /proc/PID/exe). Pure code: no syscall, errno untouched. */
#include <string.h>

#include "policy.h"

const char *sp_prog_from_exe(char *link, ssize_t n)
{
    if (n <= 0)
        return NULL;
    link[n] = 0;
    static const char del[] = " (deleted)";
    size_t dl = sizeof del - 1;
    if ((size_t)n > dl && !strcmp(link + n - dl, del))
        link[n - dl] = 0; /* replaced on disk since it started: still its name */
    const char *slash = strrchr(link, '/');
    return slash && slash[1] ? slash + 1 : link;
}
