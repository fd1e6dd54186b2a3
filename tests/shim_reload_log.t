#!/usr/bin/env bash
# Live reload of the log settings (issue 8): a long-running client keeps connecting (one
# connect that works, one to a closed port, each round) while its policy's `log`, `log-format`
# and `log-to` lines change under it. Each change must show in the same process within two
# seconds, read from outside: which file grows, and what its new lines say. No
# $SOCKPOLICY_LOG here: the policy alone says where lines go.
. "$(dirname "$0")/shim_lib.sh"
if ! have_shim; then skip "no $SHIM"; done_testing; exit; fi
command -v python3 > /dev/null || { skip "no python3"; done_testing; exit; }

port=$(free_port)
closed=$(free_port)
conf=$TMP/live.conf
A=$TMP/a.log
B=$TMP/b.log
C=$TMP/c.log
out=$TMP/client.out
stop=$TMP/stop

cat > "$TMP/client.py" << 'EOF'
import os, socket, sys, time
port, closed, out, stop = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
sys.path.insert(0, os.environ["SP_TESTS"])
import loopback_server
loopback_server.serve(port)
f = open(out, "w", buffering=1)
f.write("pid=%d\n" % os.getpid())
end = time.time() + 60
n = 0
while time.time() < end and not os.path.exists(stop):
    for p in (port, closed):
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", p))
        except OSError:
            pass
        s.close()
    n += 1
    f.write("%.3f round=%d\n" % (time.time(), n))
    time.sleep(0.02)
EOF

policy() { # policy LINES...: the policy file, written as config management does (rename)
    { printf '%s\n' "$@"; printf 'pass connect to 127.0.0.1\n'; } > "$conf.new"
    mv "$conf.new" "$conf"
}
lines() { [ -f "$1" ] && wc -l < "$1" || echo 0; }
now() { python3 -c 'import time; print("%.3f" % time.time())'; }
# grows FILE REGEX WHAT: after the change at $t0 (when FILE had $n0 lines), wait (3 s at most)
# for a new line of FILE matching REGEX; in force within two seconds.
grows() {
    local file=$1 re=$2 what=$3 line="" t
    for _ in $(seq 60); do
        line=$(tail -n +"$((n0 + 1))" "$file" 2> /dev/null | grep -E -m1 -- "$re")
        [ -n "$line" ] && break
        sleep 0.05
    done
    t=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
    if [ -z "$line" ]; then
        ok 1 "$what: seen within 3 s"
        tail -3 "$file" 2> /dev/null | sed 's/^/#   log: /'
        return
    fi
    awk -v d="$t" 'BEGIN { exit !(d <= 2.0) }'
    ok $? "$what: in force after at most $t s (2 allowed)"
}

policy 'log failures' "log-to file $A"
SOCKPOLICY_CONF=$conf SP_TESTS=$SP_TOP/tests PYTHONDONTWRITEBYTECODE=1 LD_PRELOAD=$PRELOAD timeout 70 python3 "$TMP/client.py" "$port" "$closed" "$out" "$stop" &
client=$!
at_exit "kill $client 2>/dev/null"
for _ in $(seq 100); do grep -q 'round=' "$out" 2> /dev/null && break; sleep 0.05; done
pid=$(sed -n 's/^pid=//p' "$out" | head -1)
sleep 0.5
like "$(tail -1 "$A" 2> /dev/null)" "ECONNREFUSED" "log failures to file A: the refused connect is logged"
is "$(grep -c ":$port " "$A" 2> /dev/null)" 0 "and the connects that worked are not"

t0=$(now); n0=$(lines "$A")
policy 'log all' "log-to file $A"
grows "$A" "connect.*127\\.0\\.0\\.1:$port " "edited to 'log all': the connects that work are logged too"

t0=$(now); n0=$(lines "$A")
policy 'log all' 'log-format json' "log-to file $A"
grows "$A" '^\{"' "edited to 'log-format json': JSON lines in the same file"
tail -n +"$((n0 + 1))" "$A" | grep '^{' | tail -5 | python3 -c '
import json, sys
n = 0
for l in sys.stdin:
    json.loads(l)
    n += 1
sys.exit(n == 0)' 2> /dev/null
ok $? "and they parse as JSON"

t0=$(now); n0=$(lines "$B")
policy 'log all' "log-to file $B"
grows "$B" "ECONNREFUSED" "edited to 'log-to file B': lines go to B"
sleep 0.3
na=$(lines "$A")
sleep 1
is "$(lines "$A")" "$na" "and A no longer grows"
like "$(ls -l /proc/"$pid"/fd 2> /dev/null)" "b\\.log" "the client holds B open"

t0=$(now); n0=$(lines "$C")
policy 'log failures' "log-to file $C"
grows "$C" "ECONNREFUSED" "edited to 'log-to file C' at level failures"
sleep 0.5
is "$(tail -n +"$((n0 + 1))" "$C" | grep -c ":$port ")" 0 "C has only the failures"
fds=$(ls -l /proc/"$pid"/fd 2> /dev/null)
if printf '%s\n' "$fds" | grep -q 'a\.log'; then ok 1 "A's descriptor is closed once its slot is reused"; else ok 0 "A's descriptor is closed once its slot is reused"; fi

t0=$(now)
policy 'log off' "log-to file $C"
sleep 2.2
nc=$(lines "$C")
sleep 1
[ "$nc" -gt 0 ] && [ "$(lines "$C")" = "$nc" ]
ok $? "edited to 'log off': nothing more is written to C (it had $nc lines)"

touch "$stop"
wait "$client"
is "$(grep -c "^pid=" "$out")" 1 "one process all along ($(grep -c round= "$out") rounds)"
done_testing
