#!/usr/bin/env bash
# sockpolicy run --supervise (issue 15): --trace logs every call of a static program with no
# policy and ends with the summary; live reload: an edited policy decides the calls made after
# it, in a program that keeps running; the exit status and a signal forwarded to the program.
. "$(dirname "$0")/supervise_lib.sh"
why=$(sup_can)
if [ -n "$why" ]; then
    skip "supervision cannot run here: $why"; done_testing; exit
fi
listener a
closed=$(free_port)

# --trace: a connect that works, one refused; the summary at exit.
out=$(timeout 20 "$CMD" run --trace -- "$SC" connect 127.0.0.1 "$a_port" 2> /dev/null)
like "$out" '^connect=0 ' "--trace: the call passes"
trace=$(timeout 20 "$CMD" run --supervise --trace -- bash -c "'$SC' connect 127.0.0.1 $a_port; '$SC' connect 127.0.0.1 $closed" 2>&1 > /dev/null)
like "$trace" "sockpolicy\[[0-9]+ sup_client\]: connect fd=[0-9]+ tcp 127\.0\.0\.1:[0-9]+ -> 127\.0\.0\.1:$a_port ok after .* \(seen by seccomp\)" "--trace --supervise: the connect that worked is logged"
like "$trace" "-> 127\.0\.0\.1:$closed failed ECONNREFUSED .*\(seen by seccomp\)" "and the refused one, with its errno"
like "$trace" 'summary: connections made 1, failed 1' "and the summary at exit counts both"
like "$trace" "summary: to 127\.0\.0\.1:$closed made 0, failed 1 \(last ECONNREFUSED\)" "by destination"

# Live reload: the program connects every 100 ms for 4 s; the policy denies its port at first,
# then the file is rewritten to let it through.
printf 'deny connect to 127.0.0.1 port %s errno=EACCES\n' "$a_port" > "$TMP/live.conf"
timeout 30 "$CMD" run --supervise -c "$TMP/live.conf" -- "$SC" loop 127.0.0.1 "$a_port" 40 100 > "$TMP/live.out" 2> /dev/null &
runner=$!
sleep 1.2
printf '# allowed now\npass connect to 127.0.0.1 port %s\n' "$a_port" > "$TMP/live.new" && mv "$TMP/live.new" "$TMP/live.conf"
wait "$runner"
first=$(sed -n 1p "$TMP/live.out")
last=$(tail -1 "$TMP/live.out")
like "$first" 'connect=-1 errno=EACCES$' "live reload: denied before the edit"
like "$last" 'connect=0$' "and let through after it, without a restart"

# A live reload applies the policy's log settings too, as the shim's: the level, the format
# and the destination change in a program that keeps running.
printf 'log off\nlog-to file %s\ndeny connect to 127.0.0.1 port %s errno=EACCES\n' "$TMP/r1.log" "$a_port" > "$TMP/rl.conf"
timeout 30 "$CMD" run --supervise -c "$TMP/rl.conf" -- "$SC" loop 127.0.0.1 "$a_port" 30 100 > /dev/null 2>&1 &
runner=$!
sleep 1.2
printf 'log all\nlog-format json\nlog-to file %s\ndeny connect to 127.0.0.1 port %s errno=EACCES\n' "$TMP/r2.log" "$a_port" > "$TMP/rl.new" && mv "$TMP/rl.new" "$TMP/rl.conf"
wait "$runner"
is "$(cat "$TMP/r1.log" 2> /dev/null | wc -l)" 0 "live reload: nothing logged while the policy said log off"
like "$(tail -1 "$TMP/r2.log" 2> /dev/null)" '^\{.*"op":"connect".*"errno_name":"EACCES".*"seen by seccomp"' "after the edit: JSON lines in the new file, without a restart"

# A non-blocking connect whose socket is closed before its outcome is read: its end is logged
# (close is not trapped: the supervisor sees the descriptor gone within a second; its TCP state
# as last seen), and one still pending when the program exits ends with it.
printf 'log all\npass connect\n' > "$TMP/pc.conf"
timeout 20 "$CMD" run --supervise -c "$TMP/pc.conf" --log "$TMP/pc.log" -- python3 -c "
import socket, sys, time
s = socket.socket(); s.setblocking(False); s.connect_ex(('127.0.0.1', int(sys.argv[1]))); time.sleep(1.3); s.close(); time.sleep(1.3)
t = socket.socket(); t.setblocking(False); t.connect_ex(('127.0.0.1', int(sys.argv[1]) ))" "$closed" > /dev/null 2>&1
is "$(grep -c "connect fd=[0-9]+ tcp 127\.0\.0\.1:$closed never completed: closed after .* \(seen by seccomp\)" -E "$TMP/pc.log")" 2 "pending connects closed before their outcome was read: each end is logged"
like "$(cat "$TMP/pc.log")" "127\.0\.0\.1:$closed never completed: closed after [0-9.]+ s pending, TCP state CLOSE" "the first with the TCP state seen before the close"

# The summary at exit names the program and says how its calls were seen.
sum=$(timeout 20 "$CMD" run --supervise --trace -- "$SC" connect 127.0.0.1 "$a_port" 2>&1 > /dev/null)
like "$sum" "sockpolicy\[[0-9]+ sup_client\]: summary: connections made 1, failed 0 \(seen by seccomp\)" "the summary names the program and the supervisor (seen by seccomp)"

# prog matches are evaluated for each process of the tree, by its own name, as the shim
# evaluates them in each process: a rule for curl denies curl, not the script that starts it
# nor the client it starts next.
if command -v curl > /dev/null; then
    printf 'log all\ndeny connect prog curl to 127.0.0.1 port %s errno=ENETUNREACH\n' "$a_port" > "$TMP/prog.conf"
    out=$(timeout 30 "$CMD" run --supervise -c "$TMP/prog.conf" --log "$TMP/prog.log" -- bash -c "curl -sS -o /dev/null --max-time 3 http://127.0.0.1:$a_port/ 2> /dev/null; echo curl=\$?; '$SC' connect 127.0.0.1 $a_port" 2> /dev/null)
    like "$out" '^curl=7$' "prog curl: curl, started by a script, is denied"
    like "$out" '^connect=0 ' "and the next program of the same script is not"
    like "$(cat "$TMP/prog.log")" "sockpolicy\[[0-9]+ curl\]: connect .* failed ENETUNREACH .*\[rule $TMP/prog.conf:2 deny\]" "the log names curl and the rule"
else
    skip "no curl"; skip "no curl"; skip "no curl"
fi

# prog matches the executable the kernel ran (/proc/PID/exe), as the shim's (/proc/self/exe),
# not argv[0]: a program started as `exec -a other` is still itself, and a program given its
# name as argv[0] is not.
cp "$SC" "$TMP/progx"
printf 'deny connect prog progx to 127.0.0.1 port %s errno=ENETUNREACH\n' "$a_port" > "$TMP/progx.conf"
out=$(timeout 20 "$CMD" run --supervise -c "$TMP/progx.conf" -- bash -c "exec -a other '$TMP/progx' connect 127.0.0.1 $a_port" 2> /dev/null)
like "$out" '^connect=-1 errno=ENETUNREACH$' "prog: a program started with another argv[0] (exec -a) meets its own rule"
out=$(timeout 20 "$CMD" run --supervise -c "$TMP/progx.conf" -- bash -c "exec -a progx '$SC' connect 127.0.0.1 $a_port" 2> /dev/null)
like "$out" '^connect=0 ' "and another program given that name as argv[0] does not"

# A receiving thread that stops (its receive failed) is uncounted: the exit does not wait
# 2 s for it. The supervisor's first SECCOMP_IOCTL_NOTIF_RECV is made to fail (an
# interposed ioctl, EIO).
cat > "$TMP/recvfail.c" << 'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <linux/seccomp.h>
#include <stdarg.h>
#include <sys/ioctl.h>
static int done;
int ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (req == SECCOMP_IOCTL_NOTIF_RECV && !__atomic_exchange_n(&done, 1, __ATOMIC_SEQ_CST)) {
        errno = EIO;
        return -1;
    }
    int (*real)(int, unsigned long, void *) = (int (*)(int, unsigned long, void *))dlsym(RTLD_NEXT, "ioctl");
    return real(fd, req, arg);
}
C
if ${CC:-cc} -shared -fPIC -O1 -o "$TMP/recvfail.so" "$TMP/recvfail.c" -ldl 2> "$TMP/recvfail.err"; then
    printf 'deny connect to 127.0.0.1 port 1\n' > "$TMP/rf.conf"
    s=$(date +%s%N)
    LD_PRELOAD=$TMP/recvfail.so timeout 20 "$CMD" run --supervise -c "$TMP/rf.conf" -- /bin/sh -c 'sleep 0.3' 2> /dev/null
    rc=$?
    e=$(date +%s%N)
    took=$(( (e - s) / 1000000 ))
    is "$rc" 0 "a receiver whose receive failed: the program still runs"
    ok "$([ "$took" -lt 1500 ]; echo $?)" "and the exit does not wait for the receiver that stopped (took $took ms, the wait is 2000)"
else
    skip "cannot build an interposer"; skip "cannot build an interposer"
fi

# Exit status and signals: the program's status is run's; SIGTERM sent to run reaches it.
timeout 20 "$CMD" run --supervise -- sh -c 'exit 7'
is "$?" 7 "the program's exit status is run's"
timeout 20 "$CMD" run --supervise -- sh -c 'trap "exit 42" TERM; sleep 5 & wait' &
runner=$!
sleep 0.5
kill -TERM "$runner" 2> /dev/null
# runner is timeout: it passes SIGTERM on to run, which forwards it to the program
wait "$runner"
is "$?" 42 "SIGTERM sent to run is forwarded to the program (its trap exits 42)"
done_testing
