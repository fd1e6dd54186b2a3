#!/usr/bin/env bash
# Issues 13 and 14: what the shim takes from the process and its environment.
# - a relative SOCKPOLICY_CONF is made absolute once, at the first load: a chdir later does not
#   make a reload read another file;
# - `prog` matches the executable the kernel ran, not argv[0] (exec -a);
# - SOCKPOLICY_TRACE: exactly 1 traces, 0/empty/unset does not, anything else is refused with
#   one line (it used to turn the policy off); a SOCKPOLICY_CONF over 4095 bytes is refused
#   with one line (it meant no policy, silently); each variable is described once in the man
#   pages;
# - two copies of the library in one process: the first stands aside, so a delay is not
#   doubled nor a line logged twice.
. "$(dirname "$0")/shim_lib.sh"
if ! have_shim; then skip "no $SHIM"; done_testing; exit; fi
command -v python3 > /dev/null || { skip "no python3"; done_testing; exit; }
P=$PROGS/load_probe

loopback_listener 60
num() { printf '%s\n' "$1" | sed -n "s/^$2=//p" | head -1; }

# 1. A relative SOCKPOLICY_CONF, then chdir into a directory with another file of that name.
mkdir -p "$TMP/a" "$TMP/b"
printf 'deny connect to 127.0.0.1 port %s\n' "$port" > "$TMP/a/policy.conf"
printf 'pass connect to 127.0.0.1 port %s\n' "$port" > "$TMP/b/policy.conf"
touch -d '-5 seconds' "$TMP/a/policy.conf" "$TMP/b/policy.conf"
out=$(cd "$TMP/a" && SOCKPOLICY_CONF=policy.conf LD_PRELOAD=$PRELOAD timeout 20 "$P" chdir "$TMP/b" "$port" 2500 2> /dev/null)
like "$out" '^before\.connect=EACCES$' "relative SOCKPOLICY_CONF: read from the directory of the first socket call"
is "$(num "$out" after.passed)" 0 "after chdir, no reload reads ./policy.conf of the new directory (it did: the deny went)"

# 2. prog matches the executable, not argv[0].
printf 'deny connect to 127.0.0.1 port %s prog !postfix*\n' "$port" > "$TMP/prog.conf"
out=$(SOCKPOLICY_CONF=$TMP/prog.conf LD_PRELOAD=$PRELOAD bash -c 'exec -a postfix-smtp "$0" connect "$1"' "$P" "$port" 2> /dev/null)
like "$out" '^connect=EACCES$' "exec -a postfix-smtp does not make load_probe match 'prog !postfix*' away (it passed)"
printf 'deny connect to 127.0.0.1 port %s prog load_probe\n' "$port" > "$TMP/prog2.conf"
out=$(SOCKPOLICY_CONF=$TMP/prog2.conf LD_PRELOAD=$PRELOAD bash -c 'exec -a something-else "$0" connect "$1"' "$P" "$port" 2> /dev/null)
like "$out" '^connect=EACCES$' "'prog load_probe' matches the program run as 'exec -a something-else' (it did not)"
out=$(SOCKPOLICY_CONF=$TMP/prog2.conf LD_PRELOAD=$PRELOAD timeout 20 "$P" connect "$port" 2> /dev/null)
like "$out" '^connect=EACCES$' "and when run by its own name"

# 3. SOCKPOLICY_TRACE and SOCKPOLICY_CONF values.
printf 'deny connect to 127.0.0.1 port %s\n' "$port" > "$TMP/deny.conf"
for v in 00 ' ' no; do
    rm -f "$TMP/tr.log"
    out=$(SOCKPOLICY_TRACE=$v SOCKPOLICY_CONF=$TMP/deny.conf SOCKPOLICY_LOG=$TMP/tr.log LD_PRELOAD=$PRELOAD timeout 20 "$P" connect "$port" 2> /dev/null)
    like "$out" '^connect=EACCES$' "SOCKPOLICY_TRACE='$v' does not turn the policy off (it did)"
    is "$(grep -c "SOCKPOLICY_TRACE='$v' refused" "$TMP/tr.log" 2> /dev/null)" 1 "SOCKPOLICY_TRACE='$v': one line says it is refused"
done
out=$(SOCKPOLICY_TRACE=1 SOCKPOLICY_CONF=$TMP/deny.conf LD_PRELOAD=$PRELOAD timeout 20 "$P" connect "$port" 2> "$TMP/trace.err")
like "$out" '^connect=0$' "SOCKPOLICY_TRACE=1 still traces (no policy file, every call passes)"
like "$(cat "$TMP/trace.err")" 'connect fd=[0-9]+ tcp 127\.0\.0\.1' "and logs every call"
long=/$(head -c 5000 /dev/zero | tr '\0' 'x')
out=$(SOCKPOLICY_CONF=$long SOCKPOLICY_LOG=$TMP/long.log LD_PRELOAD=$PRELOAD timeout 20 "$P" connect "$port" 2> /dev/null)
like "$out" '^connect=0$' "a SOCKPOLICY_CONF of 5001 bytes: no policy"
is "$(grep -c 'SOCKPOLICY_CONF=.* refused: 5001 bytes' "$TMP/long.log" 2> /dev/null)" 1 "and one line says it is refused (nothing before)"
for page in libsockpolicy.7 sockpolicy.1; do
    n=$(awk 'prev == ".TP" && $0 == ".B SOCKPOLICY_TRACE" { n++ } { prev = $0 } END { print n + 0 }' "$SP_TOP/docs/$page")
    is "$n" 1 "$page describes SOCKPOLICY_TRACE once (it did twice, with two rules)"
done

# 4. Two copies of the library: a delay of 400 ms is waited once and logged once.
mkdir -p "$TMP/copy"
cp "$SHIM" "$TMP/copy/libsockpolicy.so"
printf 'log all\ndelay connect to 127.0.0.1 port %s by=400ms\n' "$port" > "$TMP/delay.conf"
out=$(LOAD_TIME=1 SOCKPOLICY_CONF=$TMP/delay.conf SOCKPOLICY_LOG=$TMP/two.log LD_PRELOAD="$TMP/copy/libsockpolicy.so $PRELOAD" timeout 20 "$P" connect "$port" 2> /dev/null)
ms=$(printf '%s\n' "$out" | sed -n 's/^connect_ms=//p')
like "$out" '^connect=0$' "two copies preloaded: the connect is made"
[ -n "$ms" ] && [ "$ms" -ge 400 ] && [ "$ms" -lt 750 ]; ok $? "the 400 ms delay is waited once (${ms:-?} ms; twice before)"
is "$(grep -c 'delayed 400 ms' "$TMP/two.log" 2> /dev/null)" 1 "and logged once (twice before)"
done_testing
