#!/usr/bin/env bash
# `sockpolicy run`: prepends the library to LD_PRELOAD, passes the policy and log settings,
# execs; children inherit; a statically linked program is refused with the reason; a setuid
# one gets a warning.
. "$(dirname "$0")/shim_lib.sh"
CMD=$SP_BUILD/sockpolicy
if ! have_shim || [ ! -x "$CMD" ] || ! "$CMD" run --help > /dev/null 2>&1; then
    skip "no $CMD with a run subcommand"; done_testing; exit
fi
S=$PROGS/sp_sock
cd "$TMP"
printf 'deny connect port 9 errno=ENETUNREACH\n' > rel.conf
env_out=$(LD_PRELOAD=/lib/nothing-here.so "$CMD" run -c rel.conf --log shim.log -- env 2> /dev/null)
like "$env_out" "^LD_PRELOAD=$SP_BUILD/libsockpolicy.so /lib/nothing-here.so\$" "LD_PRELOAD: the library first, the existing value kept after it"
like "$env_out" "^SOCKPOLICY_CONF=$TMP/rel.conf\$" "SOCKPOLICY_CONF: the -c file, made absolute"
like "$env_out" "^SOCKPOLICY_LOG=$TMP/shim.log\$" "SOCKPOLICY_LOG: the --log file, made absolute"
out=$(env -u LD_PRELOAD "$CMD" run -c rel.conf --log shim.log -- "$S" client 127.0.0.1 9)
like "$out" '^connect=-1 errno=ENETUNREACH' "the program runs under the policy"
like "$(cat shim.log)" 'connect fd=[0-9]+ .* failed ENETUNREACH \(101\): denied by a sockpolicy rule' "and logs to the --log file"
out=$("$CMD" run -c rel.conf -- bash -c "cd / && '$S' client 127.0.0.1 9" 2> /dev/null)
like "$out" '^connect=-1 errno=ENETUNREACH' "a child process (bash -c, after cd /) inherits the shim and the policy"
# statically linked: refused, with the reason.
printf 'int main(void){return 0;}\n' > st.c
if ${CC:-cc} -static -o static st.c 2> /dev/null; then
    msg=$("$CMD" run --preload -- ./static 2>&1); rc=$?
    [ "$rc" != 0 ]; ok $? "with --preload, a statically linked program is refused (exit $rc; without it, run supervises it)"
    like "$msg" 'statically linked.*LD_PRELOAD' "and the message says why the shim cannot reach it"
else skip "cannot link statically here"; skip "cannot link statically here"; fi
# setuid: a warning, the program still runs.
cp "$S" suid && chmod u+s suid
msg=$("$CMD" run -- ./suid socket 2>&1)
like "$msg" 'warning: .*suid is setuid' "a setuid program gets a warning"
like "$msg" '^socket=ok' "and still runs"
msg=$("$CMD" run -- no-such-program-here 2>&1); rc=$?
is "$rc" 127 "a program that does not exist: exit 127"
msg=$("$CMD" run 2>&1); rc=$?
is "$rc" 2 "no program: usage, exit 2"
done_testing
