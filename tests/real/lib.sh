# tests/real/lib.sh: shared by tests/real/*.t and tests/real_*.t. TAP output, where the shim
# is, and how to run a program bare or under it. Source it; it sets -u, not -e.
set -u
SP_TOP=${SP_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SP_BUILD=${SP_BUILD:-$SP_TOP/build}
REAL_DIR=$SP_TOP/tests/real
SHIM=$SP_BUILD/libsockpolicy.so
POLICY=${REAL_POLICY:-$REAL_DIR/policies/all-tcp.conf}
PY=/usr/bin/python3.11

t_n=0
t_fail=0
plan() { echo "1..$1"; }
ok() { # ok COND-STATUS DESCRIPTION
    t_n=$((t_n + 1))
    if [ "$1" = 0 ]; then
        echo "ok $t_n - $2"
    else
        echo "not ok $t_n - $2"
        [[ $2 == *"# TODO"* ]] || t_fail=$((t_fail + 1)) # a known bug, recorded, not a failure
    fi
}
skip() { t_n=$((t_n + 1)); echo "ok $t_n # SKIP $1"; }
diag() { printf '%s\n' "$@" | sed 's/^/# /'; }
finish() { exit $((t_fail > 0)); }

# A scratch directory, removed at exit together with whatever the test started (callers add
# pids to CLEAN_PIDS; only those are killed).
REAL_TMP=$(mktemp -d /tmp/sp-real.XXXXXX)
CLEAN_PIDS=()
real_cleanup() {
    local p
    for p in "${CLEAN_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${CLEAN_PIDS[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$REAL_TMP"
}
trap real_cleanup EXIT

# The LD_PRELOAD value for the shim. Under SANITIZE=1 the shim is built with ASan, whose
# runtime must come first in the preload list.
shim_preload() {
    local pre=$SHIM
    if [ "${SANITIZE:-}" = 1 ]; then
        local asan
        asan=$(${CC:-cc} -print-file-name=libasan.so 2>/dev/null)
        [ -f "$asan" ] && pre="$asan:$pre"
    fi
    echo "$pre"
}

# Prints why the shim cannot be used here, or nothing when it can: the library must exist,
# load into /bin/true, and load our policy without complaint (its log says so otherwise).
SHIM_LOG=$REAL_TMP/shim.log
shim_missing() {
    if [ ! -f "$SHIM" ]; then
        echo "the shim is not built yet ($SHIM missing)"
        return
    fi
    if [ -x "$SP_BUILD/sockpolicy" ] && ! "$SP_BUILD/sockpolicy" check "$POLICY" >"$REAL_TMP/check.out" 2>&1; then
        echo "policy $POLICY does not pass sockpolicy check: $(head -c 300 "$REAL_TMP/check.out")"
        return
    fi
    # A library that exists but does not load is a broken shim, not a missing one: the
    # caller's tests then run and fail.

}

# Runs a command under the shim with the policy; the shim logs to $SHIM_LOG, or where
# SHIM_LOG_TO says (e.g. "stderr": a log file is a descriptor of the shim's own, which a
# program counting its descriptors would see).
under_shim() {
    LD_PRELOAD=$(shim_preload) SOCKPOLICY_CONF=$POLICY SOCKPOLICY_LOG=${SHIM_LOG_TO:-$SHIM_LOG} "$@"
}

# The same as words for env(1), for a command started in the background whose pid ($!) must
# be the program's own: `env $(shim_env) prog &`. Paths here hold no spaces.
shim_env() {
    echo "LD_PRELOAD=$(shim_preload) SOCKPOLICY_CONF=$POLICY SOCKPOLICY_LOG=${SHIM_LOG_TO:-$SHIM_LOG}"
}

# A free TCP port on 127.0.0.1 (the kernel picks it; a race with another test is unlikely
# and shows up as a bind failure, not as a wrong result).
free_port() {
    $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits (at most $2 seconds, default 10) until something listens on 127.0.0.1:$1.
wait_port() {
    local i
    for ((i = 0; i < ${2:-10} * 20; i++)); do
        ss -Htln "sport = :$1" 2>/dev/null | grep -q . && return 0
        sleep 0.05
    done
    return 1
}

# Whether the policy failed to load in any process that logged to $SHIM_LOG (or to the
# files given).
policy_load_failed() {
    local f
    for f in "$SHIM_LOG" "$@"; do
        [ -f "$f" ] && grep -q "policy failed to load" "$f" && return 0
    done
    return 1
}
