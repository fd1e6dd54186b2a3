#!/usr/bin/env bash
# sockpolicy run --supervise (issue 15): accept rules on a server under the seccomp supervisor,
# for a C server making raw syscall(SYS_accept4), a static C server, a Go server and a python3
# server. A peer the policy denies is closed and the server's accept fails with the rule's errno
# (a log line names the rule); an allowed peer's socket is installed in the server with the
# options the rule forces (read back inside the server) and accept4's SOCK_CLOEXEC honoured.
. "$(dirname "$0")/supervise_lib.sh"
why=$(sup_can)
if [ -n "$why" ]; then
    skip "supervision cannot run here: $why"; done_testing; exit
fi
if ! ip -4 addr show dev lo 2> /dev/null | grep -q '127\.0\.0\.1/8' && [ -z "${SP_SUP_NOSKIP:-}" ]; then
    skip "no 127.0.0.0/8 on lo: the denied peer needs 127.0.0.2"; done_testing; exit
fi
printf 'log all\ndeny accept from 127.0.0.2 errno=EPERM\nset accept from 127.0.0.1 keepalive=on keepalive-idle=55s nodelay=on\n' > "$TMP/acc.conf"

# serve NAME PROGRAM ARGS...: runs the server (ARGS get PORTFILE and the count 2 appended, then
# EXTRA from $SERVE_EXTRA) under supervision; a peer from 127.0.0.2 connects, then one from
# 127.0.0.1. Prints the server's output.
serve() {
    local name=$1
    shift
    rm -f "$TMP/$name.port"
    timeout 20 "$CMD" run --supervise -c "$TMP/acc.conf" --log "$TMP/$name.log" -- "$@" "$TMP/$name.port" 2 $SERVE_EXTRA \
        > "$TMP/$name.out" 2> "$TMP/$name.err" &
    local srv=$!
    for _ in $(seq 200); do [ -s "$TMP/$name.port" ] && break; sleep 0.05; done
    local port
    port=$(cat "$TMP/$name.port" 2> /dev/null)
    python3 -c "import socket, sys, time
for src in ('127.0.0.2', '127.0.0.1'):
    s = socket.socket(); s.bind((src, 0))
    try:
        s.connect(('127.0.0.1', int(sys.argv[1]))); time.sleep(0.2)
    except OSError:
        pass
time.sleep(0.3)" "${port:-1}"
    wait "$srv"
    cat "$TMP/$name.out"
}
# check NAME OUTPUT DENIED-REGEX OK-REGEX
check() {
    like "$2" "$3" "$1: the denied peer: accept fails with the rule's errno"
    like "$(cat "$TMP/$1.log" 2> /dev/null)" "accept fd=[0-9]+ tcp 127\.0\.0\.2:[0-9]+ failed EPERM .*\[rule $TMP/acc.conf:2 deny\] \(seen by seccomp\)" \
        "$1: a log line names the deny rule"
    like "$2" "$4" "$1: the allowed peer's socket has the forced options"
    like "$(cat "$TMP/$1.log" 2> /dev/null)" "accept fd=[0-9]+ tcp 127\.0\.0\.1:[0-9]+ <- 127\.0\.0\.1:[0-9]+ ok .*\[rule $TMP/acc.conf:3 set: keepalive keepalive-idle nodelay\] \(seen by seccomp\)" \
        "$1: and a log line for it names the set rule"
}
C_OK='accept=ok keepalive=1 idle=55 nodelay=1 cloexec=1 peer=127\.0\.0\.1 plen=16'

# 1. raw syscall(SYS_accept4) in a dynamically linked C program (--supervise forces it)
SERVE_EXTRA=raw
out=$(serve raw "$SC" server)
check raw "$out" '^accept=-1 errno=EPERM' "$C_OK"

# 2. a static C server, non-blocking listener (served in the loop, not a worker)
SERVE_EXTRA=nonblock
if build_static; then
    out=$(serve static "$TMP/sup_client_static" server)
    check static "$out" '^accept=-1 errno=EPERM' "$C_OK"
else
    for _ in 1 2 3 4; do skip "cannot link statically: $(head -1 "$TMP/static.err")"; done
fi
SERVE_EXTRA=

# 3. a Go server (its listener is non-blocking; accept4 with SOCK_NONBLOCK|SOCK_CLOEXEC)
if build_go; then
    out=$(serve go "$TMP/go/sup_dial" serve)
    check go "$out" '^accept=-1 errno=1$' '^accept=ok keepalive=1 idle=55 peer=127\.0\.0\.1$'
else
    for _ in 1 2 3 4; do skip "no Go toolchain or go build failed: $(head -1 "$TMP/go.err" 2> /dev/null)"; done
fi

# 4. a python3 server
cat > "$TMP/server.py" << 'PY'
import errno, os, socket, sys
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(8)
open(sys.argv[1] + ".tmp", "w").write("%d\n" % l.getsockname()[1]); os.rename(sys.argv[1] + ".tmp", sys.argv[1])
for _ in range(int(sys.argv[2])):
    try:
        c, peer = l.accept()
    except OSError as e:
        print("accept=-1 errno=%s" % errno.errorcode.get(e.errno, e.errno), flush=True)
        continue
    g = c.getsockopt
    print("accept=ok keepalive=%d idle=%d nodelay=%d peer=%s" % (g(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
          g(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE), g(socket.IPPROTO_TCP, socket.TCP_NODELAY), peer[0]), flush=True)
    c.close()
PY
out=$(serve python python3 "$TMP/server.py")
check python "$out" '^accept=-1 errno=EPERM' '^accept=ok keepalive=1 idle=55 nodelay=1 peer=127\.0\.0\.1$'

# 5. Connect and accept in one process, 3,000 times, with rules for both: every accepted
# descriptor is the accepted socket (a cancel signal that cut short an ADDFD + SEND once left
# accept returning 0, and the program closed its own client socket).
printf 'set connect to 127.0.0.0/8 keepalive=on nodelay=on\nset accept from 127.0.0.0/8 keepalive=on nodelay=on\n' > "$TMP/churn.conf"
out=$(timeout 120 "$CMD" run --supervise -c "$TMP/churn.conf" -- "$SC" churn 3000 2> "$TMP/churn.err")
is "$out" "made=3000 accepted=3000 bad=0" "3,000 connects and accepts in one process: all made, every accepted descriptor right"

# An accept interrupted by a signal after the supervisor took its connection (here: during a
# delay rule's sleep, which comes after the accept) does not lose it: the program's next
# accept on the listener gets it. Two clients, a signal during the first one's delay: the
# program accepts both (it would wait for ever for the first otherwise).
printf 'delay accept from 127.0.0.1 by=300ms\n' > "$TMP/held.conf"
rm -f "$TMP/held.pf"
timeout 10 "$CMD" run --supervise -c "$TMP/held.conf" -- "$PROGS/sup_accept" "$TMP/held.pf" 2 > "$TMP/held.out" 2> /dev/null &
runner=$!
for _ in $(seq 100); do [ -s "$TMP/held.pf" ] && break; sleep 0.05; done
read -r hport hpid < "$TMP/held.pf"
python3 -c "
import os, signal, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
a = socket.create_connection(('127.0.0.1', port)); time.sleep(0.15); os.kill(pid, signal.SIGUSR1)
b = socket.create_connection(('127.0.0.1', port)); time.sleep(1.5)" "$hport" "$hpid"
wait "$runner"
is "$(cat "$TMP/held.out")" "accepted=2 interrupted=yes" "an accept interrupted after the supervisor took its connection: the next accept gets it"

# A storm of signals against a blocking accept while 300 clients connect: every connection
# is accepted by the program (counted inside; it waits for all 300).
printf 'set accept from 127.0.0.1 nodelay=on\n' > "$TMP/storm.conf"
rm -f "$TMP/storm.pf"
s0=$(date +%s%N)
timeout 30 "$CMD" run --supervise -c "$TMP/storm.conf" -- "$PROGS/sup_accept" "$TMP/storm.pf" 300 > "$TMP/storm.out" 2> "$TMP/storm.err" &
runner=$!
for _ in $(seq 100); do [ -s "$TMP/storm.pf" ] && break; sleep 0.05; done
read -r sport spid < "$TMP/storm.pf"
echo "# port $sport pid $spid"
( while kill -USR1 "$spid" 2> /dev/null; do sleep 0.0003; done ) &
storm=$!
python3 -c "
import socket, sys, time
for i in range(300):
    socket.create_connection(('127.0.0.1', int(sys.argv[1]))).close(); time.sleep(0.002)" "$sport"
echo "# clients done $(( ($(date +%s%N) - s0) / 1000000 )) ms"
wait "$runner"
echo "# rc $? $(( ($(date +%s%N) - s0) / 1000000 )) ms"
kill "$storm" 2> /dev/null
cat "$TMP/storm.err" | sed 's/^/# /'
is "$(cat "$TMP/storm.out")" "accepted=300 interrupted=yes" "a signal storm against a blocking accept while 300 clients connect: every connection is accepted by the program"

done_testing
