#!/usr/bin/env bash
# What the shim cannot reach (issue 6, "documented limits, tested"; libsockpolicy(7) LIMITS).
# Each case runs a plain program under a policy that denies one connection, shows in the same
# run that the rule works for a connect(3) through libc, and then that the other way goes
# through: a static program, raw system calls, a real Go program, io_uring, glibc's stub
# resolver, a setuid program under LD_PRELOAD. Then what the shim does when it is loaded into
# a secure (AT_SECURE) process through /etc/ld.so.preload, inside a private mount namespace
# whose /etc is an overlay: nothing outside the namespace sees that file.
# Everything is on loopback (the resolver case in a private network namespace); each program
# runs under `timeout`; the whole test takes a few seconds.
. "$(dirname "$0")/shim_lib.sh"
CMD=$SP_BUILD/sockpolicy
L=$PROGS/limit_connect
PY=/usr/bin/python3
if ! have_shim || [ ! -x "$CMD" ] || [ ! -x "$L" ]; then
    skip "the shim, the command or $L is not built"; done_testing; exit
fi
chmod 755 "$TMP" # setuid cases run as nobody
if [ "$(id -u)" = 0 ] && command -v setpriv > /dev/null && getent passwd nobody > /dev/null &&
    setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups true 2> /dev/null; then
    AS_NOBODY="setpriv --reuid=nobody --regid=$(id -g nobody) --clear-groups"
else
    AS_NOBODY=
fi

# A listener that never accepts: connects complete in its backlog.
port=$(free_port)
$PY -c "import socket,time
s=socket.socket(); s.bind(('127.0.0.1',$port)); s.listen(128); time.sleep(60)" &
listener=$!
at_exit "kill $listener 2>/dev/null"
wait_port "$port" || { skip "no listener on 127.0.0.1:$port"; done_testing; exit; }
printf 'log all\ndeny connect to 127.0.0.1 port %s errno=ENETUNREACH\n' "$port" > "$TMP/deny.conf"
chmod 644 "$TMP/deny.conf"
DENIED='connect=-1 errno=ENETUNREACH'
# logged FILE: how many lines of the shim's log FILE name the denied port.
logged() { grep -c "127\.0\.0\.1:$port" "$1" 2> /dev/null || true; }
# num OUTPUT: the preloaded=N figure (mapped files named *sockpolicy*), 0 when absent.
num() { local v; v=$(field "$1" preloaded); echo "${v:-0}"; }

# 1. The rule works through libc; raw system calls in the same process go through.
out=$(under "$TMP/deny.conf" "$L" 127.0.0.1 "$port" libc raw 2> "$TMP/raw.log")
like "$out" "^libc $DENIED" "control: the deny rule stops a connect(3) through libc"
like "$out" '^raw connect=0 keepalive=0' "raw syscall(SYS_connect) in the same process connects despite the rule"
is "$(logged "$TMP/raw.log")" 1 "the shim logged the libc connect only (log all)"

# 2. A statically linked program: nothing is loaded into it.
if ${CC:-cc} -static -O1 -o "$TMP/static" "$SP_TOP/tests/progs/limit_connect.c" 2> "$TMP/static.err"; then
    out=$(under "$TMP/deny.conf" "$TMP/static" 127.0.0.1 "$port" libc 2> /dev/null)
    like "$out" '^libc connect=0' "static program under LD_PRELOAD: its connect(3) goes through the rule"
    is "$(num "$out")" 0 "static program: the shim is not mapped into it"
    msg=$("$CMD" run --preload -c "$TMP/deny.conf" -- "$TMP/static" 127.0.0.1 "$port" libc 2>&1); rc=$?
    is "$rc" 126 "sockpolicy run --preload refuses a static program (exit 126)"
    like "$msg" 'is statically linked: it has no dynamic loader, so LD_PRELOAD cannot' "and says why (without --preload, run supervises it: tests/supervise_*.t)"
    out=$(under "$TMP/deny.conf" "$L" 127.0.0.1 "$port" libc exec "$TMP/static" 127.0.0.1 "$port" libc 2> /dev/null)
    like "$(printf '%s\n' "$out" | sed -n 1p)" "^libc $DENIED" "exec of a static program: the shimmed parent is denied"
    like "$(printf '%s\n' "$out" | sed -n '/^euid=/,$p' | sed 1d)" '^libc connect=0' "and the static program it execs connects (LD_PRELOAD inherited, ignored)"
else
    for _ in 1 2 3 4 5 6; do skip "cannot link statically: $(head -1 "$TMP/static.err")"; done
fi

# 3. A Go program: its runtime makes the system calls itself. Built with cgo (dynamically
# linked, so the shim IS loaded into it) and without (static).
GO=$(command -v go || ls /usr/lib/go/bin/go 2> /dev/null)
if [ -n "$GO" ]; then
    mkdir -p "$TMP/go"
    cat > "$TMP/go/dial.go" << 'EOF'
package main

import (
	"fmt"
	"net"
	"os"
	"strings"
)

func main() {
	maps, _ := os.ReadFile("/proc/self/maps")
	c, err := net.Dial("tcp", os.Args[1])
	if err != nil {
		fmt.Printf("go connect=-1 error=%v\n", err)
	} else {
		fmt.Println("go connect=0")
		c.Close()
	}
	fmt.Printf("preloaded=%d\n", strings.Count(string(maps), "sockpolicy"))
}
EOF
    export GOCACHE=$TMP/go/cache GOPATH=$TMP/go/path GO111MODULE=off GOFLAGS= GOTOOLCHAIN=local
    (cd "$TMP/go" && CGO_ENABLED=1 timeout 60 "$GO" build -o dial dial.go && \
        CGO_ENABLED=0 timeout 60 "$GO" build -o dial_static dial.go) > "$TMP/go.err" 2>&1
fi
if [ -z "$GO" ]; then
    for _ in 1 2 3 4 5; do skip "no Go toolchain (golang-go, in .ci/packages)"; done
elif [ ! -x "$TMP/go/dial_static" ]; then
    for _ in 1 2 3 4 5; do skip "go build failed: $(head -1 "$TMP/go.err")"; done
else
    out=$(under "$TMP/deny.conf" "$TMP/go/dial" "127.0.0.1:$port" 2> "$TMP/go.run.err")
    if [ "${SANITIZE:-}" = 1 ] && [ -z "$out" ]; then
        skip "Go program with the ASan-built shim: $(head -1 "$TMP/go.run.err")"
        skip "Go program with the ASan-built shim"
    else
        like "$out" '^go connect=0' "Go program (cgo, dynamically linked) connects despite the deny rule"
        [ "$(num "$out")" -gt 0 ]; ok $? "although the shim is mapped into it"
    fi
    msg=$("$CMD" run --preload -c "$TMP/deny.conf" -- "$TMP/go/dial" "127.0.0.1:$port" 2>&1)
    like "$msg" "warning: $TMP/go/dial is a Go program: .*not through libc" "sockpolicy run --preload warns that a Go program escapes the policy"
    msg=$("$CMD" run --preload -c "$TMP/deny.conf" -- "$TMP/go/dial_static" "127.0.0.1:$port" 2>&1); rc=$?
    is "$rc" 126 "a Go program built without cgo is static: sockpolicy run --preload refuses it"
    msg=$("$CMD" run -c "$TMP/deny.conf" -- "$L" 127.0.0.1 "$port" libc 2>&1)
    if printf '%s\n' "$msg" | grep -q 'Go program'; then ok 1 "no Go warning for a C program"; else ok 0 "no Go warning for a C program"; fi
fi

# 4. io_uring: IORING_OP_CONNECT is made by the kernel from the ring.
out=$(under "$TMP/deny.conf" "$PROGS/limit_uring" 127.0.0.1 "$port" 2> "$TMP/uring.log")
if printf '%s\n' "$out" | grep -q '^uring setup=-1'; then
    why="io_uring_setup failed ($(sed -n 's/^uring setup=-1 errno=//p' <<< "$out"))"
    [ -r /proc/sys/kernel/io_uring_disabled ] && why="$why, kernel.io_uring_disabled=$(cat /proc/sys/kernel/io_uring_disabled)"
    skip "io_uring: $why"; skip "io_uring: $why"; skip "io_uring: $why"
else
    like "$out" "^libc $DENIED" "io_uring program: its connect(3) is denied"
    like "$out" '^uring connect=0' "its IORING_OP_CONNECT connects despite the rule"
    is "$(logged "$TMP/uring.log")" 1 "the shim logged the libc connect only (log all)"
fi

# 5. glibc's stub resolver: in a private mount+network namespace, /etc/resolv.conf points at
# a responder on 127.0.0.1:53; the policy denies sending to and connecting to it.
dns_why=
if [ "$(id -u)" != 0 ] || ! command -v unshare > /dev/null || ! unshare -mn true 2> /dev/null; then
    dns_why="needs root and unshare -mn"
else
    cat > "$TMP/dns.py" << 'EOF'
import socket, struct, sys
# Answers every A question with 10.53.0.1 (others with no answer); writes how many questions
# it answered to argv[1]. Gives up after 10 s without a question.
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
s.settimeout(10)
n = 0
open(sys.argv[1], "w").write("0\n")
while True:
    try:
        q, peer = s.recvfrom(512)
    except socket.timeout:
        break
    end = 12
    while end < len(q) and q[end] != 0:
        end += q[end] + 1
    if len(q) < 17 or end + 5 > len(q):
        continue
    qtype = struct.unpack("!H", q[end + 1:end + 3])[0]
    ans = b""
    if qtype == 1:
        ans = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([10, 53, 0, 1])
    hdr = q[:2] + struct.pack("!HHHHH", 0x8180, 1, 1 if ans else 0, 0, 0)
    s.sendto(hdr + q[12:end + 5] + ans, peer)
    n += 1
    open(sys.argv[1], "w").write("%d\n" % n)
EOF
    printf 'nameserver 127.0.0.1\noptions attempts:1 timeout:2\n' > "$TMP/resolv.conf"
    printf 'hosts: files dns\n' > "$TMP/nsswitch.conf"
    printf 'log all\ndeny send to 127.0.0.1 port 53 errno=EACCES\ndeny connect to 127.0.0.1 port 53 errno=EACCES\n' > "$TMP/dns.conf"
    STRACE=$(command -v strace)
    cat > "$TMP/dns.sh" << EOF
ip link set lo up || exit 3
mount --bind "$TMP/resolv.conf" /etc/resolv.conf || exit 3
# only files and the stub resolver: no nscd, no resolved, no mDNS module in between
mount --bind "$TMP/nsswitch.conf" /etc/nsswitch.conf || exit 3
[ ! -d /var/run/nscd ] || mount -t tmpfs none /var/run/nscd || exit 3
$PY "$TMP/dns.py" "$TMP/dns.count" &
for _ in \$(seq 100); do ss -Hluln 'sport = :53' | grep -q . && break; sleep 0.05; done
run=
[ -n "$STRACE" ] && run="$STRACE -f -qq -e trace=connect -o $TMP/dns.strace -E LD_PRELOAD=$PRELOAD -E SOCKPOLICY_CONF=$TMP/dns.conf -E SOCKPOLICY_LOG=$TMP/dns.log"
SOCKPOLICY_CONF=$TMP/dns.conf SOCKPOLICY_LOG=$TMP/dns.log LD_PRELOAD=$PRELOAD \
    timeout 20 \$run "$PROGS/limit_resolve" www.limits.test 127.0.0.1
kill %1
EOF
    out=$(timeout 30 unshare -mn --propagation private bash "$TMP/dns.sh" 2> "$TMP/dns.err")
    [ $? = 3 ] && dns_why="cannot set up the namespace: $(head -1 "$TMP/dns.err")"
fi
if [ -n "$dns_why" ]; then
    for _ in 1 2 3 4 5 6; do skip "resolver: $dns_why"; done
else
    like "$out" '^libc sendto=-1 errno=EACCES' "resolver case: the program's own sendto to 127.0.0.1:53 is denied"
    like "$out" '^libc connect=-1 errno=EACCES' "and its own connect to 127.0.0.1:53 is denied"
    like "$out" '^getaddrinfo=0 addr=10.53.0.1' "but getaddrinfo's stub resolver gets its answer from 127.0.0.1:53"
    [ "$(cat "$TMP/dns.count" 2> /dev/null || echo 0)" -ge 1 ]
    ok $? "the responder answered $(cat "$TMP/dns.count" 2> /dev/null || echo 0) question(s) from the resolver"
    # The shim logs every decision (log all): only the program's two own calls to port 53.
    n53=$(grep -c '127\.0\.0\.1:53' "$TMP/dns.log" 2> /dev/null)
    is "${n53:-0}" 2 "the shim's log has no line for the resolver's connection (only the 2 own calls)"
    if [ -f "$TMP/dns.strace" ]; then
        grep -q 'connect(.*sin_port=htons(53).*127\.0\.0\.1.*= 0' "$TMP/dns.strace"
        ok $? "strace: the resolver's connect(2) to 127.0.0.1:53 was made and succeeded"
    else
        skip "strace not installed (.ci/packages lists it)"
    fi
fi

# 6. setuid programs under LD_PRELOAD: the loader drops a preload path with a slash.
if [ -n "$AS_NOBODY" ]; then
    ${CC:-cc} -O1 -o "$TMP/plain" "$SP_TOP/tests/progs/limit_connect.c" && \
        cp "$TMP/plain" "$TMP/suid" && chmod 4755 "$TMP/suid"
    # a nosuid mount of $TMP would make the bit do nothing
    [ "$(field "$($AS_NOBODY "$TMP/suid" 127.0.0.1 "$port" raw 2> /dev/null)" euid)" = 0 ] || rm -f "$TMP/suid"
fi
if [ -z "$AS_NOBODY" ]; then
    for _ in 1 2 3 4; do skip "setuid: needs root, setpriv and a nobody user"; done
elif [ ! -x "$TMP/suid" ]; then
    for _ in 1 2 3 4; do skip "setuid: the set-user-ID bit does nothing in $TMP (a nosuid mount?)"; done
else
    out=$($AS_NOBODY env SOCKPOLICY_CONF="$TMP/deny.conf" LD_PRELOAD="$PRELOAD" "$TMP/plain" 127.0.0.1 "$port" libc 2> /dev/null)
    like "$out" "^libc $DENIED" "setuid control: the same program, not setuid, run by nobody, is denied"
    out=$($AS_NOBODY env SOCKPOLICY_CONF="$TMP/deny.conf" LD_PRELOAD="$PRELOAD" "$TMP/suid" 127.0.0.1 "$port" libc 2> /dev/null)
    like "$out" '^libc connect=0' "setuid-root copy run by nobody under LD_PRELOAD connects despite the rule"
    is "$(num "$out")" 0 "the loader did not map the shim into it"
    msg=$($AS_NOBODY "$CMD" run -c "$TMP/deny.conf" -- "$TMP/suid" 127.0.0.1 "$port" libc 2>&1)
    like "$msg" "warning: $TMP/suid is setuid: the loader ignores a preload" "sockpolicy run warns for a setuid program"
fi

# 7. When the shim IS loaded into a setuid process (AT_SECURE), through /etc/ld.so.preload:
# SOCKPOLICY_CONF and SOCKPOLICY_LOG are ignored, /etc/sockpolicy.conf is used only when root
# owns it and nobody else may write it. /etc is an overlay in a private mount namespace.
N7=8
if [ -z "$AS_NOBODY" ] || [ ! -x "$TMP/suid" ] || ! unshare -m true 2> /dev/null; then
    for _ in $(seq $N7); do skip "AT_SECURE: needs root, unshare -m, setpriv and the setuid copy"; done
else
    mkdir -p "$TMP/up" "$TMP/work" "$TMP/pub"
    chmod 1777 "$TMP/pub" # where nobody may make the log files
    printf 'log all\nset connect keepalive\n' > "$TMP/user.conf"
    chmod 644 "$TMP/user.conf"
    cat > "$TMP/secure.sh" << EOF
mount -t overlay overlay -o lowerdir=/etc,upperdir=$TMP/up,workdir=$TMP/work /etc || exit 3
echo "$SHIM" > /etc/ld.so.preload
printf 'deny connect to 127.0.0.1 port $port errno=EHOSTUNREACH\n' > /etc/sockpolicy.conf
chmod 644 /etc/sockpolicy.conf
for b in plain suid; do
    $AS_NOBODY env SOCKPOLICY_CONF=$TMP/user.conf SOCKPOLICY_LOG=$TMP/pub/user.\$b.log \
        timeout 20 "$TMP/\$b" 127.0.0.1 $port libc > "$TMP/sec.\$b" 2> "$TMP/sec.\$b.err"
done
chmod 664 /etc/sockpolicy.conf
# a setuid program's lines go to syslog, never to its user's stderr: /dev/log is ours here
mkdir -p $TMP/dev.up $TMP/dev.work
if mount -t overlay overlay -o lowerdir=/dev,upperdir=$TMP/dev.up,workdir=$TMP/dev.work /dev; then
    python3 $SP_TOP/tests/diag_syslog.py /dev/log $TMP/sec.syslog 20 &
    for _ in \$(seq 100); do [ -S /dev/log ] && break; sleep 0.05; done
fi
$AS_NOBODY env SOCKPOLICY_CONF=$TMP/user.conf timeout 20 "$TMP/suid" 127.0.0.1 $port libc \
    > "$TMP/sec.writable" 2> "$TMP/sec.writable.err"
sleep 0.2; touch $TMP/sec.syslog.stop; wait
EOF
    timeout 60 unshare -m --propagation private bash "$TMP/secure.sh" > "$TMP/secure.out" 2>&1
    rc=$?
    if [ "$rc" = 3 ]; then
        for _ in $(seq $N7); do skip "AT_SECURE: cannot mount an overlay on /etc here: $(head -1 "$TMP/secure.out")"; done
    else
        like "$(cat "$TMP/sec.plain" 2> /dev/null)" '^libc connect=-1 errno=EHOSTUNREACH' "ld.so.preload, not setuid: root's deny stands, SOCKPOLICY_CONF only adds to it (shim_load_host.t)"
        [ -s "$TMP/pub/user.plain.log" ]; ok $? "and SOCKPOLICY_LOG is written"
        like "$(cat "$TMP/sec.suid" 2> /dev/null)" '^libc connect=-1 errno=EHOSTUNREACH' "ld.so.preload, setuid: SOCKPOLICY_CONF is ignored, root's /etc/sockpolicy.conf denies"
        [ ! -e "$TMP/pub/user.suid.log" ]; ok $? "and SOCKPOLICY_LOG is ignored (no file made for the user)"
        like "$(cat "$TMP/sec.writable" 2> /dev/null)" '^libc connect=0 keepalive=0' "a group-writable /etc/sockpolicy.conf is not used in a setuid process"
        like "$(cat "$TMP/sec.syslog" 2> /dev/null)" 'ignoring /etc/sockpolicy.conf in a setuid' "and the shim says so, in syslog"
        is "$(cat "$TMP/sec.writable.err" 2> /dev/null)" "" "not on the stderr of the user who ran it"
        [ ! -e /etc/ld.so.preload ] || [ "$(cat /etc/ld.so.preload)" != "$SHIM" ]
        ok $? "the namespace's /etc/ld.so.preload is not seen outside it"
    fi
fi
done_testing
