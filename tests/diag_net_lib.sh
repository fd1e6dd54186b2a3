# tests/diag_net_lib.sh: the network of tests/diag_net.t, built in namespaces of its own.
#
#   client ns ($NS_C)  10.77.0.1/24 --veth-- 10.77.0.2/24  server ns ($NS_S)
#
# In the client namespace, each failure is a route or a sysctl, so that each is fast:
#   10.77.0.2 port 81     nothing listens           -> ECONNREFUSED (RST)
#   10.79.0.0/24          via the server, which does not forward: SYNs vanish, and
#                         net.ipv4.tcp_syn_retries=1 gives up after ~3 s -> ETIMEDOUT
#   10.99.0.1             no route (no default)     -> ENETUNREACH
#   10.78.1.0/24          an 'unreachable' route    -> EHOSTUNREACH
#   10.78.2.0/24          a 'prohibit' route        -> EACCES
#   bind 10.66.0.1        not on the host           -> EADDRNOTAVAIL
#   bind 10.77.0.1:8080   a listener holds it       -> EADDRINUSE
# Names carry a per-run prefix; diag_net_cleanup (set as the EXIT trap) removes them all.

DN_P=spdg$$
NS_C=${DN_P}c
NS_S=${DN_P}s

diag_net_cleanup() {
    [ -n "${DN_LISTENER:-}" ] && kill "$DN_LISTENER" 2>/dev/null
    ip netns del "$NS_C" 2>/dev/null
    ip netns del "$NS_S" 2>/dev/null
    true
}

# Returns non-zero (with the reason on stdout) when namespaces cannot be built here.
diag_net_setup() {
    [ "$(id -u)" = 0 ] || { echo "needs root for ip netns"; return 1; }
    command -v ip >/dev/null || { echo "no ip(8)"; return 1; }
    ip netns add "$NS_C" 2>/dev/null || { echo "ip netns add failed"; return 1; }
    ip netns add "$NS_S" || return 1
    ip link add "${DN_P}a" type veth peer name "${DN_P}b" 2>/dev/null || { echo "no veth"; return 1; }
    ip link set "${DN_P}a" netns "$NS_C" && ip link set "${DN_P}b" netns "$NS_S" || return 1
    ip -n "$NS_C" link set lo up && ip -n "$NS_S" link set lo up || return 1
    ip -n "$NS_C" addr add 10.77.0.1/24 dev "${DN_P}a" && ip -n "$NS_C" link set "${DN_P}a" up || return 1
    ip -n "$NS_S" addr add 10.77.0.2/24 dev "${DN_P}b" && ip -n "$NS_S" link set "${DN_P}b" up || return 1
    ip -n "$NS_C" route add unreachable 10.78.1.0/24 || return 1
    ip -n "$NS_C" route add prohibit 10.78.2.0/24 || return 1
    ip -n "$NS_C" route add 10.79.0.0/24 via 10.77.0.2 || return 1
    ip netns exec "$NS_C" sysctl -qw net.ipv4.tcp_syn_retries=1 || { echo "cannot set tcp_syn_retries in the namespace"; return 1; }
    ip netns exec "$NS_S" sysctl -qw net.ipv4.ip_forward=0 || return 1
    # The port in use: a listener in the client namespace, ready before we go on.
    ip netns exec "$NS_C" python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("10.77.0.1", 8080)); s.listen(); print("up", flush=True); time.sleep(120)' > "$TMP/listener.out" &
    DN_LISTENER=$!
    for _ in $(seq 50); do grep -q up "$TMP/listener.out" 2>/dev/null && break; sleep 0.1; done
    grep -q up "$TMP/listener.out" || { echo "listener did not start"; return 1; }
    # Neighbour resolution done once, so the first scenario is not slower than the rest.
    ip netns exec "$NS_C" ping -c1 -W1 10.77.0.2 >/dev/null 2>&1 || true
    return 0
}

# The scenarios: name op address port errno-every-client-sees
diag_net_scenarios() {
    cat <<'LIST'
refused connect 10.77.0.2 81 ECONNREFUSED
timeout connect 10.79.0.5 80 ETIMEDOUT
noroute connect 10.99.0.1 80 ENETUNREACH
unreachable connect 10.78.1.1 80 EHOSTUNREACH
prohibit connect 10.78.2.1 80 EACCES
notlocal bind 10.66.0.1 0 EADDRNOTAVAIL
inuse bind 10.77.0.1 8080 EADDRINUSE
LIST
}

# The errno curl met, read from outside with strace: the failing bind, the failing
# blocking connect, or the SO_ERROR of its non-blocking one.
diag_net_curl_errno() { # STRACE-FILE
    python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
for pat in (r"getsockopt\(\d+, SOL_SOCKET, SO_ERROR, \[(E[A-Z]+)\]",
            r"\bbind\(\d+, \{sa_family=AF_INET.*\) = -1 (E[A-Z]+)",
            r"\bconnect\(\d+, \{sa_family=AF_INET.*\) = -1 (E[A-Z]+)"):
    m = [x for x in re.findall(pat, text) if x != "EINPROGRESS"]
    if m:
        print(m[0]); break
else:
    print("OK" if re.search(r"SO_ERROR, \[0\]", text) else "NONE")
PY
}
