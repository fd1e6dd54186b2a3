#!/usr/bin/env bash
# `pin` holds for the socket, not for one number (issue 13): a setsockopt through a dup(),
# an F_DUPFD copy, a copy received over SCM_RIGHTS, or a copy whose original was closed
# changes nothing the policy pinned; SO_BINDTOIFINDEX 0 does not unbind a pinned device; a
# socket on a number above the fd table (RLIMIT_NOFILE raised at run time) is pinned too.
# tests/progs/fd_pin tries each and reads the socket back.
. "$(dirname "$0")/shim_lib.sh"
if ! have_shim; then skip "no $SHIM"; done_testing; exit; fi
P=$PROGS/fd_pin
port=$(free_port)
python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(256); s.settimeout(60)
while True:
    c, _ = s.accept(); c.close()' "$port" &
srv=$!
at_exit "kill $srv 2>/dev/null"
wait_port "$port" || { skip "listener did not start"; done_testing; exit; }

printf 'log all\nset connect to 127.0.0.1 port %s keepalive pin\n' "$port" > "$TMP/pin.conf"
printf 'set connect to 127.0.0.1 port %s keepalive\n' "$port" > "$TMP/nopin.conf"
for way in plain dup dupfd scm closed; do
    out=$(SOCKPOLICY_LOG=$TMP/pin.log under "$TMP/pin.conf" "$P" "$way" "$port" 2>&1)
    is "$out" "keepalive=1 device=" "pinned keepalive holds through $way"
done
# Any port of 127.0.0.1: the churn connects to a listener of its own, then to $port.
printf 'set connect to 127.0.0.1 keepalive pin\n' > "$TMP/churn.conf"
out=$(SOCKPOLICY_LOG=$TMP/churn.log under "$TMP/churn.conf" "$P" churn "$port" 2>&1)
is "$out" "keepalive=1 device=" "after 20,000 pinned sockets closed, a new one is pinned through dup"
is "$(cat "$TMP/churn.log" 2>/dev/null | grep -c 'cannot pin')" "0" "no pin was refused for want of room"
# Without pin the program's own setsockopt wins: the checks above can fail.
out=$(SOCKPOLICY_LOG=$TMP/pin.log under "$TMP/nopin.conf" "$P" dup "$port" 2>&1)
is "$out" "keepalive=0 device=" "without pin, the program's setsockopt through a dup wins"

if ! (ulimit -Hn 1048576) 2> /dev/null; then
    skip "RLIMIT_NOFILE cannot be raised to 1048576 here (CAP_SYS_RESOURCE, fs.nr_open)"
else
    out=$(SOCKPOLICY_LOG=$TMP/pin.log under "$TMP/pin.conf" "$P" high "$port" 2>&1)
    is "$out" "keepalive=1 device=" "pinned on a number above the fd table's size"
fi

if [ "$(id -u)" != 0 ]; then
    skip "binding to a device needs CAP_NET_RAW"
else
    printf 'set connect to 127.0.0.1 port %s bind-device=lo pin\n' "$port" > "$TMP/dev.conf"
    out=$(SOCKPOLICY_LOG=$TMP/pin.log under "$TMP/dev.conf" "$P" ifindex "$port" 2>&1)
    is "$out" "keepalive=0 device=lo" "SO_BINDTOIFINDEX 0 does not unbind a pinned device"
fi
like "$(cat "$TMP/pin.log")" "ignored, pinned by" "each ignored setsockopt is logged"
done_testing
