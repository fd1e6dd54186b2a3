#!/usr/bin/env bash
# examples/: every policy (and every ```sockpolicy block of a walkthrough) passes
# `sockpolicy check` without a warning, every file is listed in examples/README.md, the
# policies decide what their comments promise (sockpolicy explain), two of them do it to real
# programs in a private network namespace (read back with getsockopt and ss), and the systemd
# drop-in is what systemd reads.
. "$(dirname "$0")/shim_lib.sh"
CMD=$SP_BUILD/sockpolicy
EX=$SP_TOP/examples

for f in "$EX"/*.conf; do
    [ "$(basename "$f")" = systemd-dropin.conf ] && continue
    out=$("$CMD" check "$f" 2>&1); rc=$?
    is "$rc:$out" "0:" "sockpolicy check $(basename "$f"): valid, no warning"
done
for md in "$EX"/*.md; do
    n=0
    awk -v dir="$TMP" -v base="$(basename "$md" .md)" '
        /^```sockpolicy/ { n++; out = dir "/" base "." n ".conf"; inb = 1; next }
        /^```/ { inb = 0; next }
        inb { print > out }' "$md"
    for b in "$TMP/$(basename "$md" .md)".*.conf; do
        [ -e "$b" ] || continue
        n=$((n + 1))
        out=$("$CMD" check "$b" 2>&1); rc=$?
        is "$rc:$out" "0:" "$(basename "$md"): policy block $n is valid"
    done
done
for f in "$EX"/*; do
    b=$(basename "$f"); [ "$b" = README.md ] && continue
    grep -qF "\`$b\`" "$EX/README.md"; ok $? "README.md says when to use $b"
done

# explain EXAMPLE ARGS... : the decision, on one line
explain() { local f=$1; shift; "$CMD" explain -c "$EX/$f" "$@" 2>&1 | tr '\n' ' '; }
like "$(explain metadata-deny.conf --prog curl connect 169.254.169.254:80)" 'action: deny, the call fails with EACCES' "metadata: curl is denied the endpoint"
like "$(explain metadata-deny.conf --prog cloud-agent --uid 998 connect 169.254.169.254:80)" 'action: pass' "metadata: the agent under its own uid passes"
like "$(explain metadata-deny.conf --prog cloud-agent --uid 1000 connect 169.254.169.254:80)" 'action: deny' "metadata: a program merely named like the agent is denied"
like "$(explain metadata-deny.conf --prog curl connect [fd00:ec2::254]:80)" 'action: deny' "metadata: the IPv6 endpoint too"
like "$(explain metadata-deny.conf --prog curl connect 10.1.2.3:80)" 'no rule matches: .* pass' "metadata: other addresses untouched"
like "$(explain batch-allowlist.conf connect 93.184.216.34:443)" 'default for connect is deny, the call fails with ECONNREFUSED' "allow-list: an unlisted host is refused"
like "$(explain batch-allowlist.conf connect 10.20.3.4:5432)" 'forces: keepalive=on' "allow-list: the database passes, with keepalive"
like "$(explain batch-allowlist.conf connect /run/systemd/resolve/io.systemd.Resolve)" 'action: pass' "allow-list: AF_UNIX (resolvers) passes"
like "$(explain database-keepalive.conf connect 10.20.1.5:5432)" 'keepalive-idle=60s keepalive-interval=10s keepalive-count=5 nodelay=on user-timeout=90000ms' "keepalive: what the database connection gets"
like "$(explain database-keepalive.conf connect 10.20.1.5:443)" 'no rule matches' "keepalive: other ports untouched"
like "$(explain web-server-tfo.conf listen 0.0.0.0:443)" 'forces: tfo-queue=512' "web: the listener's TFO queue"
like "$(explain web-server-tfo.conf bind 0.0.0.0:443)" 'forces: reuseaddr=on' "web: reuseaddr at bind, where it counts"
like "$(explain web-server-tfo.conf accept 198.51.100.7:50000)" 'forces: .*nodelay=on' "web: accepted connections get nodelay"
like "$(explain retry-faults.conf connect 10.9.9.9:8080)" '33% of calls fail with ECONNREFUSED' "faults: a third refused"
like "$(explain retry-faults.conf connect 10.9.9.11:6379)" 'waits 250ms' "faults: the cache is slow"
like "$(explain flaky-upstream.conf connect 10.40.1.7:8443)" 'connect-timeout=3000ms' "flaky upstream: connect-timeout"

# Real programs in a private network namespace: the keepalive example on a database client,
# the metadata example on curl.
if ! have_shim; then
    skip "no $SHIM"
elif ! unshare -n true 2>/dev/null; then
    skip "cannot create a network namespace (unshare -n)"
else
    cat > "$TMP/inner.sh" <<'EOF2'
set -u
ip link set lo up
ip addr add 10.20.0.1/32 dev lo
ip addr add 169.254.169.254/32 dev lo
python3 -c '
import socket, sys, time
ls = []
for a in (("10.20.0.1", 5432), ("169.254.169.254", 80)):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(a); s.listen(8); ls.append(s)
open(sys.argv[1], "w").close()
time.sleep(15)' "$TMP/ready" &
srv=$!
for _ in $(seq 100); do [ -e "$TMP/ready" ] && break; sleep 0.05; done
SOCKPOLICY_CONF=$EX/database-keepalive.conf LD_PRELOAD=$PRELOAD timeout 10 \
    "$PROGS/sp_sock" client -H 1500 10.20.0.1 5432 > "$TMP/db.out" &
cl=$!
sleep 0.7
ss -tnoi state established dst 10.20.0.1 > "$TMP/db.ss"
wait $cl
SOCKPOLICY_CONF=$EX/metadata-deny.conf SOCKPOLICY_LOG=$TMP/meta.log LD_PRELOAD=$PRELOAD timeout 10 \
    curl -sS -m 3 http://169.254.169.254/latest/meta-data/ > /dev/null 2> "$TMP/meta.err"
echo $? > "$TMP/meta.rc"
SOCKPOLICY_CONF=$EX/metadata-deny.conf LD_PRELOAD=$PRELOAD timeout 10 \
    "$PROGS/sp_sock" client 10.20.0.1 5432 > "$TMP/other.out"
kill $srv 2>/dev/null; wait $srv 2>/dev/null
true
EOF2
    export TMP PROGS PRELOAD EX
    unshare -n bash "$TMP/inner.sh"
    db=$(cat "$TMP/db.out")
    like "$db" '^connect=0 ' "keepalive: the client connects"
    is "$(field "$db" client.keepalive):$(field "$db" client.keepidle):$(field "$db" client.keepintvl):$(field "$db" client.keepcnt)" "1:60:10:5" "keepalive: getsockopt reads back SO_KEEPALIVE 60/10/5"
    is "$(field "$db" client.user-timeout):$(field "$db" client.nodelay)" "90000:1" "keepalive: TCP_USER_TIMEOUT 90 s and nodelay read back"
    like "$(cat "$TMP/db.ss")" 'timer:\(keepalive,' "keepalive: ss shows the keepalive timer on the connection"
    is "$(cat "$TMP/meta.rc")" 7 "metadata: curl cannot connect (exit 7)"
    like "$(cat "$TMP/meta.err")" 'ermission denied|Couldn.t connect|Failed to connect' "metadata: curl reports the refusal"
    like "$(cat "$TMP/meta.log" 2>/dev/null)" '169\.254\.169\.254' "metadata: the log names the endpoint"
    like "$(cat "$TMP/other.out")" '^connect=0 ' "metadata: other connections work under the same policy"
fi

# The flaky-upstream walkthrough, as written: --trace on curl to an upstream whose SYNs vanish
# (a veth peer that never answers), then the example policy's JSON log of a blocking client.
if ! have_shim; then
    skip "no $SHIM"
elif ! unshare -n sh -c 'ip link add v0 type veth peer name v1' 2>/dev/null; then
    skip "cannot create a veth pair in a network namespace"
else
    cat > "$TMP/flaky.sh" <<'EOF2'
set -u
ip link set lo up
ip link add v0 type veth peer name v1 && ip link set v0 up && ip link set v1 up
ip addr add 10.40.0.1/16 dev v0
ip neigh add 10.40.1.7 lladdr 02:00:00:00:00:01 dev v0 nud permanent
sed "s|/var/log/sockpolicy/app.jsonl|$TMP/app.jsonl|" "$EX/flaky-upstream.conf" > "$TMP/flaky.conf"
timeout 10 "$CMD" run --trace -- curl -sS -m 1 http://10.40.1.7:8443/health > "$TMP/trace.out" 2>&1
timeout 10 "$CMD" run -c "$TMP/flaky.conf" -- python3 -c '
import socket
try:
    socket.create_connection(("10.40.1.7", 8443))
except OSError as e:
    print(e.errno)' > "$TMP/client.out" 2>&1
EOF2
    export CMD
    unshare -n bash "$TMP/flaky.sh"
    # curl -m 1 gives up after about a second: printed as "1.0 s", or "999 ms" just under it
    like "$(cat "$TMP/trace.out")" '10\.40\.1\.7:8443 never completed: closed after ([0-9.]+ s|9[0-9][0-9] ms) pending, TCP state SYN_SENT' \
        "flaky upstream: --trace shows curl's connect abandoned in SYN_SENT"
    is "$(cat "$TMP/client.out")" 110 "flaky upstream: connect-timeout=3s gives the client ETIMEDOUT"
    got=$(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["event"] == "call":
        ok = 2.5e9 < e["duration_ns"] < 5e9
        print(e["errno_name"], e["remote_addr"], e["remote_port"], e["rule"]["line"], ok)' "$TMP/app.jsonl" 2>&1)
    is "$got" "ETIMEDOUT 10.40.1.7 8443 9 True" "flaky upstream: one JSON line: ETIMEDOUT, the upstream, the rule, about 3 s"
fi

# The systemd drop-in: systemd reads both variables, and the library path is where the
# package installs it.
multiarch=$(${CC:-cc} -print-multiarch 2>/dev/null)
want="/usr/lib${multiarch:+/$multiarch}/libsockpolicy.so"
grep -qxF "Environment=LD_PRELOAD=$want" "$EX/systemd-dropin.conf"; ok $? "drop-in preloads $want"
if command -v systemd-analyze >/dev/null; then
    mkdir -p "$TMP/sd/myapp.service.d"
    printf '[Service]\nExecStart=/bin/true\n' > "$TMP/sd/myapp.service"
    cp "$EX/systemd-dropin.conf" "$TMP/sd/myapp.service.d/sockpolicy.conf"
    dump=$(SYSTEMD_LOG_LEVEL=debug timeout 30 systemd-analyze verify "$TMP/sd/myapp.service" 2>&1)
    like "$dump" "Environment: LD_PRELOAD=$want" "systemd-analyze: the unit gets LD_PRELOAD"
    like "$dump" 'Environment: SOCKPOLICY_CONF=/etc/sockpolicy/myapp.conf' "systemd-analyze: the unit gets SOCKPOLICY_CONF"
    # complaints about a file are prefixed with its path (debug output also has the host's)
    ! grep -F "$TMP/sd/myapp.service.d/sockpolicy.conf:" <<<"$dump"; ok $? "systemd-analyze: no complaint about the drop-in"
else
    skip "systemd-analyze is not installed"; skip "systemd-analyze"; skip "systemd-analyze"
fi
done_testing
