#!/usr/bin/env bash
# Accept rules set inheritable options once, on the listener (issue 7): every accepted socket
# of a matching peer must have them, sockets queued before the listener got them too, and a
# peer of no rule must have the kernel's defaults, also after the listener was changed.
# A python server runs under the shim and reads each accepted socket back with getsockopt.
. "$(dirname "$0")/shim_lib.sh"
if ! have_shim; then skip "no $SHIM"; done_testing; exit; fi
command -v python3 > /dev/null || { skip "no python3"; done_testing; exit; }

cat > "$TMP/server.py" << 'EOF'
import socket, sys
# peers: the client addresses to connect from, in order; "q" connects twice before the first
# accept (a socket queued before the listener was changed).
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(64)
port = srv.getsockname()[1]
def dial(src):
    c = socket.socket()
    c.bind((src, 0))
    c.connect(("127.0.0.1", port))
    return c
keep = []
for peer in sys.argv[1:]:
    if peer.startswith("q"):
        keep += [dial(peer[1:]), dial(peer[1:])]
        n = 2
    else:
        keep.append(dial(peer))
        n = 1
    for _ in range(n):
        a, addr = srv.accept()
        print("%s keepalive=%d idle=%d nodelay=%d" % (addr[0],
              a.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
              a.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
              a.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)))
        a.close()
print("listener keepalive=%d nodelay=%d" % (srv.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
      srv.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)))
EOF
printf 'set accept from 127.0.0.2 keepalive=60/10/5 nodelay\n' > "$TMP/acc.conf"
out=$(under "$TMP/acc.conf" python3 "$TMP/server.py" q127.0.0.2 127.0.0.2 127.0.0.2 127.0.0.1 127.0.0.2 127.0.0.1)
is "$(printf '%s\n' "$out" | grep -c '^127.0.0.2 keepalive=1 idle=60 nodelay=1')" 5 "every peer of the rule has the options (5 of 5, two of them queued before the first accept)"
is "$(printf '%s\n' "$out" | grep -c '^127.0.0.1 keepalive=0 idle=7200 nodelay=0')" 2 "a peer of no rule has the kernel's defaults (2 of 2), after the listener had them"
like "$(printf '%s\n' "$out" | tail -1)" 'listener keepalive=0 nodelay=0' "the listener's own values are back once a peer of no rule came"

# The program changes an inherited option on the listener itself: from then on its value is
# the listener's, and matching peers still get the rule's.
cat > "$TMP/server2.py" << 'EOF'
import socket
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(8)
port = srv.getsockname()[1]
def one():
    c = socket.socket(); c.connect(("127.0.0.1", port))
    a, _ = srv.accept()
    r = (a.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE), a.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    a.close(); c.close()
    return r
first = one()
srv.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
second = one()
print("first=%d/%d second=%d/%d" % (first + second))
EOF
printf 'set accept from 127.0.0.1 keepalive nodelay\n' > "$TMP/acc2.conf"
like "$(under "$TMP/acc2.conf" python3 "$TMP/server2.py")" '^first=1/1 second=1/1$' "the program's own setsockopt on the listener: accepted sockets still get the rule's options"
done_testing
