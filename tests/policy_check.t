#!/usr/bin/env bash
# `sockpolicy check` on every bad fixture (tests/fixtures/bad/NAME.conf) gives exactly
# NAME.expect (the messages, the lines, the carets and the exit status); good policies check
# clean and `explain` gives good/NAME.expect for each call in good/NAME.queries; plus the
# inputs too big or too odd to keep in the tree (a 1 MB line, a missing file, a FIFO).
set -u
SP=${SP_BUILD:?}/sockpolicy
FX=${SP_TOP:?}/tests/fixtures
bad=("$FX"/bad/*.conf)
good=("$FX"/good/*.queries)
n=0
plan=$(( ${#bad[@]} + 2 * ${#good[@]} + 1 + 6 ))
echo "1..$plan"
result() { # name, got, want
    n=$((n + 1))
    if [ "$2" == "$3" ]; then echo "ok $n - $1"; else
        echo "not ok $n - $1"; diff <(echo "$3") <(echo "$2") | sed 's/^/# /'; fi
}
for f in "${bad[@]}"; do
    name=$(basename "$f" .conf)
    got=$(cd "$FX/bad" && { "$SP" check "$name.conf" 2>&1; echo "[exit $?]"; })
    result "check bad/$name.conf" "$got" "$(cat "$FX/bad/$name.expect")"
done
for q in "${good[@]}"; do
    name=$(basename "$q" .queries)
    got=$(cd "$FX/good" && { "$SP" check "$name.conf" 2>&1; echo "[exit $?]"; })
    result "check good/$name.conf is clean" "$got" "[exit 0]"
    got=$(cd "$FX/good" && while read -r line; do
        echo "\$ sockpolicy explain -c $name.conf $line"
        # shellcheck disable=SC2086
        "$SP" explain -c "$name.conf" $line 2>&1; echo "[exit $?]"
    done < "$q")
    result "explain good/$name.conf: $(wc -l < "$q") calls" "$got" "$(cat "$FX/good/$name.expect")"
done
# The example of issue 3, checked from the repository root too.
got=$("$SP" check "$FX/good/issue.conf" 2>&1; echo "[exit $?]")
result "issue 3's example is valid" "$got" "[exit 0]"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
got=$("$SP" check nosuch.conf 2>&1; echo "[exit $?]")
result "a missing file" "$got" "nosuch.conf: error: cannot open: No such file or directory
[exit 1]"
{ printf 'pass connect port 80\ndeny connect prog '; head -c 1048576 /dev/zero | tr '\0' 'a'; printf '\npass connect port 81\nset connect port 0\n'; } > big.conf
got=$("$SP" check big.conf 2>&1 | cut -c1-80; echo "[exit ${PIPESTATUS[0]}]")
result "a 1 MB line is refused, and the next lines are still read" "$got" "big.conf:2:1: error: line too long (1048594 bytes; the limit is 4096)
    deny connect prog aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
    ^
big.conf:4:18: error: port 0 is out of range (1-65535)
    set connect port 0
                     ^
[exit 1]"
mkfifo fifo.conf
got=$(printf 'include fifo.conf\n' > inc.conf; timeout 5 "$SP" check inc.conf 2>&1; echo "[exit $?]")
result "a FIFO is refused without blocking" "$got" "inc.conf:1:9: error: cannot read 'fifo.conf': not a regular file
    include fifo.conf
            ^
[exit 1]"
: > empty.conf
got=$("$SP" check empty.conf 2>&1; echo "[exit $?]")
result "an empty file is a valid policy" "$got" "[exit 0]"
got=$("$SP" check 2>&1 | head -1; "$SP" check >/dev/null 2>&1; echo "[exit $?]")
result "check without a file is a usage error" "$got" "sockpolicy check: no policy file given
[exit 2]"
got=$("$SP" --version | head -1; "$SP" --version >/dev/null; echo "[exit $?]"; "$SP" --help | grep -c '^  [a-z]'; "$SP" bogus >/dev/null 2>&1; echo "[exit $?]")
result "--version, --help, an unknown command" "$got" "sockpolicy 0.1.0
[exit 0]
$("$SP" --help | grep -c '^  [a-z]')
[exit 2]"
