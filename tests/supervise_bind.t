#!/usr/bin/env bash
# sockpolicy run --supervise (issue 15): bind, listen and send rules under the seccomp
# supervisor: a deny gives the rule's errno (python3 bind, a static C server's listen, a Go
# server's listen, python3's sendto of a datagram) and a log line naming the rule; a set rule's
# options are on the socket after bind (read back inside the program); an allowed datagram
# arrives whole.
. "$(dirname "$0")/supervise_lib.sh"
why=$(sup_can)
if [ -n "$why" ]; then
    skip "supervision cannot run here: $why"; done_testing; exit
fi
port=$(free_port)
other=$(free_port)
printf 'log all\ndeny bind port %s errno=EADDRINUSE\nset bind port %s reuseport=on\n' "$port" "$other" > "$TMP/bind.conf"
cat > "$TMP/bind.py" << 'PY'
import errno, socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError as e:
    print("bind=-1 errno=%s" % errno.errorcode.get(e.errno, e.errno)); sys.exit(0)
print("bind=0 reuseport=%d" % s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT))
PY
out=$(timeout 20 "$CMD" run --supervise -c "$TMP/bind.conf" --log "$TMP/bind.log" -- python3 "$TMP/bind.py" "$port" 2> /dev/null)
is "$out" "bind=-1 errno=EADDRINUSE" "python3: a denied bind gets the rule's errno"
like "$(cat "$TMP/bind.log")" "bind fd=[0-9]+ tcp 127\.0\.0\.1:$port failed EADDRINUSE .*\[rule $TMP/bind.conf:2 deny\] \(seen by seccomp\)" "and a log line naming the rule"
out=$(timeout 20 "$CMD" run --supervise -c "$TMP/bind.conf" --log "$TMP/bind2.log" -- python3 "$TMP/bind.py" "$other" 2> /dev/null)
is "$out" "bind=0 reuseport=1" "python3: a set rule's reuseport is on the socket after bind"
like "$(cat "$TMP/bind2.log")" "bind fd=[0-9]+ tcp 127\.0\.0\.1:$other ok .*\[rule $TMP/bind.conf:3 set: reuseport\] \(seen by seccomp\)" "and logged with the option"

printf 'log all\ndeny listen on 127.0.0.1 errno=EPERM\n' > "$TMP/listen.conf"
if build_static; then
    out=$(timeout 20 "$CMD" run -c "$TMP/listen.conf" --log "$TMP/listen.log" -- "$TMP/sup_client_static" server "$TMP/p1" 1 2> /dev/null)
    is "$out" "listen=-1 errno=EPERM" "static C server: a denied listen gets the rule's errno"
    like "$(cat "$TMP/listen.log")" "listen fd=[0-9]+ tcp 127\.0\.0\.1:[0-9]+ failed EPERM .*\[rule $TMP/listen.conf:2 deny\] \(seen by seccomp\)" "and a log line naming the rule"
else
    skip "cannot link statically"; skip "cannot link statically"
fi
if build_go; then
    out=$(timeout 20 "$CMD" run -c "$TMP/listen.conf" --log "$TMP/golisten.log" -- "$TMP/go/sup_dial" serve "$TMP/p2" 1 2> /dev/null)
    like "$out" "^listen=-1 error=.*operation not permitted" "Go server: a denied listen fails with EPERM"
    like "$(cat "$TMP/golisten.log")" "listen fd=[0-9]+ tcp 127\.0\.0\.1:[0-9]+ failed EPERM .*\[rule $TMP/listen.conf:2 deny\]" "and a log line naming the rule"
else
    skip "no Go toolchain"; skip "no Go toolchain"
fi

# sendto with an address: a denied datagram gets the rule's errno, an allowed one arrives.
cat > "$TMP/udp.py" << 'PY'
import errno, socket, sys
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(("127.0.0.1", 0)); r.settimeout(2)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for port in (int(sys.argv[1]), r.getsockname()[1]):
    try:
        print("sendto=%d" % s.sendto(b"x" * 1000, ("127.0.0.1", port)))
    except OSError as e:
        print("sendto=-1 errno=%s" % errno.errorcode.get(e.errno, e.errno))
print("got=%d" % len(r.recv(4096)))
PY
printf 'log all\ndeny send to 127.0.0.1 port %s errno=EACCES\n' "$port" > "$TMP/send.conf"
out=$(timeout 20 "$CMD" run --supervise -c "$TMP/send.conf" --log "$TMP/send.log" -- python3 "$TMP/udp.py" "$port" 2> /dev/null)
is "$(echo $out)" "sendto=-1 errno=EACCES sendto=1000 got=1000" "python3 sendto: the denied datagram fails with the rule's errno, the allowed one arrives whole"
like "$(cat "$TMP/send.log")" "send fd=[0-9]+ udp 127\.0\.0\.1:$port failed EACCES .*\[rule $TMP/send.conf:2 deny\] \(seen by seccomp\)" "and a log line naming the rule"

# socket rules: a denied socket() gets the rule's errno; a set rule's options are on the
# socket the program gets (the supervisor makes it and installs it), SOCK_CLOEXEC kept.
printf 'log all\ndeny socket family inet6 errno=EAFNOSUPPORT\nset socket family inet type stream keepalive=on keepalive-idle=33s\n' > "$TMP/sock.conf"
out=$(timeout 20 "$CMD" run --supervise -c "$TMP/sock.conf" --log "$TMP/sock.log" -- python3 -c '
import errno, fcntl, socket
try:
    socket.socket(socket.AF_INET6); print("v6=ok")
except OSError as e:
    print("v6=%s" % errno.errorcode[e.errno])
s = socket.socket(socket.AF_INET)
print("keepalive=%d idle=%d cloexec=%d" % (s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
      s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE), fcntl.fcntl(s.fileno(), fcntl.F_GETFD) & 1))' 2> /dev/null)
is "$(echo $out)" "v6=EAFNOSUPPORT keepalive=1 idle=33 cloexec=1" "socket rules: the denied family gets the rule's errno; the set rule's options are on the new socket"
like "$(cat "$TMP/sock.log")" "socket fd=-1 tcp6 failed EAFNOSUPPORT .*\[rule $TMP/sock.conf:2 deny\] \(seen by seccomp\)" "and the denial is logged naming the rule"

# pin: the program's setsockopt of a forced option succeeds and changes nothing (Go sets
# nodelay on every connection; a pinned nodelay=off stays off); another option is its own.
listener a
printf 'set connect to 127.0.0.1 port %s keepalive=on nodelay=off pin\n' "$a_port" > "$TMP/pin.conf"
cat > "$TMP/pin.py" << 'PY'
import socket, sys
s = socket.socket(); s.connect(("127.0.0.1", int(sys.argv[1])))
s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 0)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 7)
g = s.getsockopt
print("keepalive=%d nodelay=%d cnt=%d" % (g(socket.SOL_SOCKET, socket.SO_KEEPALIVE), g(socket.IPPROTO_TCP, socket.TCP_NODELAY), g(socket.IPPROTO_TCP, socket.TCP_KEEPCNT)))
PY
out=$(timeout 20 "$CMD" run --supervise -c "$TMP/pin.conf" -- python3 "$TMP/pin.py" "$a_port" 2> /dev/null)
is "$out" "keepalive=1 nodelay=0 cnt=7" "pin: the program cannot undo keepalive or nodelay; an option not forced is its own"
if [ -x "$TMP/go/sup_dial" ]; then
    printf 'set connect to 127.0.0.1 port %s nodelay=off pin\n' "$a_port" > "$TMP/pingo.conf"
    cat > "$TMP/go/nd.go" << 'GO'
package main

import (
	"fmt"
	"net"
	"os"
	"syscall"
)

func main() {
	c, err := net.Dial("tcp", os.Args[1])
	if err != nil {
		fmt.Println("error", err)
		return
	}
	raw, _ := c.(*net.TCPConn).SyscallConn()
	raw.Control(func(fd uintptr) {
		v, _ := syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
		fmt.Printf("nodelay=%d\n", v)
	})
}
GO
    go=$(command -v go || ls /usr/lib/go/bin/go)
    (cd "$TMP/go" && rm -f sup_dial.go && GOCACHE=$TMP/go/cache GOPATH=$TMP/go/path GO111MODULE=on GOFLAGS=-mod=mod GOTOOLCHAIN=local GOPROXY=off CGO_ENABLED=0 timeout 120 "$go" build -o nd nd.go) > "$TMP/nd.err" 2>&1
    out=$(timeout 20 "$CMD" run -c "$TMP/pingo.conf" -- "$TMP/go/nd" "127.0.0.1:$a_port" 2> /dev/null)
    is "$out" "nodelay=0" "pin: Go's own TCP_NODELAY on every connection does not undo a pinned nodelay=off"
else
    skip "no Go client"
fi
# A delay rule on bind sleeps in a worker of its own: two processes whose binds are delayed
# 3 s (as many as the supervisor has receiving threads at first) do not hold up another
# process's connect meanwhile. Before, the receivers slept, and every trapped call of the tree
# waited for them.
SA=$PROGS/sup_addr
printf 'delay bind on 127.0.0.1 by=3s\nset connect to 127.0.0.1 port %s nodelay=on\n' "$a_port" > "$TMP/dbind.conf"
out=$(timeout 30 "$CMD" run --supervise -c "$TMP/dbind.conf" -- bash -c "'$SA' bind 0 & '$SA' bind 0 & sleep 0.8; s=\$(date +%s%N); '$SC' connect 127.0.0.1 $a_port; e=\$(date +%s%N); echo took=\$(( (e - s) / 1000000 )); wait" 2> /dev/null)
like "$out" "connect=0 " "delay bind: another process's connect made during the delayed binds"
took=$(printf '%s\n' "$out" | sed -n 's/^took=//p')
ok "$([ -n "$took" ] && [ "$took" -lt 1500 ]; echo $?)" "and not held up by them (took ${took:-?} ms, the binds sleep 3000 ms)"
is "$(printf '%s\n' "$out" | grep -c '^bind=0 errno=0 waited=[3-5][0-9][0-9][0-9]$')" 2 "and both binds were delayed by the rule, then made"
done_testing
