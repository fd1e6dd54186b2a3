#!/usr/bin/env bash
# What the policy reader trusts (issue 14). A privileged process (root, or AT_SECURE) reads
# only policy text that root or its own user alone can write: the top file, every include,
# every directory an include pattern scans; it follows no symbolic link at the end of a path;
# it vets the `log-to file` path (a warning when another user could put a file or link
# there). Under AT_SECURE (a setuid copy of the command, run by nobody) messages name file,
# line and column but quote nothing of a root-only policy. Nothing the reader opens blocks or
# consumes another reader's data (a FIFO, /dev/stdin). Root's part runs in a private mount
# namespace; it mounts nothing and touches no file outside its temporary directory.
if [ "$(id -u)" = 0 ] && [ -z "${SP_TRUST_NS:-}" ] && unshare -m true 2> /dev/null; then
    SP_TRUST_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/shim_lib.sh"
SP=$SP_BUILD/sockpolicy
L=$PROGS/limit_connect
if ! have_shim || [ ! -x "$SP" ] || [ ! -x "$L" ]; then
    skip "the shim, the command or $L is not built"; done_testing; exit
fi
chmod 755 "$TMP" # nobody reads and runs things in here
AS_NOBODY=
if [ "$(id -u)" = 0 ] && command -v setpriv > /dev/null && getent passwd nobody > /dev/null &&
    setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups true 2> /dev/null; then
    AS_NOBODY="setpriv --reuid=nobody --regid=$(id -g nobody) --clear-groups"
fi
port=$(free_port)
rule="deny connect to 127.0.0.1 port $port errno=ENETUNREACH"
D=$TMP/p
mkdir -p "$D"
chk() { (cd "$D" && "$SP" check "$@" 2>&1; echo "[exit $?]"); }

# 1. Owner and mode rules, as root.
N1=12
if [ "$(id -u)" != 0 ]; then
    for _ in $(seq $N1); do skip "owner checks: not root"; done
else
    printf '%s\n' "$rule" > "$D/ww.conf"
    chmod 666 "$D/ww.conf"
    is "$(chk ww.conf)" "ww.conf: error: cannot read: refused in a privileged process: writable by group or others
[exit 1]" "root: a world-writable policy is refused, in one line"
    printf '%s\n' "$rule" > "$D/other.conf"
    chown nobody "$D/other.conf"
    is "$(chk other.conf)" "other.conf: error: cannot read: refused in a privileged process: owned by another user (neither root nor the effective user)
[exit 1]" "root: a policy another user owns is refused"
    printf '%s\n' "$rule" > "$D/gw.conf"
    chmod 664 "$D/gw.conf"
    printf 'include gw.conf\n' > "$D/inc.conf"
    is "$(chk inc.conf)" "inc.conf:1:9: error: cannot read 'gw.conf': refused in a privileged process: writable by group or others
    include gw.conf
            ^
[exit 1]" "root: a group-writable include is refused, at the include line"
    mkdir -p "$D/pub"
    chmod 1777 "$D/pub"
    printf '%s\n' "$rule" > "$D/pub/a.conf"
    printf 'include pub/*.conf\n' > "$D/dir.conf"
    is "$(chk dir.conf)" "dir.conf:1:9: error: cannot read directory 'pub': refused in a privileged process: writable by group or others
    include pub/*.conf
            ^
[exit 1]" "root: an include pattern over a world-writable directory is refused"
    printf '%s\n' "$rule" > "$D/real.conf"
    ln -s real.conf "$D/link.conf"
    is "$(chk link.conf)" "link.conf: error: cannot read: refused in a privileged process: a symbolic link
[exit 1]" "root: a policy reached through a symbolic link is refused"
    mkdir -p "$D/d"
    ln -s ../real.conf "$D/d/l.conf"
    printf 'include d/*.conf\n' > "$D/dl.conf"
    like "$(chk dl.conf)" "^dl.conf:1:9: error: cannot read 'd/l.conf': refused in a privileged process: a symbolic link" \
        "root: a symbolic link among the files an include pattern matches is refused"
    printf 'log all\nlog-to file %s/pub/sp.log\n%s\n' "$D" "$rule" > "$D/log.conf"
    like "$(chk log.conf)" "^log.conf:2:13: warning: the log file '$D/pub/sp.log' is refused in a privileged process: its directory is writable by group or others \\(another user could put a file or link there first\\)" \
        "root: a log file in a world-writable sticky directory is refused (a warning)"
    mkdir -p "$D/logs"
    printf 'log all\nlog-to file %s/logs/sp.log\n%s\n' "$D" "$rule" > "$D/log2.conf"
    is "$(chk log2.conf)" "[exit 0]" "root: a log file in a directory only root may write is vetted (no warning)"
    printf '%s\n' "$rule" > "$D/c.conf"
    "$SP" compile -q "$D/c.conf"
    chmod 664 "$D/c.conf"
    is "$(chk c.conf)" "c.conf: error: cannot read: refused in a privileged process: writable by group or others
c.conf.spc: warning: compiled policy refused: a source is not trusted ($D/c.conf: refused in a privileged process: writable by group or others); reading the text instead
[exit 1]" "root: a compiled policy whose text became group-writable is refused too"
    # The shim in a root process: SOCKPOLICY_CONF world-writable, naming a log file.
    printf 'log all\nlog-to file %s/logs/evil.log\n%s\n' "$D" "$rule" > "$D/evil.conf"
    chmod 666 "$D/evil.conf"
    under "$D/evil.conf" "$L" 127.0.0.1 "$port" libc > /dev/null 2>&1
    [ ! -e "$D/logs/evil.log" ]
    ok $? "root process, world-writable SOCKPOLICY_CONF: its log-to file is not followed (no file made)"
    chmod 644 "$D/evil.conf"
    out=$(under "$D/evil.conf" "$L" 127.0.0.1 "$port" libc 2> /dev/null)
    like "$out" '^libc connect=-1 errno=ENETUNREACH' "control: the same file at 0644 is read (denied)"
    [ -s "$D/logs/evil.log" ]
    ok $? "and its log file is written"
fi

# 2. Not privileged: the rules do not apply (nobody's own group-writable policy is read).
if [ -z "$AS_NOBODY" ]; then
    skip "needs root, setpriv and a nobody user"
else
    mkdir -p "$TMP/nb"
    printf '%s\n' "$rule" > "$TMP/nb/mine.conf"
    chown -R nobody "$TMP/nb"
    chmod 664 "$TMP/nb/mine.conf"
    out=$($AS_NOBODY "$SP" check "$TMP/nb/mine.conf" 2>&1; echo "[exit $?]")
    is "$out" "[exit 0]" "nobody reads its own group-writable policy (not privileged)"
fi

# 3. AT_SECURE: a setuid-root copy of the command, run by nobody, checks a root-only policy.
N3=3
if [ -n "$AS_NOBODY" ]; then
    cp "$SP" "$TMP/suid-sp" && chmod 4755 "$TMP/suid-sp"
    printf 'log-to file /var/log/x.log SECRET1\ndeny connect to 10.1.2.3 port SECRET2\nbogus-SECRET3 connect\ninclude /nonexistent/SECRET4.conf\nset connect nodelay=SECRET5\n' > "$D/root.conf"
    chmod 600 "$D/root.conf"
    out=$($AS_NOBODY "$TMP/suid-sp" check "$D/root.conf" 2>&1)
fi
if [ -z "$AS_NOBODY" ]; then
    for _ in $(seq $N3); do skip "AT_SECURE: needs root, setpriv and a nobody user"; done
elif ! grep -q ':1:' <<< "$out"; then # nobody could not read it: the set-user-ID bit did nothing
    for _ in $(seq $N3); do skip "AT_SECURE: the setuid copy does not run here: $(head -1 <<< "$out")"; done
else
    is "$out" "$D/root.conf:1:28: error: unexpected at the end of the setting
$D/root.conf:2:31: error: bad port: expected a number or a range N-M
$D/root.conf:3:1: error: unknown word (expected an action (set, pass, deny, audit, fail, delay), default or a setting)
$D/root.conf:4:9: error: cannot open: No such file or directory
$D/root.conf:5:21: error: bad value: expected on or off" \
        "AT_SECURE: every error named by file, line and column, no word of the policy, no line, no caret"
    out=$("$TMP/suid-sp" check "$D/root.conf" 2>&1)
    like "$out" "SECRET2" "control: the same copy run by root itself (not AT_SECURE) quotes the text"
    like "$out" "^    deny connect to 10.1.2.3 port SECRET2" "with the line under the message"
fi

# 4. Nothing blocks or is consumed: FIFOs and /dev/stdin.
mkfifo "$D/fifo.conf"
sleep 30 > "$D/fifo.conf" & # a writer that never writes
writer=$!
at_exit "kill $writer 2>/dev/null"
got=$(cd "$D" && timeout 10 "$SP" check fifo.conf 2>&1; echo "[exit $?]")
is "$got" "fifo.conf: error: cannot read: not a regular file
[exit 1]" "a FIFO as the policy, a writer that never writes: refused at once"
printf '%s\n' "$rule" > "$D/app.conf"
mkfifo "$D/app.conf.spc"
sleep 30 > "$D/app.conf.spc" &
at_exit "kill $writer $! 2>/dev/null"
out=$(under "$D/app.conf" timeout 10 "$L" 127.0.0.1 "$port" libc 2> /dev/null)
like "$out" '^libc connect=-1 errno=ENETUNREACH' "a FIFO as the compiled file (a silent writer): no hang, the text is read (denied)"
got=$(printf '%s\n' "$rule" | timeout 10 "$SP" check /dev/stdin 2>&1; echo "[exit $?]")
why="not a regular file"
[ "$(id -u)" = 0 ] && why="refused in a privileged process: a symbolic link"
is "$got" "/dev/stdin: error: cannot read: $why
[exit 1]" "/dev/stdin fed by a pipe: refused, not read"
head -c 20000 /dev/zero | tr '\0' x > "$TMP/input"
got=$(SOCKPOLICY_CONF=/dev/stdin LD_PRELOAD=$PRELOAD timeout 10 python3 -c '
import socket, sys
socket.socket().close()
print(len(sys.stdin.read()))' < <(cat "$TMP/input") 2> /dev/null)
if [ "$got" = 20000 ]; then
    ok 0 "SOCKPOLICY_CONF=/dev/stdin: the program still reads all of its input"
else
    t_n=$((t_n + 1))
    echo "not ok $t_n - SOCKPOLICY_CONF=/dev/stdin: the program still reads all of its input # TODO shim/state.c's strict scan reads it (helper loadtrust); the loader does not (got '$got' of 20000)"
fi
done_testing
