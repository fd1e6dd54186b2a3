#!/usr/bin/env bash
# A policy of log settings alone logs what it says (issue 14, case 8): `log failures` with no
# rule logs the failures of every operation (connect, bind, socket, ...), `log all` every
# event; an empty policy (no rule, no log line) stays silent; and a process under a log-only
# policy still picks up an edited policy with rules, which then decide. Read from outside: the
# log file, the program's stderr and its own results.
. "$(dirname "$0")/shim_lib.sh"
if ! have_shim; then skip "no $SHIM"; done_testing; exit; fi
command -v python3 > /dev/null || { skip "no python3"; done_testing; exit; }
closed=$(free_port)

# client: a refused connect, a bind to a port in use, a socket() of an unknown family, and a
# connect to its own listener that works. Prints each errno (0: it worked).
cat > "$TMP/client.py" << 'EOF2'
import errno, socket, sys
closed = int(sys.argv[1])
def e(f):
    try:
        f()
        return 0
    except OSError as x:
        return x.errno
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(4)
port = l.getsockname()[1]
c = socket.socket(); print("refused", e(lambda: c.connect(("127.0.0.1", closed)))); c.close()
b = socket.socket(); print("inuse", e(lambda: b.bind(("127.0.0.1", port)))); b.close()
print("family", e(lambda: socket.socket(200, socket.SOCK_STREAM)))
o = socket.socket(); print("open", e(lambda: o.connect(("127.0.0.1", port))), port); o.close()
EOF2
run() { # run CONF [ENV...]: the client under the shim, host-wide style; stdout, stderr in $TMP/run.err
    local conf=$1; shift
    env "$@" SOCKPOLICY_CONF="$conf" LD_PRELOAD="$PRELOAD" PYTHONDONTWRITEBYTECODE=1 timeout 20 \
        python3 "$TMP/client.py" "$closed" 2> "$TMP/run.err"
}

printf 'log failures\nlog-to file %s\n' "$TMP/lf.log" > "$TMP/lf.conf"
out=$(run "$TMP/lf.conf")
like "$out" "refused 111" "log failures only: the program's calls behave as bare (refused)"
like "$out" "open 0" "and its connect to its own listener works"
lf=$(cat "$TMP/lf.log" 2> /dev/null)
like "$lf" "connect fd=[0-9]+ .*127\\.0\\.0\\.1:$closed failed ECONNREFUSED" "the refused connect is logged"
like "$lf" "bind fd=[0-9]+ .*failed EADDRINUSE" "so is the bind to a port in use"
like "$lf" "socket .*failed EAFNOSUPPORT" "and the socket() of an unknown family"
oport=$(printf '%s\n' "$out" | sed -n 's/^open 0 //p')
is "$(printf '%s\n' "$lf" | grep -c -- "-> 127\\.0\\.0\\.1:$oport ")" 0 "but nothing that worked"

printf 'log all\nlog-to file %s\n' "$TMP/la.log" > "$TMP/la.conf"
run "$TMP/la.conf" > /dev/null
like "$(cat "$TMP/la.log" 2> /dev/null)" "connect fd=[0-9]+ tcp 127\\.0\\.0\\.1:[0-9]+ -> 127\\.0\\.0\\.1:[0-9]+ ok" "log all only: the connect that worked is logged too"

printf 'log failures\n' > "$TMP/default.conf"
run "$TMP/default.conf" SOCKPOLICY_RUN=1 > /dev/null
like "$(cat "$TMP/run.err")" "sockpolicy\\[[0-9]+ python3\\]: connect .*failed ECONNREFUSED" "log failures only, under sockpolicy run: to stderr"

printf '# nothing here yet\n\n' > "$TMP/empty.conf"
run "$TMP/empty.conf" SOCKPOLICY_RUN=1 > /dev/null
is "$(cat "$TMP/run.err")" "" "an empty policy logs nothing"

# A running process under a log-only policy, edited to a policy with a rule, then back.
conf=$TMP/live.conf
printf 'log failures\nlog-to file %s\n' "$TMP/live.log" > "$conf"
cat > "$TMP/loop.py" << 'EOF2'
import os, socket, sys, time
closed, out, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3]
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(64)
port = l.getsockname()[1]
f = open(out, "w", buffering=1)
end = time.time() + 40
while time.time() < end and not os.path.exists(stop):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port)); r = 0
    except OSError as x:
        r = x.errno
    s.close()
    if r == 0:
        a, _ = l.accept(); a.close()
    f.write("%.3f %d %d\n" % (time.time(), port, r))
    time.sleep(0.02)
EOF2
SOCKPOLICY_CONF=$conf LD_PRELOAD=$PRELOAD timeout 50 python3 "$TMP/loop.py" "$closed" "$TMP/loop.out" "$TMP/stop" &
loop=$!
at_exit "kill $loop 2>/dev/null"
for _ in $(seq 100); do [ -s "$TMP/loop.out" ] && break; sleep 0.05; done
lport=$(awk 'NR == 1 { print $2 }' "$TMP/loop.out")
sleep 0.3
printf 'log failures\nlog-to file %s\ndeny connect to 127.0.0.1 port %s errno=EHOSTUNREACH\n' "$TMP/live.log" "$lport" > "$conf.new"
mv "$conf.new" "$conf"
seen=""
for _ in $(seq 80); do tail -1 "$TMP/loop.out" | grep -q " 113$" && { seen=1; break; }; sleep 0.05; done
[ -n "$seen" ]; ok $? "log-only, edited to deny the loop's port: its connects are denied within 4 s"
like "$(cat "$TMP/live.log" 2> /dev/null)" "127\\.0\\.0\\.1:$lport failed EHOSTUNREACH .*denied" "and the denial is logged"
printf 'log failures\nlog-to file %s\n' "$TMP/live.log" > "$conf.new"
mv "$conf.new" "$conf"
seen=""
for _ in $(seq 80); do tail -1 "$TMP/loop.out" | grep -q " 0$" && { seen=1; break; }; sleep 0.05; done
[ -n "$seen" ]; ok $? "edited back to log settings alone: its connects work again"
touch "$TMP/stop"
wait "$loop"
is "$?" 0 "the loop ran to its end (exit 0)"
done_testing
