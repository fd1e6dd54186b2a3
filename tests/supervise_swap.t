#!/usr/bin/env bash
# sockpolicy run --supervise (issue 15): no SECCOMP_USER_NOTIF_FLAG_CONTINUE that a descriptor
# swap turns into a bypass. One thread of a program dup2()s a UDP socket and a connected TCP
# socket onto one number in turn while another sends to a denied UDP destination on that
# number, with sendto and then sendmsg, for 3 s each (tests/progs/sup_swap.c): a receiver on
# the denied address must get no datagram. Bare, the same program reaches it (the attack
# works); under the supervisor both kinds of socket must have been met (denied and sent > 0).
# The same swap must not let setsockopt undo an option a `pin` rule holds.
. "$(dirname "$0")/supervise_lib.sh"
why=$(sup_can)
if [ -n "$why" ]; then
    skip "supervision cannot run here: $why"; done_testing; exit
fi
SWAP=$PROGS/sup_swap

listener bare udp
out=$(timeout 30 "$SWAP" sendto "$bare_port" 1 2> /dev/null)
got=$(count bare)
ok "$([ "${got:-0}" -gt 0 ]; echo $?)" "bare: the swapped-in UDP socket reaches the receiver ($got datagrams; $(echo $out))"

for call in sendto sendmsg; do
    listener "$call" udp
    eval "port=\$${call}_port"
    printf 'deny send to 127.0.0.1 port %s\n' "$port" > "$TMP/$call.conf"
    out=$(timeout 60 "$CMD" run --supervise -c "$TMP/$call.conf" -- "$SWAP" "$call" "$port" 3 2> "$TMP/$call.err")
    got=$(count "$call")
    is "$got" 0 "$call on a number swapped between UDP and TCP: no datagram reaches the denied port ($(echo $out))"
    ok "$([ "$(field "$out" denied)" -gt 0 ] && [ "$(field "$out" sent)" -gt 0 ]; echo $?)" \
        "$call: both sockets were met (the UDP one denied, the TCP one sent)"
done

# setsockopt: a pinned nodelay=off stays off while another thread sets TCP_NODELAY on a number
# swapped between the pinned socket and another one, for 2 s.
listener pinned hold
printf 'set connect to 127.0.0.1 port %s nodelay=off pin\n' "$pinned_port" > "$TMP/pin.conf"
out=$(timeout 60 "$CMD" run --supervise -c "$TMP/pin.conf" -- "$SWAP" pin "$pinned_port" 2 2> "$TMP/pin.err")
is "$(field "$out" nodelay)" 0 "setsockopt on a number swapped between a pinned and another socket: the pin holds ($(echo $out))"
ok "$([ "$(field "$out" sent)" -gt 0 ] && [ "$(field "$out" swaps)" -gt 0 ]; echo $?)" "and the calls were made while the number changed"
# A control message whose length leaves the control buffer: the kernel's EINVAL, and the
# supervisor, which copies and rewrites SCM_RIGHTS, reads and writes nothing past its copy.
printf 'deny send to 127.0.0.1 port 9\n' > "$TMP/cmsg.conf"
bare=$(timeout 10 "$PROGS/sup_badcmsg" 2>&1)
out=$(timeout 30 "$CMD" run --supervise -c "$TMP/cmsg.conf" -- "$PROGS/sup_badcmsg" 2>&1)
is "$(echo $out)" "$(echo $bare)" "SCM_RIGHTS with cmsg_len past the buffer: as bare ($(echo $bare))"

# A pid namespace whose /proc is another's (unshare -p -f without --mount-proc): the thread ids
# the kernel gives the supervisor name strangers there, whose directory a relative unix path
# would be resolved in and whose executable a prog rule would match. Refused in one line.
if unshare -p -f true 2> /dev/null; then
    out=$(timeout 30 unshare -p -f "$CMD" run --supervise -- /bin/true 2>&1); rc=$?
    ok "$([ "$rc" -ne 0 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ]; echo $?)" \
        "a /proc of another pid namespace: refused in one line (rc $rc: $out)"
    like "$out" "needs a /proc of its own pid namespace" "and the line says why"
    out=$(timeout 30 unshare -p -f --mount-proc "$CMD" run --supervise -- /bin/true 2>&1); rc=$?
    is "$rc" 0 "with its own /proc (--mount-proc) it runs ($out)"
else
    skip "unshare -p -f is not allowed here"; skip "(same)"; skip "(same)"
fi
done_testing
