#!/usr/bin/env bash
# examples/demo.sh (`make demo`): unmodified programs under libsockpolicy.so with
# examples/demo.conf: python3's http.server and a python3 client (python3 is always there),
# curl when it is installed (else python3 again, and the demo says so). What the policy forced
# is read from outside the programs (ss -o, strace when installed); then a connection the
# policy refuses. SP_DEMO_PORT picks another port than 18080 (the policy is copied with it).
set -u
cd "$(dirname "$0")/.."
B=${SP_BUILD:-$PWD/build}
CONF=$PWD/examples/demo.conf
PORT=${SP_DEMO_PORT:-18080}
LOG=$(mktemp /tmp/sockpolicy-demo.XXXXXX)
if [ "$PORT" != 18080 ]; then
    CONF=$(mktemp /tmp/sockpolicy-demo-conf.XXXXXX)
    sed "s/port 18080/port $PORT/" examples/demo.conf > "$CONF"
fi
# FETCH URL: curl when installed, else the same GET from python3 (the demo says which)
if command -v curl > /dev/null; then
    CLIENT=curl
    FETCH=(curl -sS -m 3 -o /dev/null)
else
    CLIENT=python3
    FETCH=(python3 -c 'import sys, urllib.request
try: urllib.request.urlopen(sys.argv[1], timeout=3).read()
except Exception as e: print("python3: %s" % getattr(e, "reason", e), file=sys.stderr); sys.exit(7)')
fi
run() { # run PROGRAM ARGS...: under the shim, through `sockpolicy run` when it is built
    if [ -x "$B/sockpolicy" ] && "$B/sockpolicy" run --help > /dev/null 2>&1; then
        "$B/sockpolicy" run -c "$CONF" --log "$LOG" -- "$@"
    else
        SOCKPOLICY_CONF=$CONF SOCKPOLICY_LOG=$LOG LD_PRELOAD=$B/libsockpolicy.so "$@"
    fi
}
pids=()
trap 'kill "${pids[@]}" 2> /dev/null; rm -f "$LOG"; [ "$CONF" = "$PWD/examples/demo.conf" ] || rm -f "$CONF"' EXIT
say() { printf '\n\033[1m%s\033[0m\n' "$*"; }

say "policy (examples/demo.conf):"
grep -v '^#' "$CONF" | sed '/^$/d; s/^/    /'

say "1. python3 -m http.server on :$PORT and a python3 client, both under the shim; ss -to from outside:"
run python3 -m http.server --bind 127.0.0.1 "$PORT" > /dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do ss -Htln "sport = :$PORT" | grep -q . && break; sleep 0.05; done
# a client that holds its connection open for 1.5 s, as an interactive one would
run python3 -c 'import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
time.sleep(1.5)' "$PORT" > /dev/null 2>&1 &
pids+=($!)
sleep 0.5
ss -tnoH state established "( sport = :$PORT or dport = :$PORT )" |
    awk -v p=":$PORT" '{ who = ($3 ~ p"$") ? "server (python3)" : "client (python3)"; printf "    %s  %s -> %s  %s\n", who, $3, $4, $5 }'

[ "$CLIENT" = curl ] || echo "    (curl is not installed: python3 fetches the pages below instead)"

say "2. $CLIENT under the shim, seen by strace -e trace=setsockopt,connect:"
if command -v strace > /dev/null; then
    SOCKPOLICY_CONF=$CONF SOCKPOLICY_LOG=$LOG strace -qq -f -E LD_PRELOAD="$B/libsockpolicy.so" \
        -e trace=setsockopt,connect -o /dev/stdout "${FETCH[@]}" "http://127.0.0.1:$PORT/" |
        grep -E "TCP_KEEP|SO_KEEPALIVE|TCP_NODELAY|TCP_USER_TIMEOUT|htons\($PORT\)" | sed -E 's/^[0-9]+ +/    /'
    [ "$CLIENT" = curl ] &&
        echo "    (curl sets its own keepalive first; the policy's values come last, just before connect)"
else
    echo "    (strace is not installed: apt-get install strace to see the calls)"
fi

say "3. $CLIENT http://169.254.169.254/ (the metadata address the policy denies):"
out=$(run "${FETCH[@]}" http://169.254.169.254/latest/meta-data/ 2>&1); rc=$?
printf '    %s exit %d: %s\n' "$CLIENT" "$rc" "$(printf '%s\n' "$out" | tail -1)"
echo "    shim log ($LOG):"
sed 's/^/    /' "$LOG"
