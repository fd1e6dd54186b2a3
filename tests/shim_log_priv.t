#!/usr/bin/env bash
# A privileged process's log file (issue 14, case 4) and the default sink, syslog (case 6).
# Root-only: in a private mount namespace whose /dev is an overlay, a stand-in syslog daemon
# (tests/diag_syslog.py) owns /dev/log; nothing of the host's /dev or /etc is touched.
# - A root process whose policy logs to a path in a world-writable sticky directory does not
#   follow a symlink planted there (to a file of root's), nor append to a file another user
#   planted; it says so in one line, to syslog, and its lines go there. A path nobody planted
#   is created and written as before.
# - With no log-to, a host-wide install logs to syslog.
# - `log-to syslog` at EMFILE when the first line is logged: a later line still gets there
#   (the socket is made again, at most once a second).
. "$(dirname "$0")/shim_lib.sh"
N=10
if ! have_shim; then skip "no $SHIM"; done_testing; exit; fi
if [ "$(id -u)" != 0 ] || ! command -v python3 > /dev/null || ! unshare -m true 2> /dev/null; then
    for _ in $(seq $N); do skip "needs root, python3 and unshare -m"; done; done_testing; exit
fi
closed=$(free_port)
chmod 755 "$TMP"
pub=$TMP/pub
mkdir -p "$pub" "$TMP/dev.up" "$TMP/dev.work"
chmod 1777 "$pub"
printf 'secret\n' > "$TMP/victim"
chmod 644 "$TMP/victim"
as_other() { if id nobody > /dev/null 2>&1 && command -v setpriv > /dev/null; then
    setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups "$@"; else "$@"; fi; }
as_other ln -s "$TMP/victim" "$pub/link.log"
as_other sh -c "umask 0; : > '$pub/planted.log'; chmod 666 '$pub/planted.log'"
for n in link planted fresh; do
    printf 'log failures\nlog-to file %s\npass connect to 127.0.0.1\n' "$pub/$n.log" > "$TMP/$n.conf"
done
printf 'log failures\npass connect to 127.0.0.1\n' > "$TMP/default.conf"
printf 'log failures\nlog-to syslog\npass connect to 127.0.0.1\n' > "$TMP/emfile.conf"
cat > "$TMP/ns.sh" << EOF
mount -t overlay overlay -o lowerdir=/dev,upperdir=$TMP/dev.up,workdir=$TMP/dev.work /dev || exit 3
python3 $SP_TOP/tests/diag_syslog.py /dev/log $TMP/syslog 30 &
for _ in \$(seq 100); do [ -S /dev/log ] && break; sleep 0.05; done
for n in link planted fresh default; do
    SOCKPOLICY_CONF=$TMP/\$n.conf LD_PRELOAD=$PRELOAD timeout 20 python3 -c '
import socket
s = socket.socket()
try: s.connect(("127.0.0.1", $closed))
except OSError as e: print("errno=%d" % e.errno)' > $TMP/\$n.out 2> $TMP/\$n.err
done
SOCKPOLICY_CONF=$TMP/emfile.conf LD_PRELOAD=$PRELOAD timeout 20 $PROGS/log_fds emfile $closed > $TMP/emfile.out 2>&1
sleep 0.3
touch $TMP/syslog.stop
wait
EOF
timeout 60 unshare -m --propagation private bash "$TMP/ns.sh" > "$TMP/ns.out" 2>&1
if [ $? = 3 ]; then
    for _ in $(seq $N); do skip "cannot mount an overlay on /dev here: $(head -1 "$TMP/ns.out")"; done; done_testing; exit
fi
log=$(cat "$TMP/syslog" 2> /dev/null)
is "$(cat "$TMP/victim")" "secret" "a symlink planted at the log path: the file it points to is untouched"
like "$log" "log-to file $pub/link\\.log: not opened \\(it is a symlink" "one line in syslog says why"
like "$log" "127\\.0\\.0\\.1:$closed failed ECONNREFUSED" "and the program's line went to syslog"
is "$(cat "$pub/planted.log")" "" "a file another user planted at the log path gets nothing"
like "$log" "log-to file $pub/planted\\.log: not opened \\(a privileged process writes only to a file owned by root" "and syslog says why"
is "$(cat "$TMP/link.err" "$TMP/planted.err")" "" "nothing on the programs' stderr"
like "$(cat "$pub/fresh.log" 2> /dev/null)" "127\\.0\\.0\\.1:$closed failed ECONNREFUSED" "a path nobody planted: made and written as before"
is "$(cat "$TMP/default.err")" "" "no log-to, host-wide: nothing on stderr"
is "$(grep -c "^<12>sockpolicy\\[[0-9]*\\]: .*python3\\]: connect .*127\\.0\\.0\\.1:$closed failed ECONNREFUSED" "$TMP/syslog")" 3 \
    "syslog got the line of each program not writing its own file (user.warning, tagged sockpolicy)"
is "$(grep -c "sockpolicy\\[[0-9]* log_fds\\]: connect .*127\\.0\\.0\\.1:$closed failed ECONNREFUSED" "$TMP/syslog")" 1 \
    "log-to syslog, EMFILE at the first line: the line after the descriptors came back reached syslog"
done_testing
