#!/usr/bin/env bash
# Accept rules match the local (listening) port, not the peer's ephemeral one: `deny accept
# port P1` refuses what comes in on P1, `set accept port P2 ...` forces options on what comes
# in on P2, and a rule naming the client's own source port does nothing. A python server
# under the shim, a bare python client; the server reads each accepted socket back.
. "$(dirname "$0")/shim_lib.sh"
if ! have_shim; then skip "no $SHIM"; done_testing; exit; fi
command -v python3 > /dev/null || { skip "no python3"; done_testing; exit; }

p1=$(free_port); p2=$(free_port); p3=$(free_port); q=$(free_port)
while [ "$p2" = "$p1" ]; do p2=$(free_port); done
while [ "$p3" = "$p1" ] || [ "$p3" = "$p2" ]; do p3=$(free_port); done
while [ "$q" = "$p1" ] || [ "$q" = "$p2" ] || [ "$q" = "$p3" ]; do q=$(free_port); done
conf=$TMP/acc.conf
cat > "$conf" << EOF
deny accept port $p1
set accept port $p2 keepalive=45/5/3
deny accept port $q
EOF

cat > "$TMP/server.py" << 'EOF'
import socket, sys
ports = [int(p) for p in sys.argv[1:4]]
ls = []
for p in ports:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", p))
    s.listen(8)
    s.settimeout(10)
    ls.append(s)
print("ready", flush=True)
for p, s in zip(ports, ls):
    try:
        c, peer = s.accept()
        ka = c.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
        idle = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)
        print("port=%d accepted keepalive=%d idle=%d peer_port=%d" % (p, ka, idle, peer[1]), flush=True)
        c.close()
    except OSError as e:
        print("port=%d error=%s" % (p, e.__class__.__name__), flush=True)
EOF
cat > "$TMP/client.py" << 'EOF'
import socket, sys
ports, q = [int(p) for p in sys.argv[1:4]], int(sys.argv[4])
for i, p in enumerate(ports):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if i == 2:
        s.bind(("127.0.0.1", q))  # the third connect comes from port q, which a rule names
    s.settimeout(10)
    s.connect(("127.0.0.1", p))
    try:
        print("port=%d client got %r" % (p, s.recv(10)), flush=True)
    except OSError as e:
        print("port=%d client error=%s" % (p, e.__class__.__name__), flush=True)
    s.close()
EOF

SOCKPOLICY_CONF=$conf LD_PRELOAD=$PRELOAD timeout 30 python3 "$TMP/server.py" "$p1" "$p2" "$p3" > "$TMP/server.out" 2>&1 &
srv=$!
at_exit "kill $srv 2>/dev/null"
for _ in $(seq 100); do grep -q ready "$TMP/server.out" 2> /dev/null && break; sleep 0.05; done
timeout 30 python3 "$TMP/client.py" "$p1" "$p2" "$p3" "$q" > "$TMP/client.out" 2>&1
wait "$srv"
out=$(cat "$TMP/server.out")

like "$out" "port=$p1 error=PermissionError" "deny accept port P1: the accept on P1 fails with EACCES"
like "$(cat "$TMP/client.out")" "port=$p1 client (got b''|error=ConnectionResetError)" "and the client on P1 sees its connection closed"
like "$out" "port=$p2 accepted keepalive=1 idle=45 " "set accept port P2: the socket accepted on P2 has keepalive=45"
like "$out" "port=$p3 accepted keepalive=0 " "P3, named by no rule: accepted, nothing forced"
like "$out" "port=$p3 .* peer_port=$q\$" "although its peer's port ($q) is one a deny rule names: the peer's port is not matched"

ex=$("$SP_BUILD/sockpolicy" explain -c "$conf" accept "127.0.0.1:$p2" 2>&1)
like "$ex" "keepalive" "sockpolicy explain accept 127.0.0.1:P2 (P2 the local port) names the keepalive rule"
ex=$("$SP_BUILD/sockpolicy" explain -c "$conf" accept "127.0.0.1:$p3" 2>&1)
like "$ex" "no rule" "and for P3 no rule decides"
done_testing
