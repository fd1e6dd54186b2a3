#!/usr/bin/env bash
# A number closed behind the shim's back and reused by a path it does not hook keeps no
# power over the decision (issue 13): libuv closes with a raw close system call, stdio closes
# an fdopen'd socket inside libc, closefrom closes a range in the kernel; the number then
# comes back as another socket over SCM_RIGHTS, from dup or from F_DUPFD. Whatever kind the
# shim recorded for the old socket, a deny rule for the new one holds, and it is logged.
# tests/progs/fd_reuse does each; the listener or UDP socket of the program counts what
# arrived. With node installed, the same through a real Node.js cluster worker.
. "$(dirname "$0")/shim_lib.sh"
if ! have_shim; then skip "no $SHIM"; done_testing; exit; fi
R=$PROGS/fd_reuse

# run CLOSE REUSE OP: fd_reuse under a policy that denies OP on a fresh port; checks the
# number came back, the call failed with the rule's errno, nothing arrived, and the log says.
run() {
    local close=$1 reuse=$2 op=$3 port conf log out rule
    port=$(free_port)
    case $op in
    accept) rule="deny accept port $port errno=EPERM" ;;
    listen) rule="deny listen port $port errno=EPERM" ;;
    connect) rule="deny connect to 127.0.0.1 port $port errno=EPERM" ;;
    send) rule="deny send to 127.0.0.1 port $port errno=EPERM" ;;
    ctype) rule="deny connect type stream to 127.0.0.1 port $port errno=EPERM" ;;
    send6) rule="deny send family inet6 port $port errno=EPERM" ;;
    dconnect) rule="deny send to 127.0.0.1 port $port errno=EPERM" ;;
    esac
    conf=$TMP/$close-$reuse-$op.conf
    log=$TMP/$close-$reuse-$op.log
    printf 'log failures\n%s\n' "$rule" > "$conf"
    out=$(SOCKPOLICY_LOG=$log under "$conf" "$R" "$close" "$reuse" "$op" "$port" 2>&1)
    local call=$op
    case $op in ctype) call=connect ;; send6) call=send ;; esac
    local want="reused=yes arrived=0 $call=EPERM"
    is "$(printf '%s\n' "$out" | sort | tr '\n' ' ' | sed 's/ $//')" \
        "$(printf '%s\n' $want | sort | tr '\n' ' ' | sed 's/ $//')" \
        "$close + $reuse, then $op: denied ($(echo $out))"
    like "$(cat "$log" 2> /dev/null)" "(accept|listen|connect|send).*(EPERM|denied)" \
        "$close + $reuse, then $op: logged"
}

# The Node.js case first: a unix socket closed by a raw system call, a TCP listener received
# over SCM_RIGHTS into its number.
run syscall scm accept
run fclose scm accept
run closefrom scm accept
run syscall dup accept
run syscall dupfd accept
run syscall scm listen
run fclose dup connect
run syscall scm connect
run closefrom dupfd connect
# A stream socket's number now a datagram socket's: its send to a denied address is checked.
run syscall dup send
run fclose scm send
# ... and its connect(), which sets where its send()s go, meets the send rules.
run syscall dup dconnect
# The same family, another type, where a rule names the type; an IPv4 socket's number now a
# dual-stack IPv6 socket's, which takes an IPv4 address, where a rule names the family.
run syscall dup ctype
run syscall scm send6

# Without a policy against it the same program goes through: the checks above can fail.
port=$(free_port)
printf 'deny accept port 1\n' > "$TMP/other.conf"
out=$(SOCKPOLICY_LOG=$TMP/other.log under "$TMP/other.conf" "$R" syscall scm accept "$port" 2>&1)
like "$out" "accept=ok" "an accept no rule denies goes through"

# A Node.js cluster worker (libuv closes every descriptor with a raw close): its TCP server
# comes from the primary over SCM_RIGHTS into a number a unix socket had.
if ! command -v node > /dev/null; then
    skip "node is not installed"
    skip "node is not installed"
elif [ "${SANITIZE:-}" = 1 ]; then
    skip "node does not start with an AddressSanitizer shim preloaded (SANITIZE=1), shim or not"
    skip "node does not start with an AddressSanitizer shim preloaded (SANITIZE=1), shim or not"
else
    port=$(free_port)
    cat > "$TMP/cluster.js" << 'EOF'
const cluster = require('cluster'), net = require('net'), fs = require('fs');
const port = +process.argv[2], path = process.argv[3];
cluster.schedulingPolicy = cluster.SCHED_NONE; // the worker accepts (the listener is sent)
if (cluster.isPrimary) {
    const w = cluster.fork();
    w.on('message', (m) => {
        if (m !== 'listening') return;
        const c = net.connect(port, '127.0.0.1');
        let got = '';
        c.on('data', (d) => { got += d; });
        const end = () => { console.log('client got=' + (got || 'nothing')); w.kill(); process.exit(0); };
        c.on('close', end);
        c.on('error', () => {});
        setTimeout(end, 3000);
    });
} else {
    // a unix socket first (its number is closed by libuv's raw close), then the TCP server
    const us = net.createServer().listen(path, () => {
        const uc = net.connect(path, () => {
            uc.destroy();
            us.close(() => {
                const srv = net.createServer((s) => { s.end('hello'); });
                srv.listen(port, '127.0.0.1', () => process.send('listening'));
            });
        });
    });
}
EOF
    printf 'log failures\ndeny accept port %s errno=EPERM\n' "$port" > "$TMP/node.conf"
    out=$(SOCKPOLICY_LOG=$TMP/node.log NODE_CLUSTER_SCHED_POLICY=none under "$TMP/node.conf" \
        node "$TMP/cluster.js" "$port" "$TMP/node.sock" 2>&1)
    is "$out" "client got=nothing" "node cluster worker: a denied accept sends nothing"
    like "$(cat "$TMP/node.log" 2> /dev/null)" "accept.*(EPERM|denied)" "node cluster worker: the denied accept is logged"
fi

# The kernel is asked only where a kind could change the answer: an accept whose peer no rule
# reads (a rule with no address, no type) asks nothing of the accepted socket's kind.
if command -v strace > /dev/null; then
    printf 'set accept nodelay\n' > "$TMP/acc.conf"
    printf '%s\n' 'import socket' 's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)' \
        'for _ in range(3):' \
        '    c = socket.create_connection(s.getsockname()); a, _ = s.accept(); a.close(); c.close()' \
        > "$TMP/acc.py"
    SOCKPOLICY_CONF=$TMP/acc.conf LD_PRELOAD=$PRELOAD strace -qq -f -o "$TMP/acc.trace" \
        -e trace=accept4,getsockopt python3 "$TMP/acc.py"
    n=$(grep -c 'accept4(' "$TMP/acc.trace")
    kinds=$(grep -cE 'SO_DOMAIN|SO_TYPE' "$TMP/acc.trace")
    is "$n $kinds" "3 0" "3 accepts under a rule that reads no peer: no look at the socket's kind"
else
    skip "strace is missing"
fi
done_testing
