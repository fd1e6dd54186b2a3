#!/usr/bin/env bash
# The policy benchmark (issues 3 and 7): for 10, 1,000 and 10,000 rules, best of 20:
#   load_ms    parse + compile as the shim loads (sp_policy_load_ex, SP_LOAD_NO_WARNINGS)
#   check_ms   the same with the covered-rule warnings (sp_policy_load, as `sockpolicy check`)
#   map_ms     sp_policy_map of the compiled file (`sockpolicy compile` output)
#   spec_ms    sp_policy_specialise
# and instructions counted by callgrind: per sp_policy_match over 100,000 calls, per
# sp_policy_specialise, per sp_policy_map, per load. Targets: < 100 instructions per match,
# < 5 ms to load, specialise < 0.05 ms and < 20k instructions, at 10,000 rules.
# Not part of `make check`; tests/bench/run.sh calls it.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${SP_BUILD:-$top/build}
make -C "$top" -s build/bench/policy_match >/dev/null
bin=$build/bench/policy_match
Q=100000
cg() { # instructions in function $1 of `policy_match ARGS`, divided by $2
    local fn=$1 div=$2 out; shift 2
    out=$(mktemp)
    valgrind --tool=callgrind --callgrind-out-file="$out" --collect-atstart=no \
        --toggle-collect="$fn" "$bin" "$@" >/dev/null 2>&1
    awk -v d="$div" '/^(summary|totals):/ {printf "%.1f", $2 / d; exit}' "$out"
    rm -f "$out"
}
printf '%-6s %-8s %-8s %-8s %-8s %-10s %-10s %-10s %-10s %-8s\n' rules load_ms check_ms map_ms \
    spec_ms i/match i/spec i/map i/load ns/match
for n in 10 1000 10000; do
    t=$("$bin" "$n" time)
    f() { awk -v k="$1" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}' <<<"$t"; }
    ns=$("$bin" "$n" match $Q | awk '{print $8}')
    ipm=- ips=- imap=- iload=-
    if command -v valgrind >/dev/null; then
        ipm=$(cg sp_policy_match $Q "$n" match $Q)
        ips=$(cg sp_policy_specialise 10 "$n" specialise 10)
        imap=$(cg sp_policy_map 10 "$n" map 10)
        iload=$(cg sp_policy_load_ex 11 "$n" load 10)
    fi
    printf '%-6s %-8s %-8s %-8s %-8s %-10s %-10s %-10s %-10s %-8s\n' "$n" "$(f load_ms)" \
        "$(f check_ms)" "$(f map_ms)" "$(f specialise_ms)" "$ipm" "$ips" "$imap" "$iload" "$ns"
done
