#!/usr/bin/env bash
# Every man page in docs/ renders without a warning, and sockpolicy(1) stays in sync with the
# command: each subcommand its --help lists, each option each subcommand's --help prints, and
# each SOCKPOLICY_* variable the code reads are in the pages.
. "$(dirname "$0")/shim_lib.sh"
CMD=$SP_BUILD/sockpolicy
# plain PAGE: the page's source with roff escapes for dashes and fonts removed.
plain() { sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\(aq/'"'"'/g' "$1"; }

for page in "$SP_TOP"/docs/*.[157]; do
    name=$(basename "$page")
    if ! command -v man >/dev/null; then skip "man is not installed"; continue; fi
    warn=$(man --warnings -l "$page" 2>&1 >/dev/null)
    is "$warn" "" "$name renders without warnings"
    # .TH NAME SECTION matches the file name, so man -w finds it once installed
    th=$(sed -n 's/^\.TH \([^ ]*\) \([^ ]*\).*/\1.\2/p' "$page" | head -1 | tr 'A-Z' 'a-z')
    stem=${name%.*}; sec=${name##*.}
    is "$th" "$(tr 'A-Z' 'a-z' <<<"$stem").$sec" "$name: .TH names the page as its file does"
    # a page that states a version states this one
    v=$(sed -n '1,/^\.TH/s/^\.TH.*"sockpolicy \([0-9][^"]*\)".*/\1/p' "$page" | head -1)
    [ -z "$v" ] || is "$v" "$(cat "$SP_TOP/VERSION")" "$name: the version in .TH is VERSION's"
done

one=$SP_TOP/docs/sockpolicy.1
text=$(plain "$one")
cmds=$("$CMD" --help | sed -n '/^commands:/,/^$/p' | awk 'NF>1 {print $1}')
[ -n "$cmds" ]; ok $? "sockpolicy --help lists commands"
for c in $cmds; do
    grep -qE "^\.SS \"?$c( |\"|$)" "$one"; ok $? "sockpolicy.1 has a section for '$c'"
    opts=$("$CMD" "$c" --help | grep -oE '(^|[ ,[])--?[a-zA-Z][a-zA-Z-]*' | sed 's/^[ ,[]//' | sort -u)
    missing=
    for o in $opts; do grep -qF -- "$o" <<<"$text" || missing="$missing $o"; done
    is "$missing" "" "sockpolicy.1 documents every option of 'sockpolicy $c --help' ($(echo $opts | wc -w))"
done
for o in --help --version -V; do grep -qF -- "$o" <<<"$text"; ok $? "sockpolicy.1 documents $o"; done
for s in "EXIT STATUS" ENVIRONMENT FILES EXAMPLES; do
    grep -q "^\.SH \"\?$s" "$one"; ok $? "sockpolicy.1 has $s"
done

# Every SOCKPOLICY_* the library or the command reads from the environment is documented.
vars=$(grep -ohE '(secure_)?getenv\("SOCKPOLICY_[A-Z_]*"\)' "$SP_TOP"/shim/*.c "$SP_TOP"/diag/*.c "$SP_TOP"/cmd/*.c | grep -oE 'SOCKPOLICY_[A-Z_]*' | sort -u)
[ -n "$vars" ]; ok $? "the code reads SOCKPOLICY_* variables ($(echo $vars))"
both="$text$(plain "$SP_TOP/docs/libsockpolicy.7")"
for v in $vars; do grep -qF "$v" <<<"$text"; ok $? "sockpolicy.1 documents $v"; done
shim_vars=$(grep -lE 'getenv\("SOCKPOLICY_' "$SP_TOP"/shim/*.c "$SP_TOP"/diag/*.c |
    xargs -r grep -ohE 'getenv\("SOCKPOLICY_[A-Z_]*"\)' | grep -oE 'SOCKPOLICY_[A-Z_]*' | sort -u)
for v in $shim_vars; do grep -qF "$v" <<<"$(plain "$SP_TOP/docs/libsockpolicy.7")"; ok $? "libsockpolicy.7 documents $v (read by the library)"; done

# libsockpolicy(7) says what the shim cannot reach and how to deploy it safely.
seven=$(plain "$SP_TOP/docs/libsockpolicy.7" | tr -s ' \n' ' ')
for topic in "statically linked" "Go programs" "io_uring" "getaddrinfo" "setuid" "/etc/ld.so.preload" "AT_SECURE" "busybox"; do
    grep -qiF -- "$topic" <<<"$seven"; ok $? "libsockpolicy.7 covers '$topic'"
done
done_testing
