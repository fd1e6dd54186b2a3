#!/usr/bin/env bash
# sockpolicy run --supervise (issue 15): sendmsg and sendmmsg with destinations under the
# seccomp supervisor, as the shim decides them: a denied destination gets the rule's errno
# (python3's sendmsg; a C program's sendmmsg, where a denied message in the middle ends the
# call with the count sent before it, and one first fails it) and a log line naming the rule;
# allowed datagrams arrive whole, msg_len written back.
. "$(dirname "$0")/supervise_lib.sh"
why=$(sup_can)
if [ -n "$why" ]; then
    skip "supervision cannot run here: $why"; done_testing; exit
fi
port=$(free_port)
printf 'log all\ndeny send to 127.0.0.1 port %s errno=EHOSTUNREACH\n' "$port" > "$TMP/send.conf"

cat > "$TMP/msg.py" << 'PY'
import errno, socket, sys
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(("127.0.0.1", 0)); r.settimeout(2)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for port in (int(sys.argv[1]), r.getsockname()[1]):
    try:
        print("sendmsg=%d" % s.sendmsg([b"x" * 700, b"y" * 300], [], 0, ("127.0.0.1", port)))
    except OSError as e:
        print("sendmsg=-1 errno=%s" % errno.errorcode.get(e.errno, e.errno))
d = r.recv(4096)
print("got=%d %s" % (len(d), d == b"x" * 700 + b"y" * 300))
PY
out=$(timeout 20 "$CMD" run --supervise -c "$TMP/send.conf" --log "$TMP/msg.log" -- python3 "$TMP/msg.py" "$port" 2> /dev/null)
is "$(echo $out)" "sendmsg=-1 errno=EHOSTUNREACH sendmsg=1000 got=1000 True" "python3 sendmsg: the denied destination gets the rule's errno, the allowed datagram arrives whole"
like "$(cat "$TMP/msg.log")" "send fd=[0-9]+ udp 127\.0\.0\.1:$port failed EHOSTUNREACH .*\[rule $TMP/send.conf:2 deny\] \(seen by seccomp\)" "and a log line naming the rule"
like "$(cat "$TMP/msg.log")" "send fd=[0-9]+ udp 127\.0\.0\.1:[0-9]+ ok .*\(seen by seccomp\)" "and the allowed one is logged (log all)"

out=$(timeout 20 "$CMD" run --supervise -c "$TMP/send.conf" --log "$TMP/mmsg.log" -- "$PROGS/sup_send" mmsg "$port" 2> /dev/null)
is "$(echo $out)" "mmsg=2 len0=100 len1=200 len2=0 mmsg=-1 errno=EHOSTUNREACH sendmsg=42 got=100 got=200 got=42" \
    "C sendmmsg: a denied third message ends the call at 2 (msg_len written back), a denied first fails it with the rule's errno; sendmsg's two iovecs arrive as one"
is "$(grep -c "send fd=[0-9]+ udp 127\.0\.0\.1:$port failed EHOSTUNREACH .*\[rule $TMP/send.conf:2 deny\] \(seen by seccomp\)" -E "$TMP/mmsg.log")" 2 "and each denied message is logged naming the rule"

# Without the supervisor the same program shows what the kernel alone does (the rule unseen).
out=$(timeout 20 "$PROGS/sup_send" mmsg "$port" 2> /dev/null)
like "$(echo $out)" "^mmsg=4 .* mmsg=2 " "bare: every message is sent (the test program reaches the kernel)"

# A send rule that sets options: they are on the socket when the datagram leaves.
printf 'set send to 127.0.0.1 tos=0x10\n' > "$TMP/tos.conf"
out=$(timeout 20 "$CMD" run --supervise -c "$TMP/tos.conf" -- python3 -c '
import socket
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(("127.0.0.1", 0))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendmsg([b"x"], [], 0, r.getsockname())
print("tos=%d" % s.getsockopt(socket.IPPROTO_IP, socket.IP_TOS))' 2> /dev/null)
is "$out" "tos=16" "a set send rule's option is on the socket after sendmsg"
done_testing
