#!/usr/bin/env bash
# Live reload (issue 8): one long-running client keeps connecting while its policy file changes
# under it: nothing for it -> deny -> pass -> set options (file replaced by rename) -> a broken
# file (the previous policy stays, logged once) -> fixed. Each change must show in the same
# process within two seconds; the client reads every outcome back itself (errno, getsockopt).
. "$(dirname "$0")/shim_lib.sh"
if ! have_shim; then skip "no $SHIM"; done_testing; exit; fi
command -v python3 > /dev/null || { skip "no python3"; done_testing; exit; }

port=$(free_port)
conf=$TMP/live.conf
log=$TMP/live.log
out=$TMP/client.out
stop=$TMP/stop

# The client: connect, read the options back, close; one line per attempt with the time.
# A server thread in the same process accepts (the policy only names connect). Bounded: it
# stops at $stop or after 60 s.
cat > "$TMP/client.py" << 'EOF'
import errno, os, socket, sys, time
port, out, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3]
sys.path.insert(0, os.environ["SP_TESTS"])
import loopback_server
loopback_server.serve(port)
f = open(out, "w", buffering=1)
f.write("pid=%d\n" % os.getpid())
end = time.time() + 60
while time.time() < end and not os.path.exists(stop):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
        ka = s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
        idle = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)
        nd = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        res = "connect=0 keepalive=%d idle=%d nodelay=%d" % (ka, idle, nd)
    except OSError as e:
        res = "connect=-1 errno=%s" % errno.errorcode.get(e.errno, e.errno)
    s.close()
    f.write("%.3f pid=%d %s\n" % (time.time(), os.getpid(), res))
    time.sleep(0.02)
EOF

printf '# does nothing until edited\n' > "$conf"
SOCKPOLICY_CONF=$conf SOCKPOLICY_LOG=$log SP_TESTS=$SP_TOP/tests PYTHONDONTWRITEBYTECODE=1 LD_PRELOAD=$PRELOAD timeout 70 python3 "$TMP/client.py" "$port" "$out" "$stop" &
client=$!
at_exit "kill $client 2>/dev/null"
for _ in $(seq 100); do grep -q 'connect=' "$out" 2> /dev/null && break; sleep 0.05; done
pid=$(sed -n 's/^pid=//p' "$out" | head -1)
like "$(tail -1 "$out")" 'connect=0 keepalive=0' "an empty policy: the client connects, nothing forced"

now() { python3 -c 'import time; print("%.3f" % time.time())'; }
# changed WHAT REGEX: after the policy changed at time $t0, wait (3 s at most) for a client
# line matching REGEX, and check it came within two seconds, from the same process.
changed() {
    local what=$1 re=$2 line="" t
    for _ in $(seq 60); do
        line=$(awk -v t="$t0" '$1 >= t' "$out" | grep -E -m1 -- "$re")
        [ -n "$line" ] && break
        sleep 0.05
    done
    if [ -z "$line" ]; then
        ok 1 "$what: seen within 3 s"
        tail -3 "$out" | sed 's/^/#   client: /'
        tail -5 "$log" 2> /dev/null | sed 's/^/#   log: /'
        return
    fi
    t=$(awk -v a="$t0" -v b="${line%% *}" 'BEGIN { printf "%.2f", b - a }')
    awk -v d="$t" 'BEGIN { exit !(d <= 2.0) }'
    ok $? "$what: in force after $t s (at most 2), in pid ${pid:-?}"
    like "$line" "pid=$pid " "$what: the same process, not restarted"
}

t0=$(now)
printf 'deny connect to 127.0.0.1 port %s errno=EHOSTUNREACH\n' "$port" > "$conf"
changed "edited in place to deny" 'connect=-1 errno=EHOSTUNREACH'

t0=$(now)
printf '# allowed again\npass connect to 127.0.0.1 port %s\n' "$port" > "$conf"
changed "edited to pass" 'connect=0 keepalive=0'

t0=$(now)
printf 'set connect to 127.0.0.1 port %s keepalive=60/10/5 nodelay\n' "$port" > "$conf.new"
mv "$conf.new" "$conf" # as editors and config management write: a new file renamed over
changed "replaced by rename with options" 'connect=0 keepalive=1 idle=60 nodelay=1'

t0=$(now)
printf 'set connect to 127.0.0.1 port %s keepalive=banana\n' "$port" > "$conf"
sleep 2.5
after=$(awk -v t="$t0" '$1 >= t' "$out")
n=$(printf '%s\n' "$after" | grep -c 'connect=')
bad=$(printf '%s\n' "$after" | grep -c 'connect=' | awk -v all="$(printf '%s\n' "$after" | grep -c 'keepalive=1 idle=60 nodelay=1')" '{ print $1 - all }')
[ "$n" -gt 20 ] && [ "$bad" = 0 ]; ok $? "a broken file: the previous policy stays ($n connects in 2.5 s, $bad without the options)"
sleep 1
is "$(grep -c 'failed to reload' "$log" 2> /dev/null)" 1 "and the failure is logged once, not every second"
like "$(grep 'failed to reload' "$log")" "live.conf:1" "naming the file and line"

t0=$(now)
printf 'deny connect to 127.0.0.1 port %s errno=ENETUNREACH\n' "$port" > "$conf"
changed "fixed" 'connect=-1 errno=ENETUNREACH'

touch "$stop"
wait "$client"
is "$(grep -c "pid=$pid " "$out")" "$(grep -c 'connect=' "$out")" "one process made every connect ($(grep -c 'connect=' "$out") of them)"
done_testing
