/* cmd/cmd_run.c: `sockpolicy run [-c FILE | --trace] [--log DEST] [--supervise | --preload]
 * -- PROGRAM [ARGS...]`. By default (and with --preload) puts libsockpolicy.so in front of
 * LD_PRELOAD, passes the policy and log settings in the environment, and execs the program.
 * A statically linked program or a Go program, which no preload reaches, runs under the
 * seccomp supervisor instead (supervise/; --supervise forces it). */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "supervise.h"

#ifndef SP_LIBDIR
#define SP_LIBDIR "/usr/local/lib"
#endif

static void run_usage(FILE *f)
{
    fprintf(f, "usage: sockpolicy run [-c FILE | --trace] [--log DEST] [--supervise | --preload]\n"
               "                      [--allow-io-uring] [--] PROGRAM [ARGS...]\n"
               "  -c, --config FILE  the policy (default: $SOCKPOLICY_CONF, else /etc/sockpolicy.conf)\n"
               "  --trace            no policy: log every socket event of the program (to stderr,\n"
               "                     or --log DEST) and a summary at exit; every call goes through\n"
               "  --log DEST         log to DEST: a file, stderr, syslog, journald or off\n"
               "  --supervise        apply the policy with a seccomp supervisor (the default for\n"
               "                     static and Go programs): raw system calls are seen too\n"
               "  --preload          apply it with LD_PRELOAD (the default for other programs)\n"
               "  --allow-io-uring   under supervision, let io_uring_setup work (by default it\n"
               "                     fails with ENOSYS, so that programs fall back to plain calls)\n");
}

/* The library: next to this command (a build tree), else the installed libdir. */
static int find_library(char *out, size_t size)
{
    const char *env = getenv("SOCKPOLICY_LIBRARY");
    if (env && *env && access(env, R_OK) == 0) {
        snprintf(out, size, "%s", env);
        return 0;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = 0;
            if ((size_t)snprintf(out, size, "%s/libsockpolicy.so", self) < size && access(out, R_OK) == 0)
                return 0;
            /* installed as PREFIX/bin/sockpolicy: try PREFIX/lib too */
            if ((size_t)snprintf(out, size, "%s/../lib/libsockpolicy.so", self) < size &&
                access(out, R_OK) == 0)
                return 0;
        }
    }
    if ((size_t)snprintf(out, size, "%s/libsockpolicy.so", SP_LIBDIR) < size && access(out, R_OK) == 0)
        return 0;
    return -1;
}

/* PROGRAM as execvp would find it. */
static int find_program(const char *prog, char *out, size_t size)
{
    if (strchr(prog, '/')) {
        snprintf(out, size, "%s", prog);
        return access(out, F_OK);
    }
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t len = strcspn(path, ":");
        if ((size_t)snprintf(out, size, "%.*s/%s", (int)(len ? len : 1), len ? path : ".", prog) < size &&
            access(out, X_OK) == 0)
            return 0;
        path += len + (path[len] == ':');
    }
    return -1;
}

/* 1 when the ELF file has an interpreter (dynamically linked), 0 when it has none (static),
 * -1 when it is not an ELF file we can read (a script: exec decides). */
static int elf_is_dynamic(const char *file)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    unsigned char id[EI_NIDENT];
    int result = -1;
    if (pread(fd, id, sizeof id, 0) != (ssize_t)sizeof id || memcmp(id, ELFMAG, SELFMAG) != 0)
        goto out;
    uint64_t phoff;
    unsigned phnum, phentsize;
    if (id[EI_CLASS] == ELFCLASS64) {
        Elf64_Ehdr eh;
        if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh)
            goto out;
        phoff = eh.e_phoff, phnum = eh.e_phnum, phentsize = eh.e_phentsize;
    } else if (id[EI_CLASS] == ELFCLASS32) {
        Elf32_Ehdr eh;
        if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh)
            goto out;
        phoff = eh.e_phoff, phnum = eh.e_phnum, phentsize = eh.e_phentsize;
    } else {
        goto out;
    }
    result = 0;
    for (unsigned i = 0; i < phnum && i < 4096; i++) {
        uint32_t type;
        if (pread(fd, &type, sizeof type, (off_t)(phoff + (uint64_t)i * phentsize)) != (ssize_t)sizeof type) {
            result = -1;
            break;
        }
        if (type == PT_INTERP) {
            result = 1;
            break;
        }
    }
out:
    close(fd);
    return result;
}

/* One program or section header of an ELF file of class cls at off: the fields a caller needs
 * (for a section, *type is its name's offset in the section-name table). 0, or -1 unreadable. */
static int elf_header_at(int fd, int cls, int section, uint64_t off, uint32_t *type,
                         uint64_t *where, uint64_t *size)
{
    union { Elf64_Phdr p64; Elf32_Phdr p32; Elf64_Shdr s64; Elf32_Shdr s32; } h;
    size_t want = section ? (cls == ELFCLASS64 ? sizeof h.s64 : sizeof h.s32)
                          : (cls == ELFCLASS64 ? sizeof h.p64 : sizeof h.p32);
    if (pread(fd, &h, want, (off_t)off) != (ssize_t)want)
        return -1;
    if (section && cls == ELFCLASS64)
        *type = h.s64.sh_name, *where = h.s64.sh_offset, *size = h.s64.sh_size;
    else if (section)
        *type = h.s32.sh_name, *where = h.s32.sh_offset, *size = h.s32.sh_size;
    else if (cls == ELFCLASS64)
        *type = h.p64.p_type, *where = h.p64.p_offset, *size = h.p64.p_filesz;
    else
        *type = h.p32.p_type, *where = h.p32.p_offset, *size = h.p32.p_filesz;
    return 0;
}

/* 1 when the ELF file is a Go program: a note named "Go" in a PT_NOTE segment (the build id,
 * kept by `go build -ldflags=-s`) or a .go.buildinfo section; 0 otherwise or unreadable. Go's
 * net package makes its own system calls, so no policy applies to them. */
static int elf_is_go(const char *file)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    Elf64_Ehdr e64;
    Elf32_Ehdr e32;
    uint64_t phoff = 0, shoff = 0;
    unsigned phnum = 0, phentsize = 0, shnum = 0, shentsize = 0, shstrndx = 0;
    int cls = 0, go = 0;
    if (pread(fd, &e64, sizeof e64, 0) == (ssize_t)sizeof e64 && !memcmp(e64.e_ident, ELFMAG, SELFMAG))
        cls = e64.e_ident[EI_CLASS];
    if (cls == ELFCLASS64) {
        phoff = e64.e_phoff, phnum = e64.e_phnum, phentsize = e64.e_phentsize;
        shoff = e64.e_shoff, shnum = e64.e_shnum, shentsize = e64.e_shentsize, shstrndx = e64.e_shstrndx;
    } else if (cls == ELFCLASS32 && pread(fd, &e32, sizeof e32, 0) == (ssize_t)sizeof e32) {
        phoff = e32.e_phoff, phnum = e32.e_phnum, phentsize = e32.e_phentsize;
        shoff = e32.e_shoff, shnum = e32.e_shnum, shentsize = e32.e_shentsize, shstrndx = e32.e_shstrndx;
    }
    uint32_t type;
    uint64_t where, size;
    for (unsigned i = 0; !go && i < phnum && i < 4096; i++) {
        if (elf_header_at(fd, cls, 0, phoff + (uint64_t)i * phentsize, &type, &where, &size) != 0)
            break;
        unsigned char notes[4096];
        ssize_t n = type == PT_NOTE ? pread(fd, notes, size < sizeof notes ? size : sizeof notes,
                                            (off_t)where) : 0;
        for (ssize_t at = 0; !go && n > 0 && at + 12 <= n;) {
            uint32_t w[3]; /* namesz, descsz, type; then the name and the description */
            memcpy(w, notes + at, sizeof w);
            go = (w[0] == 3 || w[0] == 4) && at + 16 <= n && !memcmp(notes + at + 12, "Go", 3);
            at += 12 + (((uint64_t)w[0] + 3) & ~3ull) + (((uint64_t)w[1] + 3) & ~3ull);
        }
    }
    uint64_t names = 0;
    if (shstrndx >= shnum ||
        elf_header_at(fd, cls, 1, shoff + (uint64_t)shstrndx * shentsize, &type, &names, &size) != 0)
        shnum = 0;
    for (unsigned i = 0; !go && i < shnum && i < 4096; i++) {
        char name[sizeof ".go.buildinfo"];
        if (elf_header_at(fd, cls, 1, shoff + (uint64_t)i * shentsize, &type, &where, &size) != 0 ||
            pread(fd, name, sizeof name, (off_t)(names + type)) != (ssize_t)sizeof name)
            break;
        go = !memcmp(name, ".go.buildinfo", sizeof name);
    }
    close(fd);
    return go;
}

/* `run --supervise`: the policy as the shim would find it ($SOCKPOLICY_CONF, then
 * /etc/sockpolicy.conf, when readable), the log destination made absolute. */
static int run_supervised(const char *conf, int trace, const char *log, int uring,
                          const char *file, char **argv)
{
    char abs_conf[PATH_MAX], abs_log[PATH_MAX];
    if (!conf && !trace) {
        const char *env = getenv("SOCKPOLICY_CONF");
        conf = env && *env ? env : SP_SYSCONFDIR "/sockpolicy.conf";
        if (access(conf, R_OK) != 0)
            conf = NULL; /* no policy file: everything passes, as with the shim */
    }
    if (conf) {
        if (access(conf, R_OK) != 0) {
            fprintf(stderr, "sockpolicy run: %s: %s\n", conf, strerror(errno));
            return 2;
        }
        if (realpath(conf, abs_conf))
            conf = abs_conf;
    }
    if (log && log[0] != '/' && (strchr(log, '/') || (strcmp(log, "stderr") && strcmp(log, "syslog") &&
                                                       strcmp(log, "journald") && strcmp(log, "off"))) &&
        getcwd(abs_log, sizeof abs_log) && strlen(abs_log) + strlen(log) + 2 < sizeof abs_log) {
        strcat(abs_log, "/");
        strcat(abs_log, log);
        log = abs_log;
    }
    /* The supervisor applies the policy: a shim in the program (LD_PRELOAD from an outer run)
     * would apply it a second time. */
    unsetenv("SOCKPOLICY_TRACE");
    struct cmd_diag_count cnt = { 0, 0, 0 };
    struct sup_opts o = { conf, trace, log, uring, cmd_print_diag, &cnt };
    return sup_run(&o, file, argv);
}

int cmd_run(int argc, char **argv)
{
    const char *conf = NULL, *log = NULL;
    int i = 1, trace = 0, mode = 0, uring = 0; /* mode: 0 pick, 1 preload, 2 supervise */
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            i++;
            break;
        } else if ((!strcmp(a, "-c") || !strcmp(a, "--config")) && i + 1 < argc) {
            conf = argv[++i];
        } else if (!strncmp(a, "--config=", 9)) {
            conf = a + 9;
        } else if (!strcmp(a, "--log") && i + 1 < argc) {
            log = argv[++i];
        } else if (!strncmp(a, "--log=", 6)) {
            log = a + 6;
        } else if (!strcmp(a, "--trace")) {
            trace = 1;
        } else if (!strcmp(a, "--supervise")) {
            mode = 2;
        } else if (!strcmp(a, "--preload")) {
            mode = 1;
        } else if (!strcmp(a, "--allow-io-uring")) {
            uring = 1;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            run_usage(stdout);
            return 0;
        } else if (a[0] == '-') {
            fprintf(stderr, "sockpolicy run: unknown option %s\n", a);
            run_usage(stderr);
            return 2;
        } else {
            break;
        }
    }
    if (i >= argc) {
        fprintf(stderr, "sockpolicy run: no program to run\n");
        run_usage(stderr);
        return 2;
    }
    if (trace && conf) {
        fprintf(stderr, "sockpolicy run: --trace runs without a policy: give -c or --trace, "
                        "not both\n");
        return 2;
    }
    const char *prog = argv[i];
    char lib[PATH_MAX], file[PATH_MAX], abs_conf[PATH_MAX];
    if (find_program(prog, file, sizeof file) != 0) {
        fprintf(stderr, "sockpolicy run: %s: command not found\n", prog);
        return 127;
    }
    if (mode == 0) {
        int is_static = elf_is_dynamic(file) == 0, is_go = elf_is_go(file);
        if (is_static || is_go) {
            fprintf(stderr, "sockpolicy run: %s is %s: running it under the seccomp supervisor "
                            "(--supervise), which sees its system calls\n",
                    file, is_go ? "a Go program" : "statically linked");
            mode = 2;
        }
    }
    if (mode == 2)
        return run_supervised(conf, trace, log, uring, file, argv + i);
    if (find_library(lib, sizeof lib) != 0) {
        fprintf(stderr, "sockpolicy run: cannot find libsockpolicy.so next to this command or in %s\n",
                SP_LIBDIR);
        return 1;
    }
    if (elf_is_dynamic(file) == 0) {
        fprintf(stderr,
                "sockpolicy run: %s is statically linked: it has no dynamic loader, so LD_PRELOAD "
                "cannot put libsockpolicy.so in front of its socket calls and no policy would "
                "apply. Run a dynamically linked build of it instead.\n",
                file);
        return 126;
    }
    if (elf_is_go(file))
        fprintf(stderr,
                "sockpolicy run: warning: %s is a Go program: Go's runtime makes its socket "
                "system calls itself, not through libc, so the policy does not apply to its "
                "connections (only to calls its C code makes).\n",
                file);
    struct stat st;
    if (stat(file, &st) == 0 && (st.st_mode & (S_ISUID | S_ISGID)))
        fprintf(stderr,
                "sockpolicy run: warning: %s is set%sid: the loader ignores a preload from a "
                "non-system path and the shim ignores SOCKPOLICY_* in it; only a root-owned "
                "/etc/sockpolicy.conf applies, if the library is installed system-wide.\n",
                file, (st.st_mode & S_ISUID) ? "u" : "g");
    /* the shim's default log sink is then this terminal's stderr (elsewhere: syslog) */
    setenv("SOCKPOLICY_RUN", "1", 1);
    if (trace) {
        /* the shim reads it as: no policy file, log all, everything passes through */
        setenv("SOCKPOLICY_TRACE", "1", 1);
        unsetenv("SOCKPOLICY_CONF");
    } else {
        unsetenv("SOCKPOLICY_TRACE"); /* a trace asked of an outer run is not this run's */
    }
    if (conf) {
        if (access(conf, R_OK) != 0) {
            fprintf(stderr, "sockpolicy run: %s: %s\n", conf, strerror(errno));
            return 2;
        }
        if (realpath(conf, abs_conf)) /* children that chdir still find it */
            conf = abs_conf;
        setenv("SOCKPOLICY_CONF", conf, 1);
    }
    if (log) {
        char abs_log[PATH_MAX];
        if (strchr(log, '/') || (strcmp(log, "stderr") && strcmp(log, "syslog") &&
                                 strcmp(log, "journald") && strcmp(log, "off"))) {
            /* a file, relative to here: make it absolute */
            if (log[0] != '/' && getcwd(abs_log, sizeof abs_log) &&
                strlen(abs_log) + strlen(log) + 2 < sizeof abs_log) {
                strcat(abs_log, "/");
                strcat(abs_log, log);
                log = abs_log;
            }
        }
        setenv("SOCKPOLICY_LOG", log, 1);
    }
    const char *old = getenv("LD_PRELOAD");
    if (old && *old) {
        size_t n = strlen(lib) + strlen(old) + 2;
        char *both = malloc(n);
        if (!both) {
            perror("sockpolicy run");
            return 1;
        }
        snprintf(both, n, "%s %s", lib, old);
        setenv("LD_PRELOAD", both, 1);
        free(both);
    } else {
        setenv("LD_PRELOAD", lib, 1);
    }
    execv(file, argv + i);
    int err = errno;
    fprintf(stderr, "sockpolicy run: cannot run %s: %s\n", file, strerror(err));
    return err == ENOENT ? 127 : 126;
}
