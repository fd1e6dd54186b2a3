# tests/diag_syslog.py PATH OUT [SECONDS]: a stand-in syslog daemon for tests: binds a datagram
# socket at PATH (mode 0666, so any user's process may send), appends each datagram it
# receives to OUT as one line, and exits after SECONDS (default 20) or when OUT.stop exists.
# Used inside private mount namespaces, where /dev is an overlay and /dev/log is ours.
import os, socket, sys, time
path, out = sys.argv[1], sys.argv[2]
limit = float(sys.argv[3]) if len(sys.argv) > 3 else 20.0
try:
    os.unlink(path)
except OSError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
s.settimeout(0.1)
with open(out, "a", buffering=1) as f:
    f.write("")
    end = time.time() + limit
    while time.time() < end and not os.path.exists(out + ".stop"):
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        f.write(d.decode("utf-8", "replace").replace("\n", "\\n") + "\n")
