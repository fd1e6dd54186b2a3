#!/usr/bin/env bash
# `make install DESTDIR=... PREFIX=/usr` lays out what a Debian system expects (library in the
# multiarch directory, man pages, completion, /etc/sockpolicy.conf kept if present), the
# installed pkg-config file builds a program against the installed core library that then
# works, and `make uninstall` takes it all away again (but not the configuration).
# Built in a copy of build/ so that the suite's own build keeps its paths.
. "$(dirname "$0")/shim_lib.sh"
cd "$SP_TOP" || exit 1
ROOT=$TMP/root
B=$TMP/build
ma=$(${CC:-cc} -print-multiarch 2>/dev/null)
LIB=/usr/lib${ma:+/$ma}
mkdir -p "$B"
cp -a "$SP_BUILD/obj" "$B/" 2>/dev/null
cp -a "$SP_BUILD"/*.a "$SP_BUILD"/*.so "$SP_BUILD/sockpolicy" "$B/" 2>/dev/null
inst() { make -s BUILD="$B" SANITIZE="${SANITIZE:-}" PREFIX=/usr DESTDIR="$ROOT" "$@" >"$TMP/make.out" 2>&1; }

inst install; rc=$?
ok $rc "make install DESTDIR=... PREFIX=/usr"
[ $rc != 0 ] && sed 's/^/#   /' "$TMP/make.out" | tail -20
missing=
for f in "$LIB/libsockpolicy.so" "$LIB/libsockpolicy_core.a" "$LIB/pkgconfig/sockpolicy-core.pc" \
    /usr/bin/sockpolicy /usr/include/sockpolicy/bio.h /usr/include/sockpolicy/sysops.h \
    /usr/include/sockpolicy/sockopt.h /etc/sockpolicy.conf /usr/share/man/man1/sockpolicy.1 \
    /usr/share/man/man5/sockpolicy.conf.5 /usr/share/man/man7/libsockpolicy.7 \
    /usr/share/bash-completion/completions/sockpolicy /usr/share/doc/sockpolicy/examples/README.md \
    /usr/share/doc/sockpolicy/examples/database-keepalive.conf; do
    [ -f "$ROOT$f" ] || missing="$missing $f"
done
is "$missing" "" "every file in its place (library in $LIB)"
is "$(stat -c %a "$ROOT/usr/bin/sockpolicy"):$(stat -c %a "$ROOT$LIB/libsockpolicy.so"):$(stat -c %a "$ROOT/etc/sockpolicy.conf")" \
    "755:644:644" "modes: command 755, library and policy 644"

# The installed command knows where it is installed (LIBDIR is compiled in).
v=$("$ROOT/usr/bin/sockpolicy" --version)
like "$v" "^sockpolicy $(cat VERSION)" "the installed command says its version"
like "$v" "installed library: $LIB/libsockpolicy.so" "the installed command looks for the library in $LIB"

# /etc/sockpolicy.conf: valid, does nothing, never overwritten.
"$ROOT/usr/bin/sockpolicy" check "$ROOT/etc/sockpolicy.conf" 2>"$TMP/check.err"; ok $? "the installed policy is valid"
like "$("$ROOT/usr/bin/sockpolicy" explain -c "$ROOT/etc/sockpolicy.conf" connect 169.254.169.254:80)" \
    'no rule matches.*pass' "the installed policy does nothing until edited"
echo "log all" > "$ROOT/etc/sockpolicy.conf"
inst install
is "$(cat "$ROOT/etc/sockpolicy.conf")" "log all" "install again: an edited /etc/sockpolicy.conf is kept"

# pkg-config, then a program built against the installed core library, run.
if ! command -v pkg-config >/dev/null; then
    skip "pkg-config is not installed"; skip "pkg-config"; skip "pkg-config"; skip "pkg-config"
else
    export PKG_CONFIG_PATH=$ROOT$LIB/pkgconfig PKG_CONFIG_SYSROOT_DIR=$ROOT PKG_CONFIG_LIBDIR=
    pkg-config --validate sockpolicy-core; ok $? "pkg-config --validate sockpolicy-core"
    flags=$(pkg-config --cflags --libs sockpolicy-core)
    like "$flags" "-I$ROOT/usr/include/sockpolicy .*-L$ROOT$LIB " "pkg-config --cflags --libs: $flags"
    is "$(pkg-config --modversion sockpolicy-core)" "$(cat VERSION)" "pkg-config --modversion"
    cat > "$TMP/client.c" <<'EOF2'
/* A program using the installed core: listen on an ephemeral port, connect with keepalive
 * and nodelay, accept, and report what the kernel says. */
#include <bio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
int main(void)
{
    bio_addr a, got, peer;
    struct in_addr lo = { htonl(INADDR_LOOPBACK) };
    union bio_sock_info_u info = { &got };
    if (!bio_addr_rawmake(&a, AF_INET, &lo, sizeof lo, 0)) return 1;
    int l = bio_socket(AF_INET, SOCK_STREAM, 0, 0);
    if (l < 0 || !bio_listen(l, &a, BIO_SOCK_REUSEADDR)) return 2;
    if (!bio_sock_info(l, bio_sock_info_address, &info)) return 3;
    int c = bio_socket(AF_INET, SOCK_STREAM, 0, 0);
    if (c < 0 || !bio_connect(c, &got, BIO_SOCK_KEEPALIVE | BIO_SOCK_NODELAY)) return 4;
    int s = bio_accept_ex(l, &peer, 0);
    if (s < 0) return 5;
    int ka = 0, nd = 0;
    socklen_t n = sizeof ka;
    getsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &ka, &n);
    n = sizeof nd;
    getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &nd, &n);
    printf("port=%u keepalive=%d nodelay=%d errno_name=%s\n", bio_addr_rawport(&got), ka, nd,
           bio_errno_name(111));
    bio_closesocket(s); bio_closesocket(c); bio_closesocket(l);
    return 0;
}
EOF2
    san=; [ "${SANITIZE:-}" = 1 ] && san="-fsanitize=address,undefined"
    # shellcheck disable=SC2086
    ${CC:-cc} -std=gnu11 -Wall $san -o "$TMP/client" "$TMP/client.c" $flags 2>"$TMP/cc.err"
    ok $? "a program compiles and links against the installed core with the pc file's flags"
    sed 's/^/#   /' "$TMP/cc.err" | head -10
    out=$(timeout 10 "$TMP/client" 2>&1)
    like "$out" '^port=[1-9][0-9]* keepalive=1 nodelay=1 errno_name=ECONNREFUSED$' "and it works: $out"
fi

# Man pages found by man through the installed tree; the completion loads.
if command -v man >/dev/null; then
    found=$(MANPATH=$ROOT/usr/share/man man -w sockpolicy sockpolicy.conf libsockpolicy 2>&1 | wc -l)
    is "$found" 3 "man -w finds sockpolicy(1), sockpolicy.conf(5), libsockpolicy(7) in the installed tree"
else
    skip "man is not installed"
fi
bash -c ". '$ROOT/usr/share/bash-completion/completions/sockpolicy' && complete -p sockpolicy" >/dev/null 2>&1
ok $? "the installed bash completion registers itself"

# Uninstall removes everything but the configuration.
inst uninstall; ok $? "make uninstall"
left=$(cd "$ROOT" && find . -type f | sort | tr '\n' ' ')
is "$left" "./etc/sockpolicy.conf " "make uninstall leaves only the configuration"
done_testing
