#!/usr/bin/env bash
# Live reload of a file rewritten with what it held (config management rewriting it on every
# run, a touch, a rename of an identical copy): the policy in force stays and nothing more is
# mapped, where each reload used to keep another copy of the compiled policy for the life of
# the process. Read from outside: the client's VmSize and the debug log.
. "$(dirname "$0")/shim_lib.sh"
if ! have_shim; then skip "no $SHIM"; done_testing; exit; fi
command -v python3 > /dev/null || { skip "no python3"; done_testing; exit; }

port=$(free_port)
conf=$TMP/big.conf
log=$TMP/big.log
out=$TMP/client.out
stop=$TMP/stop

# 3,000 rules that never match the client's loopback connects, plus the one that does.
python3 - "$conf" "$port" "$log" << 'EOF2'
import sys
conf, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(conf, "w") as f:
    f.write("log debug\nlog-to file %s\n" % log)
    for i in range(3000):
        f.write("set connect to 10.%d.%d.0/24 port %d keepalive=60/10/5\n" % (i // 250, i % 250, 1000 + i))
    f.write("set connect to 127.0.0.1 port %d nodelay\n" % port)
EOF2

cat > "$TMP/client.py" << 'EOF2'
import os, socket, sys, time
port, out, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3]
sys.path.insert(0, os.environ["SP_TESTS"])
import loopback_server
loopback_server.serve(port)
f = open(out, "w", buffering=1)
f.write("pid=%d\n" % os.getpid())
end = time.time() + 40
while time.time() < end and not os.path.exists(stop):
    s = socket.socket()
    s.connect(("127.0.0.1", port))
    nd = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    s.close()
    f.write("%.3f nodelay=%d\n" % (time.time(), nd))
    time.sleep(0.05)
EOF2

SOCKPOLICY_CONF=$conf SP_TESTS=$SP_TOP/tests PYTHONDONTWRITEBYTECODE=1 LD_PRELOAD=$PRELOAD timeout 50 python3 "$TMP/client.py" "$port" "$out" "$stop" &
client=$!
at_exit "kill $client 2>/dev/null"
for _ in $(seq 100); do grep -q 'nodelay=' "$out" 2> /dev/null && break; sleep 0.05; done
pid=$(sed -n 's/^pid=//p' "$out" | head -1)
like "$(tail -1 "$out")" 'nodelay=1' "the 3,001-rule policy is in force"
vm() { awk '/^VmSize/ { print $2 }' /proc/"$pid"/status 2> /dev/null; }
kept() { grep -c 'rewritten unchanged' "$log" 2> /dev/null; }
sleep 1.2
v0=$(vm)

cp "$conf" "$conf.copy"
cat "$conf.copy" > "$conf"                          # rewritten in place
sleep 1.3
touch -d '+3 seconds' "$conf"                       # touched
sleep 1.3
cp "$conf.copy" "$conf.new" && mv "$conf.new" "$conf" # an identical copy renamed over it
sleep 1.3
is "$(kept)" 3 "three identical rewrites seen, each kept the policy in force"
v1=$(vm)
[ -n "$v0" ] && [ $((v1 - v0)) -lt 512 ]
ok $? "and mapped nothing more: VmSize ${v0} kB -> ${v1} kB"
is "$(grep -c 'reloaded' "$log")" 0 "nothing was reloaded"

sed -i "s/ port $port nodelay/ port $port nodelay rcvbuf=256k/" "$conf"
sleep 1.5
like "$(grep 'reloaded' "$log" | tail -1)" 'reloaded: 3001 rules' "a real change is reloaded"
v2=$(vm)
[ $((v2 - v1)) -ge 512 ]
ok $? "and maps the new policy (VmSize ${v1} kB -> ${v2} kB: the measure sees a reload)"
like "$(tail -1 "$out")" 'nodelay=1' "the client connects throughout"

touch "$stop"
wait "$client"
done_testing
