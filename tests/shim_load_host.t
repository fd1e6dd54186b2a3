#!/usr/bin/env bash
# Issue 13, "Trust": with a host policy (/etc/sockpolicy.conf), a user's environment must not
# weaken it. SOCKPOLICY_CONF=/dev/null and SOCKPOLICY_TRACE=1 used to switch it off, a user's
# file replaced it, and a strict host policy that only root can read failed open for everyone
# else. Now the host's policy always applies, SOCKPOLICY_CONF only adds (its rules apply where
# no host rule matches; a host default deny stays), tracing only adds logging, and a host
# policy a process cannot open counts as strict. Root only: /etc is an overlay in a private
# mount namespace, so nothing outside it sees the file.
. "$(dirname "$0")/shim_lib.sh"
N=11
if ! have_shim; then skip "no $SHIM"; done_testing; exit; fi
if [ "$(id -u)" != 0 ] || ! command -v unshare > /dev/null || ! unshare -m true 2> /dev/null ||
    ! command -v python3 > /dev/null || ! command -v setpriv > /dev/null || ! id nobody > /dev/null 2>&1; then
    for _ in $(seq $N); do skip "needs root, unshare -m, setpriv, a nobody user and python3"; done
    done_testing
    exit
fi
P=$PROGS/load_probe

loopback_listener 60
closed=$(free_port)
AS_NOBODY="setpriv --reuid=nobody --regid=$(id -g nobody) --clear-groups"

mkdir -p "$TMP/up" "$TMP/work" "$TMP/o"
chmod 755 "$TMP"
printf 'deny connect to 127.0.0.1 port %s\n' "$closed" > "$TMP/user-deny.conf"
printf 'pass connect to 127.0.0.1 port %s\n' "$port" > "$TMP/user-pass.conf"
chmod 644 "$TMP"/user-*.conf
cat > "$TMP/ns.sh" << EOF
mount -t overlay overlay -o lowerdir=/etc,upperdir=$TMP/up,workdir=$TMP/work /etc || exit 3
export LD_PRELOAD=$PRELOAD
host() { printf '%s\n' "\$@" > /etc/sockpolicy.conf; chmod 644 /etc/sockpolicy.conf; }
host 'deny connect to 127.0.0.1 port $port errno=EHOSTUNREACH'
timeout 20 $P connect $port > $TMP/o/none 2>&1
SOCKPOLICY_CONF=/dev/null timeout 20 $P connect $port > $TMP/o/devnull 2>&1
SOCKPOLICY_TRACE=1 SOCKPOLICY_LOG=$TMP/o/trace.log timeout 20 $P connect $port > $TMP/o/trace 2>&1
SOCKPOLICY_CONF=$TMP/user-deny.conf timeout 20 $P connect $closed > $TMP/o/add 2>&1
SOCKPOLICY_CONF=$TMP/user-deny.conf timeout 20 $P connect $port > $TMP/o/add-host 2>&1
SOCKPOLICY_CONF=$TMP/user-pass.conf timeout 20 $P connect $port > $TMP/o/pass 2>&1
host 'default connect deny errno=ENETUNREACH'
SOCKPOLICY_CONF=$TMP/user-pass.conf timeout 20 $P connect $port > $TMP/o/default 2>&1
host 'strict' 'deny connect to 127.0.0.1 port $closed'
chmod 600 /etc/sockpolicy.conf
$AS_NOBODY timeout 20 $P connect $port > $TMP/o/unreadable 2>&1
host 'deny connect to 127.0.0.1 port $closed'
chmod 600 /etc/sockpolicy.conf
SOCKPOLICY_CONF=/dev/null $AS_NOBODY timeout 20 $P connect $port > $TMP/o/unreadable-nostrict 2>&1
rm /etc/sockpolicy.conf
SOCKPOLICY_CONF=$TMP/user-pass.conf timeout 20 $P connect $port > $TMP/o/nohost 2>&1
EOF
timeout 120 unshare -m --propagation private bash "$TMP/ns.sh" > "$TMP/ns.out" 2>&1
if [ $? = 3 ]; then
    for _ in $(seq $N); do skip "cannot mount an overlay on /etc here: $(head -1 "$TMP/ns.out")"; done
    done_testing
    exit
fi
o() { cat "$TMP/o/$1" 2> /dev/null; }
like "$(o none)" '^connect=EHOSTUNREACH$' "the host policy denies (control)"
like "$(o devnull)" '^connect=EHOSTUNREACH$' "SOCKPOLICY_CONF=/dev/null does not switch the host policy off (it did)"
like "$(o trace)" '^connect=EHOSTUNREACH$' "SOCKPOLICY_TRACE=1 does not switch the host policy off (it did)"
like "$(cat "$TMP/o/trace.log" 2> /dev/null)" 'connect fd=[0-9]+ tcp 127\.0\.0\.1' "and it adds logging"
like "$(o add)" '^connect=EACCES$' "a user's SOCKPOLICY_CONF adds its own deny rule (ECONNREFUSED without it)"
like "$(o add-host)" '^connect=EHOSTUNREACH$' "and the host's deny stands beside it (the user's file replaced it)"
like "$(o pass)" '^connect=EHOSTUNREACH$' "a user's pass rule does not undo a host deny rule"
like "$(o default)" '^connect=ENETUNREACH$' "a user's pass rule does not undo the host's default deny (it did)"
like "$(o unreadable)" '^connect=EACCES$' "a strict host policy only root can read denies a user who cannot read it (it passed)"
like "$(o unreadable-nostrict)" '^connect=EACCES$' "an unreadable host policy counts as strict"
like "$(o nohost)" '^connect=0$' "without a host policy, SOCKPOLICY_CONF alone applies, as before"
[ -e /etc/sockpolicy.conf ] && echo "# warning: /etc/sockpolicy.conf exists outside the namespace"
done_testing
