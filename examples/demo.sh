#!/usr/bin/env bash
# examples/demo.sh (`make demo`): unmodified python3, socat and curl under libsockpolicy.so with
# examples/demo.conf. What the policy forced is read from outside the programs (ss -o, strace);
# then a connection the policy refuses.
set -u
cd "$(dirname "$0")/.."
B=${SP_BUILD:-$PWD/build}
CONF=$PWD/examples/demo.conf
PORT=18080
LOG=$(mktemp /tmp/sockpolicy-demo.XXXXXX)
run() { # run PROGRAM ARGS...: under the shim, through `sockpolicy run` when it is built
    if [ -x "$B/sockpolicy" ] && "$B/sockpolicy" run --help > /dev/null 2>&1; then
        "$B/sockpolicy" run -c "$CONF" --log "$LOG" -- "$@"
    else
        SOCKPOLICY_CONF=$CONF SOCKPOLICY_LOG=$LOG LD_PRELOAD=$B/libsockpolicy.so "$@"
    fi
}
pids=()
trap 'kill "${pids[@]}" 2> /dev/null; rm -f "$LOG"' EXIT
say() { printf '\n\033[1m%s\033[0m\n' "$*"; }

say "policy (examples/demo.conf):"
grep -v '^#' "$CONF" | sed '/^$/d; s/^/    /'

say "1. python3 -m http.server on :$PORT and a socat client, both under the shim; ss -to from outside:"
run python3 -m http.server --bind 127.0.0.1 "$PORT" > /dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do ss -Htln "sport = :$PORT" | grep -q . && break; sleep 0.05; done
(sleep 1.5 | run socat -T2 - "TCP:127.0.0.1:$PORT" > /dev/null 2>&1) &
pids+=($!)
sleep 0.5
ss -tnoH state established "( sport = :$PORT or dport = :$PORT )" |
    awk -v p=":$PORT" '{ who = ($3 ~ p"$") ? "server (python3)" : "client (socat) "; printf "    %s  %s -> %s  %s\n", who, $3, $4, $5 }'

say "2. curl under the shim, seen by strace -e trace=setsockopt,connect:"
if command -v strace > /dev/null; then
    SOCKPOLICY_CONF=$CONF SOCKPOLICY_LOG=$LOG strace -qq -f -E LD_PRELOAD="$B/libsockpolicy.so" \
        -e trace=setsockopt,connect -o /dev/stdout curl -s -o /dev/null "http://127.0.0.1:$PORT/" |
        grep -E "TCP_KEEP|SO_KEEPALIVE|TCP_NODELAY|TCP_USER_TIMEOUT|htons\($PORT\)" | sed -E 's/^[0-9]+ +/    /'
    echo "    (curl sets its own keepalive first; the policy's values come last, just before connect)"
else
    echo "    (strace is not installed)"
fi

say "3. curl http://169.254.169.254/ (the metadata address the policy denies):"
out=$(run curl -sS -m 3 http://169.254.169.254/latest/meta-data/ 2>&1); rc=$?
printf '    curl exit %d: %s\n' "$rc" "$(printf '%s\n' "$out" | tail -1)"
echo "    shim log ($LOG):"
sed 's/^/    /' "$LOG"
