#!/usr/bin/env bash
# Real programs under valgrind's memcheck with the shim loaded: curl fetching a file from a
# loopback HTTP server, and Debian's python3.11 running a socket and asyncio round trip
# (tests/real/sockcheck.py). Bare first, as the control; under the shim the error count must
# be zero and the forced options must read back (the shim really was in the process).
. "$(dirname "$0")/lib.sh"
plan 6
T=$REAL_TMP/mc
mkdir -p "$T/www"

if [ "${SANITIZE:-}" = 1 ] || ! command -v valgrind >/dev/null; then
    for i in $(seq 6); do skip "valgrind missing, or SANITIZE=1 (an ASan shim cannot run under valgrind)"; done
    finish
fi
why=$(shim_missing)
head -c 200000 /dev/urandom >"$T/www/blob"
PORT=$(free_port)
(cd "$T/www" && exec "$PY" -m http.server --bind 127.0.0.1 "$PORT" >"$T/http.log" 2>&1) &
CLEAN_PIDS+=($!)
wait_port "$PORT" 10

VG=(valgrind --trace-children=yes --error-exitcode=99 --leak-check=full
    --errors-for-leak-kinds=definite --show-leak-kinds=definite)
errors() { sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$1" | sort -n | tail -1; }

# curl: errors and definite leaks.
timeout 300 "${VG[@]}" env curl -s -o "$T/got.bare" "http://127.0.0.1:$PORT/blob" 2>"$T/curl.bare"
rc=$?
cmp -s "$T/www/blob" "$T/got.bare"
ok $((rc + $?)) "memcheck, curl bare: $(errors "$T/curl.bare") errors, file fetched intact"
if [ -n "$why" ]; then
    skip "memcheck, curl under the shim: $why"
else
    # shellcheck disable=SC2046
    timeout 300 "${VG[@]}" env $(SHIM_LOG_TO=stderr shim_env) curl -s -o "$T/got.shim" \
        "http://127.0.0.1:$PORT/blob" 2>"$T/curl.shim"
    rc=$?
    cmp -s "$T/www/blob" "$T/got.shim"
    ok $((rc + $?)) "memcheck, curl under the shim: $(errors "$T/curl.shim") errors, file fetched intact"
    [ $rc = 0 ] || grep -A15 'Invalid\|uninitialised\|definitely lost' "$T/curl.shim" | head -40 | sed 's/^/#   /'
fi

# python3.11: errors only (an interpreter keeps its objects to the end by design).
PVG=(valgrind --trace-children=yes --error-exitcode=99 --leak-check=no)
PYTHONMALLOC=malloc timeout 600 "${PVG[@]}" env "$PY" "$REAL_DIR/sockcheck.py" >"$T/py.out.bare" 2>"$T/py.bare"
rc=$?
ok $rc "memcheck, python3.11 bare: $(errors "$T/py.bare") errors; $(cat "$T/py.out.bare")"
if [ -n "$why" ]; then
    skip "memcheck, python3.11 under the shim: $why"
    skip "the forced options read back inside the interpreter: $why"
else
    # shellcheck disable=SC2046
    PYTHONMALLOC=malloc timeout 600 "${PVG[@]}" env $(SHIM_LOG_TO=stderr shim_env) "$PY" \
        "$REAL_DIR/sockcheck.py" >"$T/py.out.shim" 2>"$T/py.shim"
    rc=$?
    ok $rc "memcheck, python3.11 under the shim: $(errors "$T/py.shim") errors; $(cat "$T/py.out.shim")"
    [ $rc = 0 ] || grep -A15 'Invalid\|uninitialised' "$T/py.shim" | head -40 | sed 's/^/#   /'
    grep -q 'client nodelay=1 keepalive=1 server nodelay=1 keepalive=1 asyncio=ok' "$T/py.out.shim"
    ok $? "the forced options read back inside the interpreter under valgrind"
fi
grep -q 'client nodelay=0 keepalive=0 server nodelay=0 keepalive=0 asyncio=ok' "$T/py.out.bare"
ok $? "bare control: no forced option, asyncio works"
finish
