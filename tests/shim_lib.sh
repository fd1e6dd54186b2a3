# tests/shim_lib.sh: shared by tests/shim_*.t. TAP helpers and how to run a program under the
# shim (with AddressSanitizer's runtime first when the suite is built with SANITIZE=1).
SP_BUILD=${SP_BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
SP_TOP=${SP_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
SHIM=$SP_BUILD/libsockpolicy.so
PROGS=$SP_BUILD/progs
PRELOAD=$SHIM
if [ "${SANITIZE:-}" = 1 ]; then
    # The shim brings the sanitizer runtime in as a dependency. Preloading libasan.so first
    # would hang some real programs (curl) even without the shim, so it is not done.
    export ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0
fi
TMP=$(mktemp -d /tmp/sp_shim.XXXXXX)
trap 'rm -rf "$TMP"; [ -n "${CLEANUP:-}" ] && eval "$CLEANUP"' EXIT
# at_exit CMD: run CMD when the test exits, after what was asked before (never instead of it:
# a later server's kill must not leave an earlier one running).
at_exit() { CLEANUP="${CLEANUP:+$CLEANUP; }$*"; }

t_n=0
t_fail=0
ok() { # ok COND-EXIT-STATUS NAME
    t_n=$((t_n + 1))
    if [ "$1" = 0 ]; then echo "ok $t_n - $2"; else echo "not ok $t_n - $2"; t_fail=$((t_fail + 1)); fi
}
skip() { t_n=$((t_n + 1)); echo "ok $t_n # SKIP $1"; }
is() { # is GOT WANT NAME
    if [ "$1" = "$2" ]; then ok 0 "$3"; else ok 1 "$3"; echo "#   got '$1', want '$2'"; fi
}
like() { # like TEXT REGEX NAME
    if printf '%s\n' "$1" | grep -Eq -- "$2"; then ok 0 "$3"; else ok 1 "$3"; printf '%s\n' "$1" | sed 's/^/#   /' | head -20; echo "#   wanted /$2/"; fi
}
done_testing() { echo "1..$t_n"; [ "$t_fail" = 0 ]; }

# under CONF CMD...: runs CMD under the shim with policy file CONF (timeout 20 s), as
# `sockpolicy run` does (SOCKPOLICY_RUN=1: log lines default to stderr, where tests read them).
under() {
    local conf=$1
    shift
    SOCKPOLICY_RUN=1 SOCKPOLICY_CONF=$conf LD_PRELOAD=$PRELOAD timeout 20 "$@"
}
# field OUTPUT NAME: the value of "NAME=value" in a sp_sock output.
field() { printf '%s\n' "$1" | sed -n "s/^$2=\([^ ]*\).*/\1/p" | head -1; }
# free_port: a TCP port nothing listens on now.
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
# wait_port PORT: until something listens on 127.0.0.1:PORT (5 s at most).
wait_port() {
    for _ in $(seq 100); do
        ss -Htln "sport = :$1" | grep -q . && return 0
        sleep 0.05
    done
    return 1
}
have_shim() { [ -f "$SHIM" ]; }
# loopback_listener SECONDS: a server in a process of its own that accepts on 127.0.0.1 and
# closes each connection, for SECONDS at most; its port (the kernel picks it) in $port. It is
# killed at exit (CLEANUP). Needs python3.
loopback_listener() {
    python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(128); s.settimeout(0.2)
print(s.getsockname()[1], flush=True)
end = time.time() + float(sys.argv[1])
while time.time() < end:
    try: s.accept()[0].close()
    except OSError: pass
' "$1" > "$TMP/port" &
    at_exit "kill $! 2>/dev/null"
    for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
    port=$(cat "$TMP/port")
}
