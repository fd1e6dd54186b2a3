#!/usr/bin/env bash
# Live reload reaches a process whose only hooked call is socket() (an interface poller: a
# socket, an ioctl, a close, over and over): a `deny socket` added to its policy is in force
# within two seconds, although the policy it started with had no socket rule.
. "$(dirname "$0")/shim_lib.sh"
if ! have_shim; then skip "no $SHIM"; done_testing; exit; fi
command -v python3 > /dev/null || { skip "no python3"; done_testing; exit; }

conf=$TMP/p.conf
out=$TMP/out
printf 'pass connect to 127.0.0.1\n' > "$conf"
SOCKPOLICY_CONF=$conf LD_PRELOAD=$PRELOAD timeout 30 python3 -c '
import errno, os, socket, sys, time
end = time.time() + 20
with open(sys.argv[1], "w", buffering=1) as f:
    while time.time() < end:
        try:
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()
            r = "ok"
        except OSError as e:
            r = errno.errorcode.get(e.errno, str(e.errno))
        f.write("%.3f %s\n" % (time.time(), r))
        if r != "ok":
            break
        time.sleep(0.02)' "$out" 2> "$TMP/err" &
pid=$!
at_exit "kill $pid 2>/dev/null"
for _ in $(seq 100); do grep -q ok "$out" 2> /dev/null && break; sleep 0.05; done
like "$(tail -1 "$out")" " ok$" "socket() works under a policy with no socket rule"
t0=$(python3 -c 'import time; print("%.3f" % time.time())')
printf 'deny socket family inet errno=EPERM\n' > "$conf.new" && mv "$conf.new" "$conf"
wait "$pid"
line=$(grep -m1 EPERM "$out")
like "$line" "EPERM" "a deny socket rule added by editing the policy reaches the process"
t=$(awk -v a="$t0" -v b="${line%% *}" 'BEGIN { printf "%.2f", b - a }')
[ -n "$line" ] && awk -v d="$t" 'BEGIN { exit !(d <= 2.0) }'
ok $? "within two seconds (${line:+$t s})"
done_testing
