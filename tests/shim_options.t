#!/usr/bin/env bash
# Each option the policy language can force, read back with getsockopt by a plain program
# (tests/progs/sp_sock) that never asked for it: connect, listen, accept, bind, socket rules,
# IPv4 and IPv6; AF_UNIX left alone unless a rule names it.
. "$(dirname "$0")/shim_lib.sh"
if ! have_shim; then skip "no $SHIM"; done_testing; exit; fi
S=$PROGS/sp_sock

port=$(free_port)
"$S" server -c 1 "$port" > "$TMP/srv" &
wait_port "$port"
cat > "$TMP/c.conf" << EOF2
set connect to 127.0.0.1 port $port keepalive=60/10/5 nodelay user-timeout=30s syn-count=3 mark=7 tos=16 rcvbuf=64k sndbuf=64k linger=5 congestion=reno
EOF2
out=$(under "$TMP/c.conf" "$S" client 127.0.0.1 "$port")
wait
is "$(field "$out" connect)" 0 "connect succeeds"
for kv in keepalive=1 keepidle=60 keepintvl=10 keepcnt=5 nodelay=1 user-timeout=30000 syn-count=3 mark=7 tos=16 \
          rcvbuf=131072 sndbuf=131072 linger=1/5 congestion=reno nonblock=0; do
    is "$(field "$out" "client.${kv%%=*}")" "${kv#*=}" "connect rule forces ${kv%%=*} (read back: ${kv#*=})"
done

# A client connecting elsewhere gets nothing.
port2=$(free_port)
"$S" server -c 1 "$port2" > /dev/null &
wait_port "$port2"
out=$(under "$TMP/c.conf" "$S" client 127.0.0.1 "$port2")
wait
is "$(field "$out" client.keepalive):$(field "$out" client.nodelay):$(field "$out" client.mark)" 0:0:0 "a connect the rule does not match is left alone"

# listen and accept rules, on the server side; IPv6.
port=$(free_port)
cat > "$TMP/s.conf" << EOF2
set listen port $port tfo=256 nodelay keepalive
set accept keepalive=30/5/3 nodelay tos=32
set bind port $port reuseport v6only=on
EOF2
under "$TMP/s.conf" "$S" server -6 -c 1 "$port" > "$TMP/srv6" &
for _ in $(seq 100); do ss -Htln "sport = :$port" | grep -q . && break; sleep 0.05; done
out=$("$S" client -6 -w hello ::1 "$port")
wait
srv=$(cat "$TMP/srv6")
is "$(field "$srv" listener.tfo-qlen)" 256 "listen rule: TFO queue length 256 after listen"
is "$(field "$srv" listener.nodelay)" 1 "listen rule: nodelay on the listener"
is "$(field "$srv" listener.keepalive)" 1 "listen rule: keepalive on the listener"
is "$(field "$srv" listener.reuseport)" 1 "bind rule: reuseport"
is "$(field "$srv" listener.v6only)" 1 "bind rule: v6only=on"
is "$(field "$srv" accepted.keepidle)/$(field "$srv" accepted.keepintvl)/$(field "$srv" accepted.keepcnt)" 30/5/3 "accept rule: keepalive=30/5/3 on the accepted socket"
is "$(field "$srv" accepted.tos)" 32 "accept rule: tclass 32 on an IPv6 socket"
is "$(field "$srv" recv)" 5 "the accepted connection carries the data"
is "$(field "$out" recv)" "5" "and the client reads the echo"

# socket rule, and nonblock / tfo on connect.
printf 'set socket family inet6 rcvbuf=32k reuseaddr\n' > "$TMP/sock.conf"
out=$(under "$TMP/sock.conf" "$S" socket -6)
is "$(field "$out" socket.rcvbuf):$(field "$out" socket.reuseaddr)" 65536:1 "socket rule: options right after socket()"
out=$(under "$TMP/sock.conf" "$S" socket)
is "$(field "$out" socket.reuseaddr)" 0 "socket rule for inet6 leaves an inet socket alone"
port=$(free_port)
"$S" server -c 1 "$port" > /dev/null &
wait_port "$port"
printf 'set connect port %s nonblock tfo\n' "$port" > "$TMP/nb.conf"
out=$(under "$TMP/nb.conf" "$S" client 127.0.0.1 "$port")
wait
like "$out" '^connect=(-1 errno=EINPROGRESS|0 errno=0)' "nonblock: the program's blocking connect became non-blocking"
is "$(field "$out" client.nonblock)" 1 "nonblock: O_NONBLOCK read back with fcntl"
is "$(field "$out" client.tfo-connect)" 1 "tfo on connect: TCP_FASTOPEN_CONNECT read back"

# The program's own blocking mode is kept: a non-blocking socket stays non-blocking.
port=$(free_port)
"$S" server -c 1 "$port" > /dev/null &
wait_port "$port"
printf 'set connect port %s keepalive\n' "$port" > "$TMP/k.conf"
out=$(under "$TMP/k.conf" "$S" client -n 127.0.0.1 "$port")
wait
like "$out" '^connect=-1 errno=EINPROGRESS' "a non-blocking program still gets EINPROGRESS"
is "$(field "$out" client.nonblock):$(field "$out" client.keepalive)" 1:1 "its socket stays non-blocking, with keepalive"

# AF_UNIX: left alone by rules that do not name it, changed by one that does.
printf 'set connect keepalive\n' > "$TMP/inet.conf"
printf 'set connect family unix sndbuf=64k\n' > "$TMP/unix.conf"
out=$(under "$TMP/inet.conf" "$S" unix "$TMP/u.sock")
is "$(field "$out" connect)" 0 "AF_UNIX connect works under the shim"
printf 'set connect family inet sndbuf=64k\n' > "$TMP/inet.conf"
out=$(under "$TMP/inet.conf" "$S" unix "$TMP/u.sock")
is "$(field "$out" client.sndbuf)" "$(field "$("$S" unix "$TMP/u.sock")" client.sndbuf)" "AF_UNIX left alone by a rule for inet"
out=$(under "$TMP/unix.conf" "$S" unix "$TMP/u.sock")
is "$(field "$out" client.sndbuf)" 131072 "AF_UNIX changed by a rule that names it (sndbuf)"
done_testing
