#!/usr/bin/env bash
# The actions: deny (no syscall), default deny, fail, delay, audit, connect-timeout, pin, send
# rules on UDP, strict, and the log lines they leave.
. "$(dirname "$0")/shim_lib.sh"
if ! have_shim; then skip "no $SHIM"; done_testing; exit; fi
S=$PROGS/sp_sock
export SOCKPOLICY_LOG=$TMP/all.log # keep prove's output readable; tests that read stderr say so
port=$(free_port)
"$S" server -c 100 -H 0 "$port" > /dev/null &
srv=$!
at_exit "kill $srv 2>/dev/null"
wait_port "$port"
other=$(free_port)

# deny: the rule's errno, no connect syscall, a log line naming the rule.
printf 'log failures\ndeny connect to 127.0.0.1 port %s errno=ECONNREFUSED\n' "$port" > "$TMP/deny.conf"
out=$(SOCKPOLICY_LOG=$TMP/deny.log under "$TMP/deny.conf" "$S" client 127.0.0.1 "$port")
like "$out" '^connect=-1 errno=ECONNREFUSED' "deny: connect fails with the rule's errno"
like "$(cat "$TMP/deny.log")" "connect fd=[0-9]+ tcp 127\.0\.0\.1:$port failed ECONNREFUSED \(111\): denied by a sockpolicy rule.* \[rule $TMP/deny.conf:2 deny\]" "deny: logged with the rule's file and line"
if command -v strace > /dev/null; then
    SOCKPOLICY_CONF=$TMP/deny.conf strace -qq -E LD_PRELOAD="$PRELOAD" -e trace=connect -o "$TMP/deny.st" "$S" client 127.0.0.1 "$port" > /dev/null
    is "$(grep -c "htons($port)" "$TMP/deny.st")" 0 "deny: no connect syscall reaches the kernel (strace)"
else skip "no strace"; fi
printf 'deny connect to 127.0.0.1 port %s\n' "$port" > "$TMP/deny2.conf"
out=$(under "$TMP/deny2.conf" "$S" client 127.0.0.1 "$port")
like "$out" '^connect=-1 errno=EACCES' "deny without errno= gives EACCES"

# default deny: an allow list.
printf 'pass connect to 127.0.0.1 port %s\ndefault connect deny\n' "$port" > "$TMP/allow.conf"
out=$(under "$TMP/allow.conf" "$S" client 127.0.0.1 "$port")
like "$out" '^connect=0 ' "default deny: the allowed port connects"
out=$(under "$TMP/allow.conf" "$S" client 127.0.0.1 "$other")
like "$out" '^connect=-1 errno=EACCES' "default deny: any other is refused with EACCES"

# fail: always, then at a rate.
printf 'fail connect port %s errno=ECONNRESET rate=1\n' "$port" > "$TMP/fail.conf"
out=$(under "$TMP/fail.conf" "$S" client 127.0.0.1 "$port")
like "$out" '^connect=-1 errno=ECONNRESET' "fail rate=1: every connect fails with the errno given"
printf 'fail connect port %s errno=ECONNRESET rate=0.5\n' "$port" > "$TMP/half.conf"
good=0 bad=0
for _ in $(seq 24); do
    if under "$TMP/half.conf" "$S" client 127.0.0.1 "$port" | grep -q '^connect=0'; then good=$((good+1)); else bad=$((bad+1)); fi
done
[ "$good" -gt 0 ] && [ "$bad" -gt 0 ]; ok $? "fail rate=0.5: 24 connects, $good succeeded and $bad failed"

# delay
printf 'delay connect port %s by=300ms\n' "$port" > "$TMP/delay.conf"
out=$(under "$TMP/delay.conf" "$S" client 127.0.0.1 "$port")
ms=$(printf '%s\n' "$out" | sed -n 's/^connect=0 errno=0 ms=\([0-9]*\)/\1/p')
[ -n "$ms" ] && [ "$ms" -ge 290 ] && [ "$ms" -lt 2000 ]; ok $? "delay by=300ms: connect succeeded after ${ms:-?} ms"

# audit: logged as a denial would be, but allowed.
printf 'audit connect port %s\n' "$port" > "$TMP/audit.conf"
out=$(SOCKPOLICY_LOG=$TMP/audit.log under "$TMP/audit.conf" "$S" client 127.0.0.1 "$port")
like "$out" '^connect=0 ' "audit: the connect goes through"
like "$(cat "$TMP/audit.log")" "connect fd=[0-9]+ tcp 127\.0\.0\.1:$port decided before the call \[rule $TMP/audit.conf:1 audit\] \(audit: the call goes ahead\)" "audit: and is logged"

# pin: the program's own setsockopt of a forced option returns 0 and changes nothing.
printf 'set connect port %s keepalive nodelay pin\n' "$port" > "$TMP/pin.conf"
out=$(under "$TMP/pin.conf" "$S" client -s keepalive=0 -s nodelay=0 -s rcvbuf=8192 127.0.0.1 "$port")
like "$out" 'setsockopt.keepalive=0 errno=0' "pin: the program's setsockopt(SO_KEEPALIVE, 0) returns 0"
is "$(field "$out" client.keepalive):$(field "$out" client.nodelay)" 1:1 "pin: and getsockopt still shows keepalive=1 nodelay=1"
is "$(field "$out" client.rcvbuf)" 16384 "pin: an option the rule did not force is still the program's"
printf 'set connect port %s keepalive nodelay\n' "$port" > "$TMP/nopin.conf"
out=$(under "$TMP/nopin.conf" "$S" client -s keepalive=0 -s nodelay=0 127.0.0.1 "$port")
is "$(field "$out" client.keepalive):$(field "$out" client.nodelay)" 0:0 "without pin the program can undo them"

# connect-timeout: a blocking connect to a listener whose backlog is full.
python3 -c '
import socket, sys, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(0)
c = socket.create_connection(l.getsockname())
print(l.getsockname()[1], flush=True); time.sleep(8)' > "$TMP/full.port" &
fullpid=$!
at_exit "kill $srv $fullpid 2>/dev/null"
for _ in $(seq 100); do [ -s "$TMP/full.port" ] && break; sleep 0.05; done
full=$(cat "$TMP/full.port")
printf 'set connect port %s connect-timeout=400ms\n' "$full" > "$TMP/to.conf"
out=$(under "$TMP/to.conf" "$S" client 127.0.0.1 "$full")
ms=$(printf '%s\n' "$out" | sed -n 's/^connect=-1 errno=ETIMEDOUT ms=\([0-9]*\)/\1/p')
[ -n "$ms" ] && [ "$ms" -ge 380 ] && [ "$ms" -lt 1500 ]; ok $? "connect-timeout=400ms: ETIMEDOUT after ${ms:-?} ms"
is "$(field "$out" client.nonblock)" 0 "connect-timeout: the socket is blocking again afterwards"
out=$(under "$TMP/to.conf" "$S" client 127.0.0.1 "$port")
like "$out" '^connect=0 ' "connect-timeout: a connect that succeeds in time is untouched"
printf 'set connect port %s connect-timeout=300ms\n' "$port" > "$TMP/to2.conf"
out=$(under "$TMP/to2.conf" "$S" client 127.0.0.1 "$port")
like "$out" '^connect=0 ' "connect-timeout on a reachable port: connected"
kill "$fullpid" 2>/dev/null

# send rules: datagrams to an address, and a datagram socket's default destination (its
# connect() meets them, so a later send() cannot reach the address either).
uport=$(free_port)
printf 'deny send to 127.0.0.1 port %s errno=EPERM\n' "$uport" > "$TMP/send.conf"
out=$(under "$TMP/send.conf" "$S" udp 127.0.0.1 "$uport")
like "$out" '^sendto=-1 errno=EPERM' "send rule: sendto to the address is denied"
like "$out" '^sendmsg=-1 errno=EPERM' "send rule: sendmsg with msg_name is denied"
like "$out" '^connect=-1 errno=EPERM' "send rule: a datagram socket's connect() to the address is denied"
out=$(under "$TMP/send.conf" "$S" udp 127.0.0.1 "$other")
like "$out" '^sendto=4 errno=0' "send rule: another port is not matched"
printf 'deny connect type dgram port %s errno=ENETUNREACH\n' "$uport" > "$TMP/udpc.conf"
out=$(under "$TMP/udpc.conf" "$S" udp 127.0.0.1 "$uport")
like "$out" '^connect=-1 errno=ENETUNREACH' "UDP connect matched by a type dgram rule"
like "$out" '^sendto=4 ' "and its sendto is not a connect"

# IPv6 deny.
printf 'deny connect port %s errno=EHOSTUNREACH\n' "$port" > "$TMP/d6.conf"
out=$(under "$TMP/d6.conf" "$S" client -6 ::1 "$port")
like "$out" '^connect=-1 errno=EHOSTUNREACH' "IPv6 connect denied by a port rule"

# strict: a policy that fails to load denies instead of passing.
printf 'strict\nset connect bogus-option\n' > "$TMP/strict.conf"
out=$(SOCKPOLICY_LOG=stderr under "$TMP/strict.conf" "$S" client 127.0.0.1 "$port" 2> "$TMP/strict.err")
like "$out" '^(socket|connect)=-1 errno=EACCES' "strict: a policy that fails to load denies"
like "$(cat "$TMP/strict.err")" 'policy failed to load .*strict' "strict: says so once on stderr"
printf 'set connect bogus-option\n' > "$TMP/lax.conf"
out=$(under "$TMP/lax.conf" "$S" client 127.0.0.1 "$port" 2> /dev/null)
like "$out" '^connect=0 ' "without strict the same broken policy passes everything"

# deny on bind, listen and socket.
printf 'deny bind port %s errno=EADDRNOTAVAIL\n' "$other" > "$TMP/bind.conf"
out=$(under "$TMP/bind.conf" "$S" server -c 0 "$other")
like "$out" '^bind=-1 errno=EADDRNOTAVAIL' "bind denied"
printf 'deny socket family inet6 errno=EAFNOSUPPORT\n' > "$TMP/sock.conf"
out=$(under "$TMP/sock.conf" "$S" socket -6)
like "$out" '^socket=-1 errno=EAFNOSUPPORT' "socket denied by family"
out=$(under "$TMP/sock.conf" "$S" socket)
like "$out" '^socket=ok' "other families still get sockets"
kill "$srv" 2>/dev/null
done_testing
