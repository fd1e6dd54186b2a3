# tests/supervise_lib.sh: shared by tests/supervise_*.t, on top of shim_lib.sh: a counting
# listener, the static and Go builds of the test clients, and whether this kernel can run a
# program under `sockpolicy run --supervise` at all.
. "$(dirname "$0")/shim_lib.sh"
CMD=$SP_BUILD/sockpolicy
SC=$PROGS/sup_client

# sup_can: why supervision cannot run here (empty when it can). SP_SUP_NOSKIP=1 runs the
# checks anyway (to see them fail against a build without supervision).
sup_can() {
    [ "${SP_SUP_NOSKIP:-}" = 1 ] && return
    [ -x "$CMD" ] && [ -x "$SC" ] || { echo "the command or $SC is not built"; return; }
    local msg
    msg=$(timeout 10 "$CMD" run --supervise -- /bin/true 2>&1) || echo "${msg:-sockpolicy run --supervise /bin/true failed}"
}

# listener NAME [hold|udp]: starts a TCP listener on 127.0.0.1 (a free port) that accepts and
# closes (hold: keeps each connection until the peer closes; udp: a UDP socket receiving
# datagrams instead); sets NAME_port and NAME_pid; $TMP/NAME.count holds the number of
# connections (datagrams) it accepted once it got SIGTERM.
listener() {
    local name=$1 hold=${2:-}
    python3 - "$TMP/$name.port" "$TMP/$name.count" "$hold" << 'PY' &
import os, signal, socket, sys
udp = sys.argv[3] == "udp"
s = socket.socket(type=socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
if not udp:
    s.listen(4096)
take = (lambda: s.recv(16)) if udp else (lambda: s.accept()[0].close())
n = 0
held = []
def stop(*_):
    global n
    # connections already made wait in the backlog: count them too, until none has come for
    # 0.3 s (a loaded machine may still be finishing a handshake)
    s.settimeout(0.3)
    while True:
        try:
            take()
            n += 1
        except OSError:
            break
    try:
        open(sys.argv[2] + ".tmp", "w").write("%d\n" % n)
        os.rename(sys.argv[2] + ".tmp", sys.argv[2])
    except OSError:
        pass  # the test is over: its directory is gone
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
open(sys.argv[1] + ".tmp", "w").write("%d\n" % s.getsockname()[1])
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
s.settimeout(120)
while True:
    try:
        c = s.recv(16) if udp else s.accept()[0]
    except socket.timeout:
        stop()
    n += 1
    if sys.argv[3] == "hold":
        held.append(c)
    elif not udp:
        c.close()
PY
    eval "${name}_pid=$!"
    for _ in $(seq 100); do [ -s "$TMP/$name.port" ] && break; sleep 0.05; done
    eval "${name}_port=$(cat "$TMP/$name.port")"
    CLEANUP="${CLEANUP:-} kill $! 2>/dev/null;"
}
# count NAME: stops listener NAME and prints how many connections it accepted.
count() {
    local pid
    eval "pid=\$${1}_pid"
    kill -TERM "$pid" 2> /dev/null
    for _ in $(seq 100); do [ -s "$TMP/$1.count" ] && break; sleep 0.05; done
    cat "$TMP/$1.count" 2> /dev/null || echo "?"
}

# Static build of the client, and the Go client (CGO_ENABLED=0: static too).
build_static() {
    ${CC:-cc} -static -O1 -o "$TMP/sup_client_static" "$SP_TOP/tests/progs/sup_client.c" -lpthread \
        2> "$TMP/static.err"
}
build_go() {
    local go
    go=$(command -v go || ls /usr/lib/go/bin/go 2> /dev/null) || return 1
    mkdir -p "$TMP/go"
    cp "$SP_TOP/tests/progs/go/sup_dial.go" "$TMP/go/"
    printf 'module supdial\n\ngo 1.18\n' > "$TMP/go/go.mod"
    (cd "$TMP/go" && GOCACHE=$TMP/go/cache GOPATH=$TMP/go/path GO111MODULE=on GOFLAGS=-mod=mod \
        GOTOOLCHAIN=local GOPROXY=off CGO_ENABLED=0 timeout 120 "$go" build -o sup_dial sup_dial.go) \
        > "$TMP/go.err" 2>&1
}
