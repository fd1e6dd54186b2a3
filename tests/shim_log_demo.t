#!/usr/bin/env bash
# `make demo` on a machine without socat or curl (issue 14, case 7): every section still shows
# something, from tools the project has (python3), and the demo says what is missing. Run with
# a PATH that holds everything of /usr/bin and /bin but socat and curl, on a free port.
. "$(dirname "$0")/shim_lib.sh"
if ! have_shim; then skip "no $SHIM"; done_testing; exit; fi
command -v python3 > /dev/null && command -v ss > /dev/null || { skip "needs python3 and ss"; done_testing; exit; }
mkdir -p "$TMP/bin"
for d in /usr/bin /bin /usr/sbin /sbin; do
    for f in "$d"/*; do
        n=${f##*/}
        case $n in socat|curl) continue ;; esac
        [ -x "$f" ] && [ ! -e "$TMP/bin/$n" ] && ln -s "$f" "$TMP/bin/$n"
    done
done
port=$(free_port)
out=$(cd "$SP_TOP" && PATH=$TMP/bin SP_DEMO_PORT=$port SP_BUILD=$SP_BUILD timeout 90 bash examples/demo.sh 2>&1)
sec1=$(printf '%s\n' "$out" | sed -n '/^.*1\. /,/^.*2\. /p')
like "$sec1" "client \\(python3\\) +127\\.0\\.0\\.1:[0-9]+ -> 127\\.0\\.0\\.1:$port +timer:\\(keepalive" \
    "section 1 without socat: the client's connection, with the keepalive the policy forced"
like "$sec1" "server \\(python3\\) +127\\.0\\.0\\.1:$port -> .*timer:\\(keepalive" "and the server's"
like "$out" "curl is not installed: python3 fetches the pages below instead" "the demo says curl is missing"
like "$out" "python3 exit [1-9][0-9]*: .*(denied|Permission|13)" "section 3: the denied fetch, by python3"
like "$out" "connect fd=[0-9]+ tcp 169\\.254\\.169\\.254:80 failed EACCES" "and the shim's line for it"
done_testing
