#!/usr/bin/env bash
# sockpolicy run --supervise (issue 15): bind and listen rules under the seccomp supervisor:
# a deny gives the rule's errno (python3 bind, a static C server's listen, a Go server's
# listen) and a log line naming the rule; a set rule's options are on the socket after bind
# (read back inside the program).
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
done_testing
