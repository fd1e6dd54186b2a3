#!/usr/bin/env bash
# `sockpolicy compile`: writes FILE.spc (or -o OUT) for a valid policy, prints errors and
# writes nothing for an invalid one; the result is read back through the library by a
# differential run (tests/unit/policy_cache.c covers damage and staleness in detail).
set -u
SP=${SP_BUILD:?}/sockpolicy
FX=${SP_TOP:?}/tests/fixtures
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
echo "1..7"
t() { n=$((n + 1)); if eval "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1"; fi; }
cp "$FX"/good/*.conf "$tmp"/ 2>/dev/null
good=$(ls "$tmp"/*.conf | head -1)
t "compile a good policy: exit 0, FILE.spc written" \
  '"$SP" compile "$good" 2>/dev/null && [ -s "$good.spc" ]'
t "FILE.spc starts with the magic" '[ "$(head -c 8 "$good.spc")" == "SPCOMP1" ]'
t "-o OUT writes OUT, mode 0644" \
  '"$SP" compile -q "$good" -o "$tmp/out.spc" && [ "$(stat -c %a "$tmp/out.spc")" == 644 ]'
printf 'deny connect port 0\n' >"$tmp/bad.conf"
out=$("$SP" compile "$tmp/bad.conf" 2>&1); rc=$?
t "a bad policy: exit 1, the error printed, nothing written" \
  '[ $rc -eq 1 ] && grep -q "bad.conf:1:.*error" <<<"$out" && [ ! -e "$tmp/bad.conf.spc" ]'
t "no file: usage, exit 2" '"$SP" compile >/dev/null 2>&1; [ $? -eq 2 ]'
t "--help: exit 0, names the output" '"$SP" compile --help | grep -q "FILE.spc"'
t "an unwritable OUT: exit 1" '! "$SP" compile -q "$good" -o /nonexistent/dir/x.spc 2>/dev/null'
