#!/usr/bin/env bash
# Issue 13: a policy rewritten in place (documented as supported) must not lose its deny rule
# while it is half written. A writer rewrites the file in place for 3 s (truncate, the first
# line, a pause, the rest), the way an editor or a script without a rename does; a client
# connects to the denied port all the while. Then the file is emptied for good: the rules stay
# for a settle period (1 s), then go.
. "$(dirname "$0")/shim_lib.sh"
if ! have_shim; then skip "no $SHIM"; done_testing; exit; fi
command -v python3 > /dev/null || { skip "no python3"; done_testing; exit; }
P=$PROGS/load_probe

loopback_listener 60
other=$(free_port)
num() { printf '%s\n' "$1" | sed -n "s/^$2=//p" | head -1; }

conf=$TMP/p.conf
printf 'pass connect to 127.0.0.1 port %s\ndeny connect to 127.0.0.1 port %s\n' "$other" "$port" > "$conf"
touch -d '-5 seconds' "$conf"
SOCKPOLICY_CONF=$conf SOCKPOLICY_LOG=$TMP/log LD_PRELOAD=$PRELOAD timeout 30 "$P" loop "$port" 4500 > "$TMP/out" 2> /dev/null &
pid=$!
sleep 0.5
python3 - "$conf" << 'EOF2'
import os, sys, time
conf = sys.argv[1]
data = open(conf, "rb").read()
half = data.index(b"\n") + 1  # the first line: a policy that parses, without the deny rule
end = time.time() + 3
while time.time() < end:
    fd = os.open(conf, os.O_WRONLY | os.O_TRUNC)
    time.sleep(0.01)
    os.write(fd, data[:half])
    time.sleep(0.03)
    os.write(fd, data[half:])
    os.close(fd)
    time.sleep(0.02)
EOF2
wait $pid
out=$(cat "$TMP/out")
failed=$(num "$out" loop.failed)
[ -n "$failed" ] && [ "$failed" -gt 100 ]; ok $? "the client ran all the while (${failed:-?} connects denied)"
is "$(num "$out" loop.passed)" 0 "no denied connect passed while the file was rewritten in place (hundreds did)"

# Emptied for good: still denied 0.6 s later, passing within 3 s.
SOCKPOLICY_CONF=$conf SOCKPOLICY_LOG=$TMP/log2 LD_PRELOAD=$PRELOAD timeout 30 "$P" timeline "$port" 6000 > "$TMP/tl" 2> /dev/null &
pid=$!
sleep 0.5
t0=$(date +%s%3N)
: > "$conf"
wait $pid
early=$(awk -v a="$t0" '{ t = substr($1, 4) + 0 } t >= a && t < a + 600' "$TMP/tl")
[ -n "$early" ] && ! printf '%s\n' "$early" | grep -qv 'r=EACCES'
ok $? "emptied: the rules stay for 0.6 s ($(printf '%s\n' "$early" | grep -c . ) connects, all denied)"
first=$(awk -v a="$t0" '{ t = substr($1, 4) + 0 } t >= a && $2 == "r=0" { print t - a; exit }' "$TMP/tl")
[ -n "$first" ] && [ "$first" -le 3000 ]; ok $? "and are gone ${first:-never} ms after (at most 3 s: the empty file stayed empty)"
like "$(tail -1 "$TMP/tl")" 'r=0$' "and stay gone"
done_testing
