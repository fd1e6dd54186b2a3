#!/usr/bin/env bash
# Issue 13: a policy that cannot be read for a reason that passes (EMFILE) is read again. At
# the first load, the process used to run without its policy for good; a reload that failed
# at EMFILE was never tried again, so an edit made then was never seen.
. "$(dirname "$0")/shim_lib.sh"
if ! have_shim; then skip "no $SHIM"; done_testing; exit; fi
command -v python3 > /dev/null || { skip "no python3"; done_testing; exit; }
P=$PROGS/load_probe

loopback_listener 60
num() { printf '%s\n' "$1" | sed -n "s/^$2=//p" | head -1; }

printf 'deny connect to 127.0.0.1 port %s\n' "$port" > "$TMP/deny.conf"
out=$(SOCKPOLICY_LOG=stderr SOCKPOLICY_CONF=$TMP/deny.conf LD_PRELOAD=$PRELOAD timeout 20 "$P" emfile "$port" 1500 2> "$TMP/err")
like "$out" '^first\.socket=EMFILE$' "the first socket call came with no descriptor free"
like "$(cat "$TMP/err")" 'policy failed to load .*Too many open files.*tried again' "the failed load is logged, saying it is tried again"
like "$out" '^after\.last=EACCES$' "once descriptors are free the policy is read and denies (it never was before)"
is "$(grep -c 'policy failed to load' "$TMP/err")" 1 "the failure is logged once, not at every retry"
passed=$(num "$out" after.passed)
[ -n "$passed" ] && [ "$passed" -le 30 ]; ok $? "connects that passed before it was read again: ${passed:-?} of ~280 (at most 30: a retry every 50 ms)"

# A reload at EMFILE: the policy changes (deny -> pass) while the process has no descriptor
# free; after it frees them, the change must be read.
d=$TMP/rl
mkdir -p "$d"
printf 'deny connect to 127.0.0.1 port %s\n' "$port" > "$d/p.conf"
SOCKPOLICY_LOG=stderr SOCKPOLICY_CONF=$d/p.conf LD_PRELOAD=$PRELOAD timeout 30 "$P" emfile_reload "$port" "$d" 1500 > "$d/out" 2> "$d/err" &
pid=$!
for _ in $(seq 100); do grep -q full "$d/out" 2> /dev/null && break; sleep 0.05; done
printf 'pass connect to 127.0.0.1 port %s\n' "$port" > "$d/p.conf"
touch "$d/edited"
wait $pid
out=$(cat "$d/out")
like "$out" '^before\.connect=EACCES$' "reload: denied at first"
like "$(cat "$d/err")" 'policy failed to reload .*Too many open files' "the reload at EMFILE failed, logged"
like "$out" '^after\.last=0$' "after descriptors are freed the edit (pass) is read (never before)"
done_testing
