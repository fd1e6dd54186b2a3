#!/usr/bin/env bash
# The per-thread decision memo is async-signal-safe (issue 13): a SIGALRM handler that
# connects to a denied port, every 30 us, while the main thread decides one connect after
# another (to an allowed port, and to one denied with another errno), never gets the main
# thread's half-written answer: every one of its connects fails with the rule's errno and
# the program's own listener on the denied port receives nothing. Two rounds of 3 s, 100,000
# handler calls at most each (on bbd53d8 about three rounds in four let denied connects
# through). The same for the calls a rule's forced options take, worked out once per thread:
# a handler's connect in the middle of the main thread's forcing must not hand it the
# handler's values (on bbd53d8 about 5 % of the main thread's sockets got them).
. "$(dirname "$0")/shim_lib.sh"
if ! have_shim; then skip "no $SHIM"; done_testing; exit; fi
a=$(free_port); o=$(free_port); d=$(free_port)
while [ "$o" = "$a" ]; do o=$(free_port); done
while [ "$d" = "$a" ] || [ "$d" = "$o" ]; do d=$(free_port); done
printf 'log off\ndeny connect to 127.0.0.1 port %s errno=EPERM\ndeny connect to 127.0.0.1 port %s errno=ECONNABORTED\n' \
    "$d" "$o" > "$TMP/memo.conf"
for round in 1 2; do
    out=$(under "$TMP/memo.conf" "$PROGS/fd_memo_signal" "$a" "$o" "$d" 100000 3 2>&1)
    echo "# $out"
    calls=$(printf '%s\n' "$out" | sed -n 's/.*handler_calls=\([0-9]*\).*/\1/p')
    [ "${calls:-0}" -ge 1000 ]
    ok $? "round $round: the handler ran ($calls calls)"
    like "$out" "handler_denied=$calls handler_other=0 " "round $round: every handler connect failed with EPERM"
    like "$out" " main_failed=0 " "round $round: every main-thread connect got its own answer"
    like "$out" " arrived=0$" "round $round: the denied listener received nothing"
done

capeff=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status)
if [ $(( 0x${capeff:-0} >> 12 & 1 )) != 1 ]; then
    skip "SO_MARK needs CAP_NET_ADMIN"
    skip "SO_MARK needs CAP_NET_ADMIN"
else
    m=$(free_port); h=$(free_port)
    while [ "$h" = "$m" ]; do h=$(free_port); done
    printf 'set connect to 127.0.0.1 port %s reuseaddr reuseport mark=1\nset connect to 127.0.0.1 port %s reuseaddr reuseport mark=2\n' \
        "$m" "$h" > "$TMP/plan.conf"
    out=$(under "$TMP/plan.conf" "$PROGS/fd_plan_signal" "$m" "$h" 1 2 2 2>&1)
    echo "# $out"
    like "$out" "main=[1-9][0-9]* main_wrong=0 " "forcing: every main-thread socket has its own rule's mark"
    like "$out" "handler=[1-9][0-9]* handler_wrong=0$" "forcing: every handler socket has its own rule's mark"
fi
done_testing
