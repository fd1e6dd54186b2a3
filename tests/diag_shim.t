#!/usr/bin/env bash
# tests/diag_shim.t: the shim's log, read from outside: JSON lines parse with python3 -m
# json.tool; a rotated log file keeps receiving lines; a program that closes all its
# descriptors keeps its own output clean; `sockpolicy run --trace`; the summary at exit; the
# rate limit against a reconnect loop; debug read-back reporting a difference; a connect still
# pending at close; the TCP Fast Open sysctl warning in a namespace with tcp_fastopen=0.
. "$(dirname "$0")/shim_lib.sh"
L=$PROGS/diag_loop
CMD=$SP_BUILD/sockpolicy
if ! have_shim || [ ! -x "$L" ]; then
    skip "shim or $L not built"; done_testing; exit
fi
port=$(free_port) # nothing listens: every connect is refused
TS='^([0-9:.TZ-]+ )?'

# JSON: curl and python asyncio, every event of both.
printf 'log all\nlog-format json\npass any\n' > "$TMP/json.conf"
SOCKPOLICY_LOG=$TMP/json.log under "$TMP/json.conf" curl -s -m 3 "http://127.0.0.1:$port/" > /dev/null
SOCKPOLICY_LOG=$TMP/json.log under "$TMP/json.conf" python3 -c "
import asyncio
async def m():
    try:
        await asyncio.open_connection('127.0.0.1', $port)
    except OSError:
        pass
asyncio.run(m())"
python3 -m json.tool --json-lines "$TMP/json.log" > /dev/null 2> "$TMP/json.err"
ok $? "JSON log of curl and asyncio parses with python3 -m json.tool ($(wc -l < "$TMP/json.log") lines)"
got=$(python3 - "$TMP/json.log" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o.get("event") == "call" and o["phase"] == "so_error":
        print(o["prog"], o["op"], o["errno_name"], o["remote_port"], o["duration_ns"] > 0,
              bool(o["explanation"]))
PY
)
like "$got" "^curl connect ECONNREFUSED $port True True" "JSON: curl's non-blocking connect, outcome read by SO_ERROR"
like "$got" "python3 connect ECONNREFUSED $port True True" "JSON: asyncio's, the same"

# Rotation: the file is renamed away while the program logs; later lines go to a new file.
printf 'log failures\npass connect\n' > "$TMP/fail.conf"
SOCKPOLICY_LOG=$TMP/rot.log under "$TMP/fail.conf" "$L" refuse 30 "$port" 100 > "$TMP/rot.out" &
pid=$!
sleep 1.2
mv "$TMP/rot.log" "$TMP/rot.log.1"
wait $pid
a=$(grep -c 'failed ECONNREFUSED' "$TMP/rot.log.1" 2>/dev/null)
b=$(grep -c 'failed ECONNREFUSED' "$TMP/rot.log" 2>/dev/null)
[ "${a:-0}" -ge 5 ] && [ "${b:-0}" -ge 5 ] && [ $((a + b)) -ge 28 ]
ok $? "rotated log: $a lines before the rename, $b in the new file (30 events, one a second checked)"

# A daemon-style program: closes every descriptor, puts its own file on 0, 1 and 2.
SOCKPOLICY_LOG=$TMP/closeall.log under "$TMP/fail.conf" "$L" closeall "$port" "$TMP/own.out"
is "$(cat "$TMP/own.out")" "$(printf 'program line 0\nprogram line 1\nprogram line 2\ndone')" \
    "closeall: the program's own output is exactly its own"
is "$(grep -c 'failed ECONNREFUSED' "$TMP/closeall.log")" 4 "closeall: the shim's 4 lines went to its log, reopened"
# The same with the log on stderr: the program's fd 2 is its file now, so nothing is written.
under "$TMP/fail.conf" "$L" closeall "$port" "$TMP/own2.out" 2> "$TMP/closeall.err"
is "$(cat "$TMP/own2.out")" "$(printf 'program line 0\nprogram line 1\nprogram line 2\ndone')" \
    "closeall, log on stderr: the file the program put on fd 2 gets none of the shim's lines"
like "$(cat "$TMP/closeall.err")" "${TS}sockpolicy\[[0-9]+ diag_loop\]: connect .*failed ECONNREFUSED" \
    "closeall, log on stderr: the line before it closed fd 2 reached the real stderr"

# sockpolicy run --trace: no policy file, every event to stderr, summary at exit.
out=$(env -u SOCKPOLICY_CONF "$CMD" run --trace -- curl -s -m 3 "http://127.0.0.1:$port/" 2>&1)
like "$out" "^sockpolicy\[[0-9]+ curl\]: connect fd=[0-9]+ tcp .* -> 127\.0\.0\.1:$port in progress \(EINPROGRESS\)" "--trace: curl's connect, in progress"
like "$out" "^sockpolicy\[[0-9]+ curl\]: connect fd=[0-9]+ tcp .* -> 127\.0\.0\.1:$port failed ECONNREFUSED \(111\) after .* \(non-blocking, seen by SO_ERROR\): nothing listens" "--trace: and its outcome, explained"
like "$out" "summary: connections made 0, failed 1" "--trace: the summary at exit"
"$CMD" run --trace --log "$TMP/trace.log" -- "$L" refuse 2 "$port" > /dev/null 2> "$TMP/trace.err"
is "$(grep -c 'failed ECONNREFUSED' "$TMP/trace.log")" 2 "--trace --log FILE: the events in the file"
is "$(cat "$TMP/trace.err")" "" "--trace --log FILE: nothing on stderr"
"$CMD" run --trace -c "$TMP/fail.conf" -- true 2> /dev/null
is $? 2 "--trace with -c is refused"

# Event loops of real programs (docs/log-format.md, Coverage): how each learns the outcome.
if command -v redis-cli > /dev/null; then
    out=$(env -u SOCKPOLICY_CONF timeout 10 "$CMD" run --trace -- redis-cli -p "$port" ping 2>&1)
    like "$out" "redis-cli\]: connect .*-> 127\.0\.0\.1:$port failed ECONNREFUSED \(111\) .*\(non-blocking, seen by a later connect\(\)\)" "redis-cli (hiredis): told by a second connect()"
else
    skip "no redis-cli"
fi
if [ "${SANITIZE:-}" = 1 ]; then
    skip "node does not start with an AddressSanitizer shim preloaded (SANITIZE=1), shim or not"
elif command -v node > /dev/null; then
    out=$(env -u SOCKPOLICY_CONF timeout 10 "$CMD" run --trace -- node -e "require('net').connect($port,'127.0.0.1').on('error',()=>{})" 2>&1)
    like "$out" "node\]: connect .*-> 127\.0\.0\.1:$port failed ECONNREFUSED \(111\) .*\(non-blocking, seen by SO_ERROR\)" "node (libuv): SO_ERROR"
else
    skip "no node"
fi

# log-summary: made and failed, by errno and by destination, at exit.
srv_port=$(free_port)
python3 -m http.server --bind 127.0.0.1 "$srv_port" > /dev/null 2>&1 &
at_exit "kill $!"
wait_port "$srv_port"
printf 'log failures\nlog-summary\npass connect\n' > "$TMP/sum.conf"
under "$TMP/sum.conf" bash -c "curl -s -o /dev/null http://127.0.0.1:$srv_port/; curl -s -o /dev/null http://127.0.0.1:$srv_port/; $L refuse 3 $port" 2> "$TMP/sum.err" > /dev/null
like "$(cat "$TMP/sum.err")" "sockpolicy\[[0-9]+ curl\]: summary: connections made 1, failed 0" "summary: each curl made 1"
like "$(cat "$TMP/sum.err")" "sockpolicy\[[0-9]+ diag_loop\]: summary: connections made 0, failed 3" "summary: the loop failed 3"
like "$(cat "$TMP/sum.err")" "summary: .*ECONNREFUSED" "summary: failures by errno"
like "$(cat "$TMP/sum.err")" "summary: .*127\.0\.0\.1:$port" "summary: by destination"

# Rate limit: a tight reconnect loop of 3000 refused connects.
SOCKPOLICY_LOG=$TMP/rate.log under "$TMP/fail.conf" "$L" refuse 3000 "$port" > "$TMP/rate.out"
lines=$(grep -c 'failed ECONNREFUSED' "$TMP/rate.log")
supp=$(sed -n 's/.*suppressed \([0-9]*\) events.*/\1/p' "$TMP/rate.log" | paste -sd+ | bc 2>/dev/null)
[ "$lines" -ge 200 ] && [ "$lines" -le 600 ]
ok $? "rate limit: $lines of 3000 refused connects logged (burst 200, then 100/s)"
is "$((lines + ${supp:-0}))" 3000 "rate limit: the rest counted in 'suppressed N events' lines ($supp)"

# debug: forced options read back; the kernel doubles SO_RCVBUF.
printf 'log debug\nset connect rcvbuf=65536 nodelay\n' > "$TMP/dbg.conf"
SOCKPOLICY_LOG=$TMP/dbg.log under "$TMP/dbg.conf" "$L" refuse 1 "$port" > /dev/null
like "$(cat "$TMP/dbg.log")" "connect fd=[0-9]+ .*failed ECONNREFUSED.*\[rule $TMP/dbg.conf:2 set: nodelay rcvbuf; read back differs: rcvbuf\]" \
    "debug: rcvbuf read back differs (the kernel doubled it), nodelay does not"

# Pending at close, and the TFO warning: in a private network namespace (10.9.0.2 is on a
# veth whose peer has no address: nothing answers, the SYN waits for ARP).
if command -v unshare > /dev/null && unshare -n true 2> /dev/null; then
    printf 'log failures\npass connect\n' > "$TMP/pend.conf"
    out=$(unshare -n bash -c "ip link set lo up; ip link add d0 type veth peer name d1 && ip addr add 10.9.0.1/24 dev d0 && ip link set d0 up && ip link set d1 up || exit 9
        SOCKPOLICY_LOG=$TMP/pend.log SOCKPOLICY_CONF=$TMP/pend.conf LD_PRELOAD='$PRELOAD' timeout 10 '$L' pending 10.9.0.2 80 300" 2>&1)
    like "$(cat "$TMP/pend.log" 2>/dev/null)" "connect fd=[0-9]+ tcp .* -> 10\.9\.0\.2:80 never completed: closed after 3[0-9][0-9](\.[0-9])? ms pending, TCP state SYN_SENT: the program closed" \
        "pending at close: never completed, how long, TCP state SYN_SENT ($out)"
    printf 'log failures\nset connect tfo\nset listen tfo-queue=16\n' > "$TMP/tfo.conf"
    out=$(unshare -n bash -c "ip link set lo up; sysctl -qw net.ipv4.tcp_fastopen=0 || exit 9
        SOCKPOLICY_RUN=1 SOCKPOLICY_CONF=$TMP/tfo.conf LD_PRELOAD='$PRELOAD' timeout 10 '$L' refuse 1 $port" 2>&1)
    like "$out" "sockpolicy\[[0-9]+ diag_loop\]: policy asks for TCP Fast Open: net\.ipv4\.tcp_fastopen is 0.*sysctl -w net\.ipv4\.tcp_fastopen=3" \
        "tcp_fastopen=0 in the namespace: one warning naming the sysctl to set"
    is "$(printf '%s\n' "$out" | grep -c 'TCP Fast Open')" 1 "and only one"
else
    skip "no network namespaces (unshare -n)"; skip "no network namespaces"; skip "no network namespaces"
fi
done_testing
