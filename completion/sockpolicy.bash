# bash completion for sockpolicy(1): subcommands, their options and option values.
# Installed as /usr/share/bash-completion/completions/sockpolicy; works with or without the
# bash-completion package (its helpers are used when they are there).

_sockpolicy_files()
{
    if declare -F _filedir >/dev/null; then
        _filedir
    else
        local IFS=$'\n'
        COMPREPLY=($(compgen -f -- "$1"))
        compopt -o filenames 2>/dev/null
    fi
}

_sockpolicy()
{
    local cur prev cmd i
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    COMPREPLY=()

    local commands="check explain compile run"
    if [ "$COMP_CWORD" -eq 1 ]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "--help --version" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$commands help" -- "$cur"))
        fi
        return 0
    fi
    cmd=${COMP_WORDS[1]}

    case $cmd in
    check)
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "-q --quiet --help" -- "$cur"))
        else
            _sockpolicy_files "$cur"
        fi
        ;;
    compile)
        if [ "$prev" = -o ]; then
            _sockpolicy_files "$cur"
        elif [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "-o -q --quiet --help" -- "$cur"))
        else
            _sockpolicy_files "$cur"
        fi
        ;;
    explain)
        case $prev in
        -c | --config) _sockpolicy_files "$cur"; return 0 ;;
        --type) COMPREPLY=($(compgen -W "stream dgram" -- "$cur")); return 0 ;;
        --family) COMPREPLY=($(compgen -W "inet inet6 unix" -- "$cur")); return 0 ;;
        --prog) COMPREPLY=($(compgen -c -- "$cur")); return 0 ;;
        --uid)
            COMPREPLY=($(compgen -W "$(getent passwd 2>/dev/null | cut -d: -f3)" -- "$cur"))
            return 0
            ;;
        esac
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "-c --config --prog --uid --type --family --help" -- "$cur"))
            return 0
        fi
        # The first word that is neither an option nor an option's value is the operation.
        local have_op=
        for ((i = 2; i < COMP_CWORD; i++)); do
            case ${COMP_WORDS[i]} in
            -c | --config | --prog | --uid | --type | --family) ((i++)) ;;
            -*) ;;
            *) have_op=1 ;;
            esac
        done
        if [ -z "$have_op" ]; then
            COMPREPLY=($(compgen -W "socket bind listen connect accept send" -- "$cur"))
        fi
        ;;
    run)
        case $prev in
        -c | --config) _sockpolicy_files "$cur"; return 0 ;;
        --log)
            COMPREPLY=($(compgen -W "stderr syslog journald off" -- "$cur"))
            [[ $cur == */* || $cur == .* ]] && _sockpolicy_files "$cur"
            return 0
            ;;
        esac
        # After `--` or the program's name, complete the program's own command line.
        for ((i = 2; i < COMP_CWORD; i++)); do
            case ${COMP_WORDS[i]} in
            --) ((i++)); break ;;
            -c | --config | --log) ((i++)) ;;
            -*) ;;
            *) break ;;
            esac
        done
        if [ "$i" -lt "$COMP_CWORD" ]; then
            if declare -F _command_offset >/dev/null; then
                _command_offset "$i"
            else
                _sockpolicy_files "$cur"
            fi
        elif [ "$i" -eq "$COMP_CWORD" ] && [[ $cur != -* ]]; then
            COMPREPLY=($(compgen -c -- "$cur"))
        else
            COMPREPLY=($(compgen -W "-c --config --log --trace --supervise --preload --allow-io-uring --help --" -- "$cur"))
        fi
        ;;
    help) ;;
    esac
    return 0
}
complete -F _sockpolicy sockpolicy
