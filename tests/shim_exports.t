#!/usr/bin/env bash
# The shim exports the hooked libc names and nothing else; a program with functions named like
# the shim's internals keeps its own, and the shim still works on its sockets.
. "$(dirname "$0")/shim_lib.sh"
if ! have_shim; then skip "no $SHIM"; done_testing; exit; fi
want="__close __connect __dup2 __sendmmsg __socket accept accept4 bind close close_range connect dup2 dup3 getsockopt listen sendmmsg sendmsg sendto setsockopt socket"
got=$(nm -D --defined-only "$SHIM" | awk '$2 ~ /^[TtWiV]$/ {print $3}' | sed 's/@.*//' | sort | tr '\n' ' ' | sed 's/ $//')
is "$got" "$want" "nm -D --defined-only lists only the hooked names"
others=$(nm -D --defined-only "$SHIM" | awk '$2 !~ /^[TtWiV]$/ && $3 !~ /^(_init|_fini|_edata|_end|__bss_start)$/ {print $3}' | sort | tr '\n' ' ')
is "$others" "" "no data symbols exported"

# Inside the library a plain close() or connect() binds to its own exported hook: the only
# calls to a hooked name through the PLT are core's plain-libc wrappers (core/libc.h:
# bio_libc_*), which the shim replaces with the real functions before using them. The policy
# loader closes its files with sp__close (a raw system call).
if command -v objdump > /dev/null; then
    hooked=$(echo "$want" | tr ' ' '\n' | grep -v '^__' | paste -sd'|')
    via_plt=$(objdump -d --no-show-raw-insn "$SHIM" | awk -v re="<($hooked)@plt>" '
        /^[0-9a-f]+ <.*>:$/ { fn = $2 }
        ($0 ~ /\t(call|jmp) / && $NF ~ re && fn !~ /^<bio_libc_/) { print fn, $NF }' | sort -u | tr '\n' ' ')
    is "$via_plt" "" "no internal code calls a hooked name but the plain-libc tables"
else
    skip "no objdump"
fi

port=$(free_port)
"$PROGS/sp_sock" server -c 1 "$port" > "$TMP/srv" &
wait_port "$port"
printf 'set connect to 127.0.0.1 port %s keepalive\n' "$port" > "$TMP/p.conf"
out=$(under "$TMP/p.conf" "$PROGS/sp_names" "$port")
wait
like "$out" '^own=4101,4102,4103,4104,4105,4106,4107,4108$' "the program's own bio_connect, sp_policy_match, log_init, shim_connect... are called"
like "$out" '^connect=0 keepalive=1$' "and the shim still forces keepalive on its connect"
done_testing
