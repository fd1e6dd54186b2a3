#!/usr/bin/env bash
# docs/sockpolicy.conf.5 renders without a warning, carries the issue's example line for line,
# and that example (tests/fixtures/good/issue.conf) is what `sockpolicy check` accepts.
echo "1..2"
page=${SP_TOP:?}/docs/sockpolicy.conf.5
if ! command -v man >/dev/null; then
    echo "ok 1 # SKIP man is not installed"
else
    warn=$(man --warnings -l "$page" 2>&1 >/dev/null)
    if [ -z "$warn" ]; then echo "ok 1 - sockpolicy.conf(5) renders without warnings"
    else echo "not ok 1 - man --warnings complains"; echo "$warn" | sed 's/^/# /'; fi
fi
text=$(MANWIDTH=200 man -l "$page" 2>/dev/null || sed 's/\\-/-/g' "$page")
missing=0
while IFS= read -r line; do
    [ -z "$line" ] && continue
    norm=$(tr -s ' ' <<<"$line")
    if ! tr -s ' ' <<<"$text" | grep -qF -- "$norm"; then
        echo "# missing from the man page: $line"; missing=$((missing + 1)); fi
done < "$SP_TOP/tests/fixtures/good/issue.conf"
[ $missing -eq 0 ] && echo "ok 2 - every line of the issue's example is in the man page" ||
    echo "not ok 2 - $missing lines of the example are missing"
