#!/usr/bin/env bash
# CPython's own socket, selector, asyncio, subprocess and signal tests (Debian's
# libpython3.11-testsuite, run by Debian's /usr/bin/python3.11), bare and then under the shim
# with a policy forcing keepalive and nodelay on every TCP connect and accept. The set of
# passing test ids must be the same. A test that fails bare is not ours; one that passes bare
# and fails under the shim is a shim bug: its id and output are printed. A test that differs
# is run again alone, bare and under the shim, to tell a flaky test from a real difference.
. "$(dirname "$0")/lib.sh"
plan 4

TESTS="test_socket test_selectors test_subprocess test_signal
       test_asyncio.test_sock_lowlevel test_asyncio.test_events test_asyncio.test_subprocess
       test_asyncio.test_streams test_asyncio.test_server test_asyncio.test_unix_events
       test_asyncio.test_selector_events test_asyncio.test_sendfile"
# VSOCK: no vsock transport here, its threaded tests wait forever.
REGR=(-m test -j2 --timeout 300 -i '*VSOCK*')

if [ ! -f /usr/lib/python3.11/test/test_socket.py ] || [ ! -x "$PY" ]; then
    for i in 1 2 3 4; do skip "libpython3.11-testsuite not installed (.ci/packages lists it)"; done
    finish
fi

run_suite() { # run_suite NAME [under_shim]
    local name=$1 t0
    shift
    t0=$(date +%s)
    # shellcheck disable=SC2086
    (cd "$REAL_TMP" && "$@" timeout 1200 "$PY" "${REGR[@]}" --junit-xml "$REAL_TMP/$name.xml" \
        $TESTS >"$REAL_TMP/$name.log" 2>&1)
    echo $(($(date +%s) - t0)) >"$REAL_TMP/$name.secs"
    tail -3 "$REAL_TMP/$name.log" | sed "s/^/# $name: /"
    [ -s "$REAL_TMP/$name.xml" ] && $PY "$REAL_DIR/junit_passed.py" "$REAL_TMP/$name.xml" >"$REAL_TMP/$name.pass"
}

run_suite bare
n_bare=$(wc -l <"$REAL_TMP/bare.pass" 2>/dev/null || echo 0)
[ "$n_bare" -gt 1000 ]
ok $? "bare: $n_bare tests passed in $(cat "$REAL_TMP/bare.secs") s"

why=$(shim_missing)
if [ -n "$why" ]; then
    skip "under the shim: $why"
    skip "same passing set bare and under the shim: $why"
    skip "the shim loaded the policy: $why"
    finish
fi

run_suite shim under_shim
n_shim=$(wc -l <"$REAL_TMP/shim.pass" 2>/dev/null || echo 0)
[ "$n_shim" -gt 0 ]
ok $? "under the shim: $n_shim tests passed in $(cat "$REAL_TMP/shim.secs") s"

# The difference, each way; then each differing test alone, twice, to drop flaky ones.
comm -23 "$REAL_TMP/bare.pass" "$REAL_TMP/shim.pass" >"$REAL_TMP/lost"
comm -13 "$REAL_TMP/bare.pass" "$REAL_TMP/shim.pass" >"$REAL_TMP/gained"
real_diff=0
while read -r id; do
    [ -n "$id" ] || continue
    mod=${id#test.}
    mod=${mod%%.[A-Z]*}
    b=$(cd "$REAL_TMP" && timeout 300 "$PY" -m test -m "$id" "$mod" 2>&1 | tail -1)
    s=$(cd "$REAL_TMP" && under_shim timeout 300 "$PY" -m test -v -m "$id" "$mod" 2>&1 | tee "$REAL_TMP/rerun.out" | tail -1)
    if [[ $b == *SUCCESS* && $s != *SUCCESS* ]]; then
        real_diff=$((real_diff + 1))
        diag "passes bare, fails under the shim: $id" "rerun alone: bare '$b', shim '$s'"
        grep -v '^$' "$REAL_TMP/rerun.out" | tail -25 | sed 's/^/#     /'
    else
        diag "differed in the full run but not alone (flaky): $id (bare '$b', shim '$s')"
    fi
done <"$REAL_TMP/lost"
while read -r id; do
    [ -n "$id" ] && diag "passes under the shim only (failed or skipped bare): $id"
done <"$REAL_TMP/gained"
[ "$real_diff" = 0 ]
ok $? "same passing set bare and under the shim ($(wc -l <"$REAL_TMP/lost") lost in the full run, $real_diff confirmed alone; $(wc -l <"$REAL_TMP/gained") gained)"

! policy_load_failed
ok $? "the shim loaded the policy in every Python process"
finish
