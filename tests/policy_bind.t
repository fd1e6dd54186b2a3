#!/usr/bin/env bash
# A compiled policy is bound to its source (issue 13, issue 14): FILE.spc is used for FILE only
# when it was compiled from FILE (not from another file, not lent through a symbolic link) and
# FILE still holds what it was compiled from (identity, and bytes where identity cannot tell);
# its sources are recorded as absolute paths, so that a `sockpolicy compile` run with a
# relative path serves every process, whatever its directory. Checked from outside: a program
# under the shim is denied or not (errno from limit_connect), strace shows which file was
# read, and `sockpolicy check` says why a compiled file is refused.
. "$(dirname "$0")/shim_lib.sh"
SP=$SP_BUILD/sockpolicy
L=$PROGS/limit_connect
if ! have_shim || [ ! -x "$SP" ] || [ ! -x "$L" ]; then
    skip "the shim, the command or $L is not built"; done_testing; exit
fi
port=$(free_port) # nothing listens: a passed connect fails with ECONNREFUSED
DENIED='^libc connect=-1 errno=ENETUNREACH'
PASSED='^libc connect=-1 errno=ECONNREFUSED'
D=$TMP/conf
mkdir -p "$D" "$TMP/elsewhere"
deny="deny connect to 127.0.0.1 port $port errno=ENETUNREACH"
other="deny connect to 127.0.0.1 port $((port + 1)) errno=ENETUNREACH" # the same length
run() { (cd "$TMP/elsewhere" && under "$D/app.conf" "$L" 127.0.0.1 "$port" libc 2> /dev/null); }

# 1. Compiled from another file, under the name the library looks for.
printf '%s\n' "$deny" > "$D/app.conf"
printf 'log off\n' > "$D/staging.conf"
"$SP" compile -q "$D/staging.conf" -o "$D/app.conf.spc"
like "$(run)" "$DENIED" "compile staging.conf -o app.conf.spc: app.conf's deny rule still holds"
err=$( (cd "$TMP/elsewhere" && under "$D/app.conf" "$L" 127.0.0.1 "$port" libc 2>&1 > /dev/null) )
like "$err" "app.conf.spc: compiled policy refused: compiled from another file .*reading the text instead" \
    "the library says why it read the text, in one line"
out=$("$SP" check "$D/app.conf" 2>&1); rc=$?
is "$out [exit $rc]" "$D/app.conf.spc: warning: compiled policy refused: compiled from another file ($D/staging.conf); reading the text instead [exit 0]" \
    "sockpolicy check says the compiled file was compiled from another file"
out=$("$SP" explain -c "$D/app.conf" connect "127.0.0.1:$port" 2>&1)
like "$out" "app.conf.spc: warning: compiled policy refused: compiled from another file" "sockpolicy explain says it too"

# 2. Lent through a symbolic link.
rm -f "$D/app.conf.spc"
"$SP" compile -q "$D/staging.conf"
ln -s staging.conf.spc "$D/app.conf.spc"
like "$(run)" "$DENIED" "app.conf.spc a symbolic link to staging.conf.spc: the deny rule holds"
like "$("$SP" check "$D/app.conf" 2>&1)" "app.conf.spc: warning: compiled policy refused: a symbolic link" \
    "sockpolicy check says it is a symbolic link"
rm -f "$D/app.conf.spc"

# 3. Compiled with a relative path: used from any directory (strace: the text is not read).
(cd "$D" && "$SP" compile -q app.conf)
if command -v strace > /dev/null; then
    (cd "$TMP/elsewhere" && SOCKPOLICY_CONF=$D/app.conf LD_PRELOAD=$PRELOAD timeout 20 \
        strace -f -qq -e trace=open,openat -o "$TMP/rel.strace" "$L" 127.0.0.1 "$port" libc > "$TMP/rel.out" 2> /dev/null)
    like "$(cat "$TMP/rel.out")" "$DENIED" "compiled as 'compile app.conf' in its directory: denied from another directory"
    grep -q 'app\.conf\.spc", O_RDONLY.* = [0-9]' "$TMP/rel.strace" && ! grep -q 'app\.conf", O_RDONLY' "$TMP/rel.strace"
    ok $? "and the compiled file was used: app.conf.spc opened, the text never"
else
    skip "strace is not installed"; skip "strace is not installed"
fi
out=$("$SP" check "$D/app.conf" 2>&1; echo "[exit $?]")
is "$out" "[exit 0]" "sockpolicy check: nothing to say of a compiled file that is used"

# 4. The text changed, its size and mtime kept (as cp -p or rsync -t leave it): the bytes
# tell. The same text touched (mtime moved, bytes kept): the compiled file is still used.
"$SP" compile -q "$D/app.conf" # by its absolute path: fresh for any build of the library
like "$(run)" "$DENIED" "(compiled again: denied)"
printf '%s\n' "$other" > "$D/pass.txt"
[ "$(stat -c %s "$D/pass.txt")" = "$(stat -c %s "$D/app.conf")" ]
ok $? "(the edit keeps the size)"
touch -r "$D/app.conf" "$D/ref"
cat "$D/pass.txt" > "$D/app.conf"
touch -r "$D/ref" "$D/app.conf"
like "$(run)" "$PASSED" "the text edited in place (another port), size and mtime restored: the edit counts (pass)"
like "$("$SP" check "$D/app.conf" 2>&1)" "app.conf.spc: warning: compiled policy refused: stale \\($D/app.conf changed since it was compiled\\)" \
    "sockpolicy check says the compiled file is stale"
(cd "$D" && "$SP" compile -q app.conf)
sleep 0.05
touch "$D/app.conf"
like "$(run)" "$PASSED" "the text touched, its bytes unchanged: the same answer (pass)"
out=$("$SP" check "$D/app.conf" 2>&1; echo "[exit $?]")
is "$out" "[exit 0]" "and the compiled file is still used: its bytes prove it (check says nothing)"
done_testing
