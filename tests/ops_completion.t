#!/usr/bin/env bash
# completion/sockpolicy.bash, sourced in a bash: what it offers for a few command lines, and
# that it offers every subcommand and every option the command's --help lists.
. "$(dirname "$0")/shim_lib.sh"
CMD=$SP_BUILD/sockpolicy
. "$SP_TOP/completion/sockpolicy.bash"
complete -p sockpolicy | grep -q -- '-F _sockpolicy'; ok $? "sourcing registers _sockpolicy for sockpolicy"

# comp LINE: the completions for LINE (cursor at its end), sorted, on one line.
comp() {
    local line=$1
    read -r -a COMP_WORDS <<<"$line"
    [[ $line == *' ' ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE=$line
    COMP_POINT=${#line}
    COMPREPLY=()
    _sockpolicy sockpolicy "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    printf '%s\n' "${COMPREPLY[@]}" | sort -u | tr '\n' ' ' | sed 's/ $//'
}

is "$(comp 'sockpolicy ')" "check compile explain help run" "subcommands"
is "$(comp 'sockpolicy c')" "check compile" "subcommands starting with c"
is "$(comp 'sockpolicy --v')" "--version" "--version"
is "$(comp 'sockpolicy explain ')" "accept bind connect listen send socket" "explain: the operations"
is "$(comp 'sockpolicy explain -c /etc/sockpolicy.conf co')" "connect" "explain: the operation after -c FILE"
is "$(comp 'sockpolicy explain connect ')" "" "explain: no guess at an address"
is "$(comp 'sockpolicy explain --family ')" "inet inet6 unix" "explain --family values"
is "$(comp 'sockpolicy explain --type d')" "dgram" "explain --type values"
is "$(comp 'sockpolicy explain connect --u')" "--uid" "explain: an option after the operation"
is "$(comp 'sockpolicy run --log j')" "journald" "run --log destinations"
is "$(comp 'sockpolicy run --t')" "--trace" "run --trace"
like "$(comp 'sockpolicy run -- pytho')" '(^| )python3( |$)' "run --: program names from PATH"
like "$(comp 'sockpolicy run -c x.conf bas')" '(^| )bash( |$)' "run: the program after -c FILE"
is "$(comp 'sockpolicy compile -')" "--help --quiet -o -q" "compile options"
mkdir -p "$TMP/d" && touch "$TMP/d/web.conf" "$TMP/d/db.conf" "$TMP/d/x.txt"
is "$(comp "sockpolicy check $TMP/d/w")" "$TMP/d/web.conf" "check: file names"
is "$(comp "sockpolicy compile -o $TMP/d/d")" "$TMP/d/db.conf" "compile -o: file names"
is "$(comp "sockpolicy run -c $TMP/d/d")" "$TMP/d/db.conf" "run -c: file names"

# In sync with the command: every subcommand of --help, every option of each --help.
cmds=$("$CMD" --help | sed -n '/^commands:/,/^$/p' | awk 'NF>1 {print $1}')
offered=" $(comp 'sockpolicy ') "
missing=; for c in $cmds; do [[ $offered == *" $c "* ]] || missing="$missing $c"; done
is "$missing" "" "every subcommand of sockpolicy --help is offered"
for c in $cmds; do
    opts=$("$CMD" "$c" --help | grep -oE '(^|[ ,[])--?[a-zA-Z][a-zA-Z-]*' | sed 's/^[ ,[]//' | sort -u)
    offered=" $(comp "sockpolicy $c -") "
    missing=; for o in $opts; do [ "$o" = -h ] && continue; [[ $offered == *" $o "* ]] || missing="$missing $o"; done
    is "$missing" "" "every option of sockpolicy $c --help is offered"
done
done_testing
