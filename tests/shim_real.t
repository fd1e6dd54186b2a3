#!/usr/bin/env bash
# Real programs nobody here wrote, under the shim, checked from outside: python3 (server and
# client), socat and curl. Keepalive timers in `ss -o`, the setsockopt calls in
# `strace -f -e trace=network`, and denied connections refused with the right errno.
. "$(dirname "$0")/shim_lib.sh"
if ! have_shim; then skip "no $SHIM"; done_testing; exit; fi
for t in python3 socat curl ss; do command -v $t > /dev/null || { skip "no $t"; done_testing; exit; }; done
export SOCKPOLICY_LOG=$TMP/all.log # keep prove's output readable
port=$(free_port)
cat > "$TMP/p.conf" << EOF2
set accept from 127.0.0.1 keepalive=30/5/3
set connect to 127.0.0.1 port $port keepalive=45/7/4 nodelay
deny connect to 127.0.0.1 port 9 errno=ECONNREFUSED
deny connect to 127.0.0.2 errno=EACCES
EOF2
# A python3 server that holds each connection for 2 s.
under "$TMP/p.conf" python3 -c '
import socket, sys, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", int(sys.argv[1]))); l.listen(8)
conns = []
end = time.time() + 6
l.settimeout(0.2)
while time.time() < end:
    try:
        c, _ = l.accept(); conns.append(c)
    except socket.timeout:
        pass
' "$port" &
pysrv=$!
at_exit "kill $pysrv 2>/dev/null"
wait_port "$port"
# socat as the client, holding the connection open.
(sleep 2 | under "$TMP/p.conf" socat -T3 - "TCP:127.0.0.1:$port" > /dev/null 2>&1) &
ok=1
for _ in $(seq 40); do
    st=$(ss -tnoH state established "( sport = :$port or dport = :$port )")
    [ "$(printf '%s\n' "$st" | grep -c keepalive)" -ge 2 ] && { ok=0; break; }
    sleep 0.05
done
cli=$(printf '%s\n' "$st" | awk -v p=":$port" '$4 ~ p"$"')
srv=$(printf '%s\n' "$st" | awk -v p=":$port" '$3 ~ p"$"')
like "$cli" 'timer:\(keepalive,(4[0-5]|[0-9]+\.[0-9]+|4[0-5]\.[0-9]+)?[0-9]*sec,0\)' "socat's connection: ss -o shows timer:(keepalive,~45sec) the policy forced"
like "$srv" 'timer:\(keepalive,(2[0-9]|30)(\.[0-9]+)?sec,0\)' "python3's accepted connection: ss -o shows timer:(keepalive,~30sec)"
# ss -i: the client's socket is nodelay? ss does not show it; strace does, below.
wait %2 2>/dev/null

# python3 as a client: options read back from inside by python's own getsockopt.
out=$(under "$TMP/p.conf" python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print(s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE), s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
      s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
' "$port")
is "$out" "1 45 1" "python3 client: keepalive=1 keepidle=45 nodelay=1 from python's getsockopt"
out=$(under "$TMP/p.conf" python3 -c '
import socket
try:
    socket.create_connection(("127.0.0.1", 9))
except OSError as e:
    print(e.errno, e.strerror)
')
is "$out" "111 Connection refused" "python3: a denied connect raises ConnectionRefusedError (errno 111)"

# curl: strace shows the setsockopt calls the shim made, after curl's own.
if command -v strace > /dev/null; then
    SOCKPOLICY_CONF=$TMP/p.conf strace -qq -f -E LD_PRELOAD="$PRELOAD" -e trace=network -o "$TMP/curl.st" \
        curl -s -m 3 -o /dev/null "http://127.0.0.1:$port/" 
    st=$(cat "$TMP/curl.st")
    like "$st" 'setsockopt\([0-9]+, SOL_TCP, TCP_KEEPIDLE, \[45\], 4\) = 0' "strace: TCP_KEEPIDLE=45 set on curl's socket"
    like "$st" 'setsockopt\([0-9]+, SOL_TCP, TCP_KEEPINTVL, \[7\], 4\) = 0' "strace: TCP_KEEPINTVL=7"
    like "$st" 'setsockopt\([0-9]+, SOL_TCP, TCP_KEEPCNT, \[4\], 4\) = 0' "strace: TCP_KEEPCNT=4"
    last_idle=$(grep -n 'TCP_KEEPIDLE' "$TMP/curl.st" | tail -1 | cut -d: -f1)
    conn=$(grep -n "connect(.*htons($port)" "$TMP/curl.st" | head -1 | cut -d: -f1)
    [ -n "$last_idle" ] && [ -n "$conn" ] && [ "$last_idle" -lt "$conn" ] && grep -q 'TCP_KEEPIDLE, \[45\]' <(sed -n "${last_idle}p" "$TMP/curl.st")
    ok $? "strace: the policy's value is the last one set before connect()"
else skip "no strace"; skip "no strace"; skip "no strace"; skip "no strace"; fi
# curl refused: exit code 7 and the errno's message.
msg=$(under "$TMP/p.conf" curl -sSv -m 3 http://127.0.0.1:9/ 2>&1); rc=$?
is "$rc" 7 "curl to a denied address exits 7 (couldn't connect)"
like "$msg" 'Connection refused' "curl says: Connection refused (the rule's ECONNREFUSED)"
msg=$(under "$TMP/p.conf" curl -sSv -m 3 http://127.0.0.2:80/ 2>&1); rc=$?
is "$rc" 7 "curl to 127.0.0.2 (errno=EACCES) exits 7"
like "$msg" 'Permission denied' "curl says: Permission denied"
# socat refused.
msg=$(under "$TMP/p.conf" socat -T1 - TCP:127.0.0.1:9 < /dev/null 2>&1); rc=$?
[ "$rc" != 0 ]; ok $? "socat to a denied address fails (exit $rc)"
like "$msg" 'Connection refused' "socat reports Connection refused"
kill $pysrv 2>/dev/null
done_testing
