#!/usr/bin/env bash
# TCP Fast Open end to end in a private network namespace: a server and a client that never
# asked for TFO get it from the policy, and the second connection's data rides in the SYN
# (the client's TCP_INFO says SYN data was acked; the namespace's TcpExtTCPFastOpenPassive
# counter goes up). Without the shim, the same programs do not use TFO.
. "$(dirname "$0")/shim_lib.sh"
if ! have_shim; then skip "no $SHIM"; done_testing; exit; fi
if ! unshare -n true 2> /dev/null; then skip "cannot create a network namespace (unshare -n)"; done_testing; exit; fi
cat > "$TMP/tfo.conf" << 'EOF2'
set listen port 7777 tfo=16
set connect to 127.0.0.1 port 7777 tfo
EOF2
cat > "$TMP/inner.sh" << 'EOF2'
# runs inside the namespace: $1 = "shim" or "bare"
set -u
ip link set lo up
sysctl -qw net.ipv4.tcp_fastopen=3
pre() { if [ "$1" = shim ]; then shift; SOCKPOLICY_CONF=$TMP/tfo.conf LD_PRELOAD=$PRELOAD timeout 10 "$@"; else shift; timeout 10 "$@"; fi; }
pre "$1" "$PROGS/sp_sock" server -c 2 7777 > "$TMP/srv.$1" &
for _ in $(seq 100); do ss -Htln 'sport = :7777' | grep -q . && break; sleep 0.05; done
pre "$1" "$PROGS/sp_sock" client -w first 127.0.0.1 7777 > "$TMP/c1.$1"
pre "$1" "$PROGS/sp_sock" client -w second 127.0.0.1 7777 > "$TMP/c2.$1"
wait
nstat -az TcpExtTCPFastOpenPassive | awk '/TcpExtTCPFastOpenPassive/ {print $2}' > "$TMP/nstat.$1"
EOF2
export TMP PROGS PRELOAD
unshare -n bash "$TMP/inner.sh" shim
unshare -n bash "$TMP/inner.sh" bare
srv=$(cat "$TMP/srv.shim"); c1=$(cat "$TMP/c1.shim"); c2=$(cat "$TMP/c2.shim")
is "$(field "$srv" listener.tfo-qlen)" 16 "the server's listener got TCP_FASTOPEN=16 from the policy"
is "$(field "$c1" client.tfo-connect)" 1 "the client's socket got TCP_FASTOPEN_CONNECT from the policy"
like "$c1" '^recv=5 first' "first connection (cookie request) works"
like "$c2" '^recv=6 second' "second connection works"
is "$(field "$c2" client.syn-data-acked)" 1 "second connection: the data rode in the SYN (TCP_INFO TCPI_OPT_SYN_DATA)"
n=$(cat "$TMP/nstat.shim")
[ "${n:-0}" -ge 1 ]; ok $? "the namespace counted $n TFO passive opens (TcpExtTCPFastOpenPassive)"
is "$(field "$(cat "$TMP/c2.bare")" client.syn-data-acked)" 0 "without the shim the same programs do not use TFO"
is "$(cat "$TMP/nstat.bare")" 0 "and the namespace counts no TFO open"
done_testing
