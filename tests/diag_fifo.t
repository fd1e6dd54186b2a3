#!/usr/bin/env bash
# Log lines into pipes. `log-to file` naming a FIFO (an operator piping lines into a
# collector): with a reader, the lines go through it; with none, the program must not hang at
# its first line (opening a FIFO for writing blocks until a reader comes): the shim falls back
# to the default sink (stderr under `sockpolicy run`, as here; syslog elsewhere). And a line written to a pipe whose reader has gone (a daemon's stderr piped to a
# logger that died) must not kill the program with SIGPIPE.
. "$(dirname "$0")/shim_lib.sh"
if ! have_shim; then skip "no $SHIM"; done_testing; exit; fi
command -v python3 > /dev/null || { skip "no python3"; done_testing; exit; }

fifo=$TMP/lines.fifo
mkfifo "$fifo"
port=$(free_port)
printf 'log all\nlog-to file %s\npass connect\n' "$fifo" > "$TMP/p.conf"
client() {
    SOCKPOLICY_RUN=1 SOCKPOLICY_CONF=$TMP/p.conf LD_PRELOAD=$PRELOAD timeout 10 python3 -c '
import socket, sys
s = socket.socket()
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
except OSError as e:
    print("client errno=%d" % e.errno)' "$port"
}

start=$(date +%s%N)
out=$(client 2> "$TMP/err")
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
[ "$rc" = 0 ] && [ "$ms" -lt 5000 ]
ok $? "no reader on the FIFO: the program does not hang (exit $rc after $ms ms)"
is "$out" "client errno=111" "and sees its own ECONNREFUSED"
like "$(cat "$TMP/err")" "127\\.0\\.0\\.1:$port failed ECONNREFUSED" "the line went to stderr instead (the default sink under sockpolicy run)"

timeout 10 cat "$fifo" > "$TMP/read" &
reader=$!
sleep 0.2
out=$(client 2> "$TMP/err2")
wait "$reader"
is "$out" "client errno=111" "with a reader: the program runs as before"
like "$(cat "$TMP/read")" "127\\.0\\.0\\.1:$port failed ECONNREFUSED" "and the line came through the FIFO"

# A C program (SIGPIPE at its default action) whose stderr is a pipe with no reader left; the
# shim's line about its refused connect goes to stderr (the default destination).
printf 'pass connect\n' > "$TMP/q.conf"
dead_pipe() { # CONF: sp_sock's exit status with stderr a pipe whose reader is closed
    python3 -c '
import os, subprocess, sys
r, w = os.pipe()
os.close(r)
env = dict(os.environ, SOCKPOLICY_CONF=sys.argv[1], LD_PRELOAD=sys.argv[2])
p = subprocess.run([sys.argv[3], "client", "127.0.0.1", sys.argv[4]], stdout=subprocess.DEVNULL,
                   stderr=w, env=env, timeout=10)
print(p.returncode)' "$1" "$PRELOAD" "$PROGS/sp_sock" "$port"
}
is "$(dead_pipe "$TMP/q.conf")" 0 "stderr a pipe with no reader: the logged failure does not kill the program (exit 0, not SIGPIPE)"
printf 'log-to file %s\npass connect\n' "$fifo" > "$TMP/f.conf"
python3 -c '
import os, select, subprocess, sys
fifo, conf, preload, port = sys.argv[1:5]
r = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader while the program opens the FIFO
env = dict(os.environ, SOCKPOLICY_CONF=conf, LD_PRELOAD=preload)
child = """
import signal, socket, sys, time
signal.signal(signal.SIGPIPE, signal.SIG_DFL)    # as a C program has it
def refused():
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", int(sys.argv[1])))
    except OSError:
        pass
    s.close()
refused()                                        # line 1: opens the FIFO, read by the parent
time.sleep(0.5)
refused()                                        # line 2: the reader has gone
print("alive")
"""
p = subprocess.Popen([sys.executable, "-c", child, port], stdout=subprocess.PIPE, env=env)
ready, _, _ = select.select([r], [], [], 5)
first = os.read(r, 4096) if ready else b""
os.close(r)                                      # the collector goes away
out, _ = p.communicate(timeout=10)
print(p.returncode, out.decode().strip(), "first-line-read" if first else "no-first-line")' \
    "$fifo" "$TMP/f.conf" "$PRELOAD" "$port" > "$TMP/rc2"
like "$(cat "$TMP/rc2")" "first-line-read" "the first line reached the collector"
like "$(cat "$TMP/rc2")" "^0 alive " "the collector gone, the next line does not kill the program with SIGPIPE"
done_testing
