#!/usr/bin/env bash
# Invisibility: with no policy, an empty one, or one whose `set` rules force nothing harmful,
# 57 socket calls that fail (and some that succeed) return the same value and errno as
# without the shim; with an empty policy strace shows the same network syscalls.
. "$(dirname "$0")/shim_lib.sh"
if ! have_shim; then skip "no $SHIM"; done_testing; exit; fi
T=$PROGS/sp_errtab
bare=$(timeout 20 "$T")
n=$(printf '%s\n' "$bare" | wc -l)
[ "$n" -ge 30 ]; ok $? "the table has $n cases (at least 30)"

: > "$TMP/empty.conf"
printf '# only a comment\nlog failures\n' > "$TMP/comment.conf"
printf 'set any keepalive\nset connect rcvbuf=256k\nset accept nodelay\n' > "$TMP/set.conf"
printf 'set any keepalive\ndefault send pass\n' > "$TMP/set2.conf"
for c in empty comment set set2; do
    shimmed=$(under "$TMP/$c.conf" "$T" 2> "$TMP/$c.err")
    if [ "$shimmed" = "$bare" ]; then ok 0 "same returns and errnos under the shim, $c policy"
    else ok 1 "same returns and errnos under the shim, $c policy"; diff <(echo "$bare") <(echo "$shimmed") | sed 's/^/#   /'; fi
done
is "$(cat "$TMP/empty.err")" "" "nothing logged with an empty policy"
# No policy file at all: SOCKPOLICY_CONF unset and no /etc/sockpolicy.conf.
if [ -e /etc/sockpolicy.conf ]; then skip "/etc/sockpolicy.conf exists here"
else
    shimmed=$(env -u SOCKPOLICY_CONF LD_PRELOAD="$PRELOAD" timeout 20 "$T")
    is "$shimmed" "$bare" "same returns and errnos with no policy file at all"
fi
# A policy that fails to load: logged once, then pass-through.
printf 'set connect bogus-option\n' > "$TMP/bad.conf"
shimmed=$(under "$TMP/bad.conf" "$T" 2> "$TMP/bad.err")
is "$shimmed" "$bare" "a policy that fails to load leaves every call alone"
is "$(grep -c 'policy failed to load' "$TMP/bad.err")" 1 "and is logged once, on one line"

if ! command -v strace > /dev/null; then skip "no strace"; done_testing; exit; fi
norm() { sed -E -e 's/0x7f[0-9a-f]+/PTR/g' -e 's/sa_data="[^"]*"/sa_data=D/g' -e 's/htons\([0-9]+\)/htons(P)/g' -e 's/sp_errtab\.[0-9]+/sp_errtab.PID/g' -e 's/^[0-9]+ +//' "$1"; }
strace -qq -e trace=network -o "$TMP/bare.st" "$T" > /dev/null
SOCKPOLICY_CONF=$TMP/empty.conf strace -qq -E LD_PRELOAD="$PRELOAD" -e trace=network -o "$TMP/shim.st" "$T" > /dev/null
a=$(norm "$TMP/bare.st"); b=$(norm "$TMP/shim.st")
if [ "$a" = "$b" ]; then ok 0 "strace -e trace=network: the same $(echo "$a" | wc -l) syscalls with and without the shim"
else ok 1 "strace -e trace=network: the same syscalls with and without the shim"; diff <(echo "$a") <(echo "$b") | head -20 | sed 's/^/#   /'; fi
if command -v curl > /dev/null; then
    port=$(free_port)
    python3 -m http.server --bind 127.0.0.1 "$port" > /dev/null 2>&1 &
    at_exit "kill $! 2>/dev/null"
    wait_port "$port"
    strace -qq -f -e trace=network -o "$TMP/c1.st" curl -s -o /dev/null "http://127.0.0.1:$port/"
    SOCKPOLICY_CONF=$TMP/empty.conf strace -qq -f -E LD_PRELOAD="$PRELOAD" -e trace=network -o "$TMP/c2.st" curl -s -o /dev/null "http://127.0.0.1:$port/"
    n1() { sed -E -e 's/^[0-9]+ +//' -e 's/htons\([0-9]+\)/htons(P)/g' -e 's/\[[0-9]+ => [0-9]+\]/[N]/g' "$1" | grep -Ev '^(---|recvfrom|recvmsg|read)' | sort; }
    a=$(n1 "$TMP/c1.st"); b=$(n1 "$TMP/c2.st")
    if [ "$a" = "$b" ]; then ok 0 "curl: the same network syscalls with and without the shim"
    else ok 1 "curl: the same network syscalls with and without the shim"; diff <(echo "$a") <(echo "$b") | head -20 | sed 's/^/#   /'; fi
else skip "no curl"; fi
done_testing
