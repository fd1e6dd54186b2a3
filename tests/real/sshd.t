#!/usr/bin/env bash
# OpenSSH's sshd on a loopback port, logged into by ssh with a key, bare and with the shim in
# both. sshd closes every descriptor above stderr at start and re-executes itself for each
# connection: the shim must survive both. Told `TCPKeepAlive no` on both sides, neither sets
# SO_KEEPALIVE itself, so a keepalive timer on a live session's sockets is the shim's.
. "$(dirname "$0")/lib.sh"
plan 7
LOGINS=${SSH_LOGINS:-5}
SSHD=/usr/sbin/sshd

if [ ! -x "$SSHD" ] || ! command -v ssh >/dev/null || ! command -v ssh-keygen >/dev/null; then
    for i in $(seq 7); do skip "openssh-server/openssh-client not installed (.ci/packages lists them)"; done
    finish
fi
if [ "$(id -u)" != 0 ]; then
    for i in $(seq 7); do skip "sshd needs root here (privilege separation)"; done
    finish
fi
T=$REAL_TMP/ssh
mkdir -p "$T" /run/sshd
chmod 755 "$REAL_TMP"
ssh-keygen -q -t ed25519 -N '' -f "$T/host" </dev/null
ssh-keygen -q -t ed25519 -N '' -f "$T/user" </dev/null
cp "$T/user.pub" "$T/authorized_keys"
PORT=$(free_port)
cat >"$T/sshd_config" <<CONF
Port $PORT
ListenAddress 127.0.0.1
HostKey $T/host
PidFile $T/sshd.pid
AuthorizedKeysFile $T/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
TCPKeepAlive no
CONF
SSH=(ssh -F /dev/null -i "$T/user" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
     -o BatchMode=yes -o TCPKeepAlive=no -o ConnectTimeout=10 -p "$PORT" root@127.0.0.1)

SPID=
start_sshd() { # start_sshd [env VAR=...]
    "$@" "$SSHD" -D -e -f "$T/sshd_config" 2>>"$T/sshd.log" &
    SPID=$!
    CLEAN_PIDS+=("$SPID")
    wait_port "$PORT" 10
}
stop_sshd() {
    kill "$SPID" 2>/dev/null
    wait "$SPID" 2>/dev/null
}
# logins NAME [prefix...]: LOGINS logins each running a command; how many answered right.
logins() {
    local name=$1 i good=0
    shift
    for ((i = 0; i < LOGINS; i++)); do
        out=$("$@" timeout 30 "${SSH[@]}" "echo hello-$i" 2>>"$T/$name.err")
        [ "$out" = "hello-$i" ] && good=$((good + 1))
    done
    echo "$good"
}
# held NAME [prefix...]: a session that sleeps while ss looks at both ends.
held() {
    local name=$1
    shift
    "$@" timeout 30 "${SSH[@]}" "sleep 2" 2>>"$T/$name.err" &
    local h=$!
    sleep 1.2
    ss -Htnoi state established "( sport = :$PORT or dport = :$PORT )" >"$T/$name.ss"
    wait $h
}

sshd_check=$("$SSHD" -t -f "$T/sshd_config" 2>&1)
start_sshd
good=$(logins bare)
held bare
stop_sshd
[ "$good" = "$LOGINS" ]
ok $? "bare: $good of $LOGINS logins ran their command"
[ -n "$sshd_check" ] && diag "sshd -t: $sshd_check"
! grep -q 'timer:(keepalive' "$T/bare.ss"
ok $? "bare: no keepalive timer on the session's sockets (TCPKeepAlive no)"

why=$(shim_missing)
if [ -n "$why" ]; then
    for i in $(seq 5); do skip "under the shim: $why"; done
    finish
fi
# shellcheck disable=SC2046
start_sshd env $(shim_env)
ok $? "sshd starts and listens under the shim"
# shellcheck disable=SC2046
good=$(logins shim env $(shim_env))
[ "$good" = "$LOGINS" ]
ok $? "under the shim (sshd and ssh): $good of $LOGINS logins ran their command"
[ "$good" = "$LOGINS" ] || sed 's/^/#   /' "$T/shim.err" "$T/sshd.log" | tail -20
# shellcheck disable=SC2046
held shim env $(shim_env)
stop_sshd
sed 's/^/#   /' "$T/shim.ss" | grep timer
[ "$(grep -c 'timer:(keepalive' "$T/shim.ss")" -ge 2 ]
ok $? "ss: the shim's keepalive timer on both ends of a live session"
kill -0 "$SPID" 2>/dev/null
[ $? != 0 ]
ok $? "sshd stopped cleanly"
! policy_load_failed
ok $? "the shim loaded the policy in sshd and ssh"
finish
