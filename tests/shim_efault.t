#!/usr/bin/env bash
# Issue 14: a pointer the kernel answers with EFAULT must get EFAULT under the shim too, never
# a crash: connect, bind, sendto (UDP and MSG_FASTOPEN), sendmsg (a bad msghdr, a bad name),
# sendmmsg, accept and accept4 (a bad address or length pointer), and an address whose first
# bytes are readable and the rest not. Each case is compared with the same program run bare,
# with no policy file, and under policies whose rules look at every call.
. "$(dirname "$0")/shim_lib.sh"
if ! have_shim; then skip "no $SHIM"; done_testing; exit; fi
E=$PROGS/shape_efault
cases="connect connect-edge connect6 connect-udp bind sendto-udp sendto-tfo sendmsg-msghdr sendmsg-name sendmmsg-vec sendmmsg-vec2 sendmmsg-name accept-addr accept-len accept4-addr"
port=$(free_port)
bare=$(timeout 60 "$E" "$port" $cases)
is "$(printf '%s\n' "$bare" | grep -v '^sendmmsg-vec2 ' | grep -vc 'r=-1 errno=EFAULT$')" 0 "bare: every case fails with EFAULT"
is "$(printf '%s\n' "$bare" | grep '^sendmmsg-vec2 ')" "sendmmsg-vec2 r=1 errno=0" "bare: a sendmmsg whose second entry is unreadable sends the first"

printf 'deny connect to 10.0.0.0/8\ndeny send to 10.0.0.0/8\ndeny bind on 10.0.0.0/8\ndeny accept from 10.0.0.0/8\n' > "$TMP/deny.conf"
printf 'set connect keepalive\nset send sndbuf=64k\nset bind reuseaddr\nset accept nodelay\n' > "$TMP/set.conf"
printf 'audit connect\naudit send\naudit bind\naudit accept\n' > "$TMP/audit.conf"
printf 'deny connect path /nonexistent/*.sock\ndeny send path /nonexistent/*.sock\ndeny bind path /nonexistent/*\n' > "$TMP/path.conf"
printf 'log all\n' > "$TMP/logonly.conf"
export SOCKPOLICY_LOG=$TMP/log
got=$(env -u SOCKPOLICY_CONF LD_PRELOAD="$PRELOAD" timeout 60 "$E" "$port" $cases)
if [ -e /etc/sockpolicy.conf ]; then
    skip "/etc/sockpolicy.conf exists: no 'no policy' run"
else
    is "$got" "$bare" "no policy file: every case as bare (sendmsg's msghdr is not read)"
fi
for c in deny set audit path logonly; do
    got=$(under "$TMP/$c.conf" "$E" "$port" $cases 2> "$TMP/$c.err")
    is "$got" "$bare" "policy $c: every case as bare (same return and errno, no signal)"
    [ "$got" = "$bare" ] || diff <(printf '%s\n' "$bare") <(printf '%s\n' "$got") | sed 's/^/#   /'
done
done_testing
