#!/usr/bin/env bash
# A short bounded run of the policy parser's libFuzzer target (tests/fuzz.sh): ~10 seconds
# without a crash, a leak or a timeout. `make fuzz` runs it longer.
echo "1..1"
secs=${SP_FUZZ_SECONDS:-10}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
SP_BUILD=${SP_BUILD:?} timeout $((secs + 120)) bash "${SP_TOP:?}/tests/fuzz.sh" "$secs" >"$log" 2>&1
rc=$?
if [ $rc -eq 77 ]; then
    echo "ok 1 # SKIP clang's libFuzzer runtime is missing"
elif [ $rc -eq 0 ] && grep -q 'stat::number_of_executed_units' "$log" && ! grep -q 'ERROR: ' "$log"; then
    echo "ok 1 - parser fuzzed for ${secs}s: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') inputs, no crash"
else
    echo "not ok 1 - the fuzzer found a problem (exit $rc)"
    sed 's/^/# /' "$log" | tail -n 40
fi
