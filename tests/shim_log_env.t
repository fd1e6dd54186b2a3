#!/usr/bin/env bash
# Where lines go when nobody said (issue 14, cases 5 and 6), read from outside: the program's
# stderr and the files made.
# - A host-wide install (a plain LD_PRELOAD, /etc/ld.so.preload) never writes into a program's
#   stderr unless the policy says `log-to stderr`: its default sink, and the fallback of a sink
#   it cannot use, is syslog. `sockpolicy run` keeps printing on the user's stderr.
# - A relative SOCKPOLICY_LOG is resolved once, at start: a program that changes directory
#   keeps one log file. One too long to use is refused in a line, not silently dropped.
. "$(dirname "$0")/shim_lib.sh"
if ! have_shim; then skip "no $SHIM"; done_testing; exit; fi
command -v python3 > /dev/null || { skip "no python3"; done_testing; exit; }
closed=$(free_port)
CMD=$SP_BUILD/sockpolicy
# client [DIR]: a refused connect to the closed port, after a chdir to DIR if given
client() { PYTHONDONTWRITEBYTECODE=1 timeout 20 python3 -c '
import os, socket, sys
if len(sys.argv) > 2: os.chdir(sys.argv[2])
s = socket.socket()
try: s.connect(("127.0.0.1", int(sys.argv[1])))
except OSError as e: print("errno=%d" % e.errno)' "$closed" "$@"; }
META=$SP_TOP/examples/metadata-deny.conf

# host-wide, the shipped example: nothing on the program's stderr
out=$(SOCKPOLICY_CONF=$META LD_PRELOAD=$PRELOAD client 2> "$TMP/meta.err")
is "$out" "errno=111" "metadata-deny.conf host-wide: the program sees its own ECONNREFUSED"
is "$(cat "$TMP/meta.err")" "" "and its stderr holds nothing of ours"
if command -v curl > /dev/null; then
    SOCKPOLICY_CONF=$META LD_PRELOAD=$PRELOAD timeout 20 curl -s -m 3 "http://127.0.0.1:$closed/" 2> "$TMP/curl.err"
    is "$(grep -c sockpolicy "$TMP/curl.err")" 0 "curl to a closed port, host-wide: no sockpolicy line on its stderr"
else
    skip "no curl"
fi
# sockpolicy run: the user at the terminal sees it
if [ -x "$CMD" ]; then
    "$CMD" run -c "$META" -- python3 -c "
import socket
try: socket.create_connection(('127.0.0.1', $closed))
except OSError: pass" 2> "$TMP/run.err"
    like "$(cat "$TMP/run.err")" "sockpolicy\\[[0-9]+ python3\\]: connect .*127\\.0\\.0\\.1:$closed failed ECONNREFUSED" \
        "sockpolicy run: the line is on the user's stderr"
else
    skip "no $CMD"
fi
# log-to stderr, asked for: stderr
printf 'log failures\nlog-to stderr\npass connect to 127.0.0.1\n' > "$TMP/stderr.conf"
SOCKPOLICY_CONF=$TMP/stderr.conf LD_PRELOAD=$PRELOAD client > /dev/null 2> "$TMP/asked.err"
like "$(cat "$TMP/asked.err")" "connect .*failed ECONNREFUSED" "log-to stderr, host-wide: stderr, as the policy says"
# a file the program may not write (root's, as nobody): not stderr either
AS_NOBODY=""
if [ "$(id -u)" = 0 ] && command -v setpriv > /dev/null && id nobody > /dev/null 2>&1; then
    AS_NOBODY="setpriv --reuid=nobody --regid=$(id -g nobody) --clear-groups"
fi
if [ -n "$AS_NOBODY" ]; then
    pub=$TMP/pub
    mkdir -p "$pub" && chmod 755 "$TMP" "$pub"
    : > "$pub/root.log" && chmod 644 "$pub/root.log"
    printf 'log failures\nlog-to file %s\npass connect to 127.0.0.1\n' "$pub/root.log" > "$pub/file.conf"
    chmod 644 "$pub/file.conf"
    out=$($AS_NOBODY env SOCKPOLICY_CONF="$pub/file.conf" LD_PRELOAD="$PRELOAD" python3 -c "
import socket
s = socket.socket()
try: s.connect(('127.0.0.1', $closed))
except OSError as e: print('errno=%d' % e.errno)" 2> "$TMP/nobody.err")
    is "$out" "errno=111" "log-to file on root's file, run as nobody: the program runs as bare"
    is "$(cat "$TMP/nobody.err")" "" "and nothing lands on its stderr (the line goes to syslog)"
    is "$(wc -c < "$pub/root.log")" 0 "nor in root's file"
else
    for _ in 1 2 3; do skip "as nobody: needs root, setpriv and a nobody user"; done
fi

# a relative SOCKPOLICY_LOG, in a program that changes directory before its first line
mkdir -p "$TMP/start" "$TMP/elsewhere"
printf 'log failures\npass connect to 127.0.0.1\n' > "$TMP/rule.conf"
(cd "$TMP/start" && SOCKPOLICY_LOG=rel.log SOCKPOLICY_CONF=$TMP/rule.conf LD_PRELOAD=$PRELOAD client "$TMP/elsewhere" > /dev/null)
like "$(cat "$TMP/start/rel.log" 2> /dev/null)" "127\\.0\\.0\\.1:$closed failed ECONNREFUSED" \
    "SOCKPOLICY_LOG=rel.log: the line is in the directory the program started in"
[ ! -e "$TMP/elsewhere/rel.log" ]; ok $? "and no log file was made where it went"
# a SOCKPOLICY_LOG too long to use: said once
long=$TMP/$(printf 'x%.0s' $(seq 300)).log
SOCKPOLICY_RUN=1 SOCKPOLICY_LOG=$long SOCKPOLICY_CONF=$TMP/rule.conf LD_PRELOAD=$PRELOAD client > /dev/null 2> "$TMP/long.err"
is "$(grep -c 'SOCKPOLICY_LOG refused' "$TMP/long.err")" 1 "a SOCKPOLICY_LOG of $(printf %s "$long" | wc -c) bytes: one line says it was refused"
like "$(cat "$TMP/long.err")" "connect .*failed ECONNREFUSED" "and the policy's own sink still gets the lines"
done_testing
