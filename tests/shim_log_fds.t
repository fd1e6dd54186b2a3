#!/usr/bin/env bash
# The shim's log descriptors are harmless in every program (issue 14, cases 1-3), checked from
# outside: the program's own output and exit, the log files, /proc/self/fd.
# - After a rotation, a program that ran close_range(3, ~0U) and opened its own files on the
#   numbers the shim had: the next rotation closes none of them (the shim closes only a
#   descriptor that still is the file it opened).
# - The log descriptor is high and close-on-exec: the program's next open() gets the number it
#   gets bare.
# - At EMFILE when the first line is logged, the file is opened later (retried at most once a
#   second) and the line never lands on the program's stderr.
. "$(dirname "$0")/shim_lib.sh"
if ! have_shim; then skip "no $SHIM"; done_testing; exit; fi
P=$PROGS/log_fds
[ -x "$P" ] || { skip "no $P (make tests)"; done_testing; exit; }
port=$(free_port)
# host-wide style: LD_PRELOAD and SOCKPOLICY_CONF by hand, no `sockpolicy run`
shimmed() { local conf=$1; shift; SOCKPOLICY_CONF=$conf LD_PRELOAD=$PRELOAD timeout 20 "$@"; }

# 1. rotation after close_range
log=$TMP/rot.log
# (a rule, so that the log works here whether or not a log-only policy logs: see shim_log_only.t)
printf 'log failures\nlog-to file %s\npass connect to 127.0.0.1\n' "$log" > "$TMP/rot.conf"
out=$(shimmed "$TMP/rot.conf" "$P" rotate "$port" "$log" 2> "$TMP/rot.err")
like "$out" "files [1-9]" "rotate: the shim held log descriptors the program then took over ($(printf '%s' "$out" | grep -c '^write') of them)"
is "$(printf '%s\n' "$out" | grep -c 'EBADF\|Bad file')" 0 "a second rotation closed none of the program's files"
is "$(printf '%s\n' "$out" | grep -c ' ok$')" "$(printf '%s\n' "$out" | grep -c '^write')" "every write to them worked"
is "$(cat "$log".mine* 2> /dev/null | grep -vc '^mine$')" 0 "and they hold only the program's own lines"
is "$(cat "$log" "$log.1" "$log.2" 2> /dev/null | grep -c 'ECONNREFUSED')" 4 "the four lines are in the logs"

# 2. the descriptor's number
bare=$(timeout 20 "$P" number "$port")
printf 'log failures\nlog-to file %s\npass connect to 127.0.0.1\n' "$TMP/num.log" > "$TMP/num.conf"
out=$(shimmed "$TMP/num.conf" "$P" number "$port" "$TMP/num.log")
is "$(field "$out" next)" "$(field "$bare" next)" "after a logged line the program's open() returns what it does bare ($(field "$bare" next))"
ours=$(printf '%s\n' "$out" | sed -n 's/^ours=\([0-9]*\).*/\1/p' | head -1)
[ -n "$ours" ] && [ "$ours" -ge 900 ]
ok $? "the log descriptor is high ($ours)"
is "$(printf '%s\n' "$out" | sed -n 's/^ours=.* cloexec=//p' | head -1)" 1 "and close-on-exec"
grep -q ECONNREFUSED "$TMP/num.log" 2> /dev/null
ok $? "and the line is in the log"

# 3. EMFILE at the first line
printf 'log failures\nlog-to file %s\npass connect to 127.0.0.1\n' "$TMP/emfile.log" > "$TMP/emfile.conf"
out=$(shimmed "$TMP/emfile.conf" "$P" emfile "$port" 2> "$TMP/emfile.err")
like "$out" "first errno=111 filled=[0-9]+" "emfile: the program filled its descriptors, then was refused"
like "$(cat "$TMP/emfile.log" 2> /dev/null)" "127\\.0\\.0\\.1:$port failed ECONNREFUSED" "the log file was opened later, for a later line"
is "$(grep -c sockpolicy "$TMP/emfile.err")" 0 "no line went to the program's stderr"
done_testing
