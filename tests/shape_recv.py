# tests/shape_recv.py: the receiving end for tests/shim_shapes.t. Listens on PORT for TCP and
# UDP, dual stack (so 127.0.0.1, ::1 and the unspecified addresses that reach them all
# arrive), and on the unix sockets DIR/s.sock (stream) and DIR/d.sock (datagram); writes one
# line per connection or datagram to OUT: "tcp", "udp", "unix-stream", "unix-dgram".
# Exits after 120 s or on SIGTERM.
import os, select, socket, sys, time

port, out, d = int(sys.argv[1]), sys.argv[2], sys.argv[3]
log = open(out, "a", buffering=1)
socks = []
t = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
t.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("::", port)); t.listen(128)
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
u.bind(("::", port))
us = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); us.bind(os.path.join(d, "s.sock")); us.listen(128)
ud = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); ud.bind(os.path.join(d, "d.sock"))
names = {t: "tcp", u: "udp", us: "unix-stream", ud: "unix-dgram"}
open(out + ".ready", "w").close()
end = time.time() + 120
while time.time() < end:
    r, _, _ = select.select(list(names), [], [], 1)
    for s in r:
        if s.type == socket.SOCK_STREAM:
            c, _ = s.accept(); c.close()
        else:
            s.recv(65536)
        log.write(names[s] + "\n")
