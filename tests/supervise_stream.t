#!/usr/bin/env bash
# sockpolicy run --supervise (issue 15): calls the supervisor once let the kernel run
# (SECCOMP_USER_NOTIF_FLAG_CONTINUE) after looking at their socket, and now makes itself on
# the socket it looked at (tests/supervise_swap.t shows why), give the program what the kernel
# gives: a blocking stream sendmsg that fills the socket returns counts that add up to every
# byte once (no byte sent twice, none lost), SO_SNDTIMEO ends a wait with EAGAIN, EPIPE raises
# SIGPIPE in the program, a local datagram to a relative path arrives, SCM_RIGHTS passes a
# descriptor, a socket file is bound with the program's umask, and a local socket in the
# program's own mount namespace is reached.
. "$(dirname "$0")/supervise_lib.sh"
why=$(sup_can)
if [ -n "$why" ]; then
    skip "supervision cannot run here: $why"; done_testing; exit
fi
# send, connect and bind rules that never match what these programs do
printf 'deny send to 127.0.0.1 port 9\ndeny connect to 127.0.0.1 port 9\ndeny bind on 127.0.0.1 port 9\n' > "$TMP/p.conf"
sup() { timeout 60 "$CMD" run --supervise -c "$TMP/p.conf" -- "$@" 2> "$TMP/err"; }

cat > "$TMP/stream.py" << 'PY'
import errno, hashlib, os, signal, socket, struct, threading, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
c = socket.socket(); c.connect(l.getsockname()); p, _ = l.accept()
c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
data = os.urandom(1 << 22)
got = []
def slow_reader():
    time.sleep(0.3)  # the sender fills the socket first and must wait
    while True:
        b = p.recv(65536)
        if not b:
            break
        got.append(b)
t = threading.Thread(target=slow_reader); t.start()
off = calls = short = 0
while off < len(data):
    n = c.sendmsg([data[off:off + (1 << 20)]])
    calls += 1
    short += n < min(1 << 20, len(data) - off)
    off += n
c.shutdown(socket.SHUT_WR); t.join()
print("whole=%s" % (hashlib.sha256(b"".join(got)).digest() == hashlib.sha256(data).digest()))
print("calls=%d" % calls)
# SO_SNDTIMEO on a blocking socket whose peer does not read: EAGAIN after the timeout
c2 = socket.socket(); c2.connect(l.getsockname()); p2, _ = l.accept()
c2.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 0, 200000))
t0 = time.monotonic()
try:
    for _ in range(10000):
        c2.sendmsg([b"z" * 65536])
    print("timeo=none")
except OSError as e:
    print("timeo=%s" % errno.errorcode.get(e.errno, e.errno))
print("timeo_waited=%s" % (time.monotonic() - t0 >= 0.15))
# EPIPE raises SIGPIPE in the program (here a handler that counts)
hits = []
signal.signal(signal.SIGPIPE, lambda *a: hits.append(1))
c3 = socket.socket(); c3.connect(l.getsockname()); p3, _ = l.accept(); p3.close()
res = "none"
for _ in range(50):
    try:
        c3.sendmsg([b"x"])
        time.sleep(0.01)
    except OSError as e:
        res = errno.errorcode.get(e.errno, e.errno)
        break
time.sleep(0.1)
print("pipe=%s sigpipe=%d" % (res, len(hits)))
try:
    c3.sendmsg([b"x"], [], socket.MSG_NOSIGNAL)
except OSError as e:
    pass
time.sleep(0.1)
print("nosignal_sigpipe=%d" % len(hits))
PY
out=$(sup python3 "$TMP/stream.py")
is "$(field "$out" whole)" True "a blocking TCP sendmsg that fills the socket: every byte arrives once, in order ($(echo $out))"
is "$(field "$out" timeo)" EAGAIN "SO_SNDTIMEO ends the wait with EAGAIN"
is "$(field "$out" timeo_waited)" True "after the timeout"
like "$out" "pipe=EPIPE sigpipe=1" "EPIPE raises SIGPIPE in the program"
is "$(field "$out" nosignal_sigpipe)" 1 "but not with MSG_NOSIGNAL"

cat > "$TMP/unix.py" << 'PY'
import array, os, socket, sys
os.chdir(sys.argv[1])
r = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); r.bind("r.sock")
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
print("dgram=%d" % s.sendmsg([b"hello"], [], 0, "r.sock"))
print("got=%s" % r.recv(16).decode())
a, b = socket.socketpair()
f = open(sys.argv[0], "rb")
a.sendmsg([b"f"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [f.fileno()]))])
msg, anc, _, _ = b.recvmsg(1, socket.CMSG_SPACE(4))
fd = array.array("i", anc[0][2])[0]
print("rights=%s" % (os.read(fd, 6) == b"import"))
os.umask(0o077)
m = socket.socket(socket.AF_UNIX); m.bind("m.sock")
print("mode=%o" % (os.stat("m.sock").st_mode & 0o777))
PY
mkdir -p "$TMP/u"
out=$(sup python3 "$TMP/unix.py" "$TMP/u")
is "$(echo $out)" "dgram=5 got=hello rights=True mode=700" \
    "local sockets: a datagram to a relative path arrives, SCM_RIGHTS passes a descriptor, a bound socket file has the program's umask"

# A program in its own mount namespace (unshare -rm) with a file system of its own on a
# directory: its socket file is bound and reached in its view, never in the supervisor's.
if unshare -rm true 2> /dev/null; then
    cat > "$TMP/ns.py" << 'PY'
import socket, sys
path = sys.argv[1] + "/ns.sock"
l = socket.socket(socket.AF_UNIX); l.bind(path); l.listen(1)
c = socket.socket(socket.AF_UNIX); c.connect(path)
print("ns=%s" % (l.accept()[0] is not None))
PY
    mkdir -p "$TMP/nsdir"
    out=$(sup unshare -rm sh -c "mount -t tmpfs none $TMP/nsdir && python3 $TMP/ns.py $TMP/nsdir")
    is "$out $(ls "$TMP/nsdir")" "ns=True " "a local socket in the program's own mount namespace: bound and connected in its view"
else
    skip "no unprivileged user namespaces here"
fi
done_testing
