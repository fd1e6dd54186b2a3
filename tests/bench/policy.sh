#!/usr/bin/env bash
# The policy benchmark (issue 3): for 10, 1,000 and 10,000 rules, the time to load (parse and
# compile) and to specialise the policy (best of 20), and the instructions per sp_policy_match
# counted by callgrind over 100,000 calls. Targets: < 100 instructions per match and < 5 ms to
# load at 10,000 rules. Not part of `make check`; tests/bench/run.sh calls it.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${SP_BUILD:-$top/build}
make -C "$top" -s build/bench/policy_match >/dev/null
bin=$build/bench/policy_match
Q=100000
printf '%-7s %-10s %-16s %-18s %-14s\n' rules load_ms specialise_ms instr_per_match ns_per_match
for n in 10 1000 10000; do
    t=$("$bin" "$n" time)
    load=$(awk '{print $6}' <<<"$t"); spec=$(awk '{print $8}' <<<"$t")
    ns=$("$bin" "$n" match $Q | awk '{print $8}')
    ipm=-
    if command -v valgrind >/dev/null; then
        out=$(mktemp)
        valgrind --tool=callgrind --callgrind-out-file="$out" --collect-atstart=no \
            --toggle-collect=sp_policy_match "$bin" "$n" match $Q >/dev/null 2>&1
        ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$out")
        rm -f "$out"
        ipm=$(awk -v ir="$ir" -v q=$Q 'BEGIN {printf "%.1f", ir / q}')
    fi
    printf '%-7s %-10s %-16s %-18s %-14s\n' "$n" "$load" "$spec" "$ipm" "$ns"
done
