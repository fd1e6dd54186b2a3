#!/usr/bin/env bash
# Builds the policy parser's libFuzzer target (tests/fuzz/policy_fuzz.c, clang
# -fsanitize=fuzzer plus sanitizers) and runs it for SECONDS (default 60) on a corpus seeded
# with every policy file under tests/fixtures (good and bad). `make fuzz FUZZ_SECONDS=N` calls
# this; tests/policy_fuzz.t runs it for ~10 s. Environment:
#   SP_FUZZ_SAN     sanitizers (default address,undefined; "undefined" runs ~4x faster, for
#                   long runs)
#   SP_FUZZ_FAST    1: no comparison tracing (-fno-sanitize-coverage=trace-cmp; the dictionary
#                   tests/fuzz/policy.dict still gives it the words): ~2.5x faster
#   SP_FUZZ_RUNS    stop after this many executions (default: no limit but the time)
#   SP_FUZZ_JOBS    parallel fuzzing processes (default 1)
# The corpus grows in $SP_BUILD/fuzz/corpus; a crash is left as $SP_BUILD/fuzz/crash-*.
# Exit 0 when no crash was found, 77 when clang's fuzzer runtime is missing, else non-zero.
set -euo pipefail
secs=${1:-60}
san=${SP_FUZZ_SAN:-address,undefined}
runs=${SP_FUZZ_RUNS:--1}
jobs=${SP_FUZZ_JOBS:-1}
top=$(cd "$(dirname "$0")/.." && pwd)
out=${SP_BUILD:-$top/build}/fuzz
fast=${SP_FUZZ_FAST:-0}
tag=$(echo "$san" | tr -c 'a-z\n' _)
extra=()
if [ "$fast" = 1 ]; then
    tag=$tag-fast
    extra=(-fno-sanitize-coverage=trace-cmp)
fi
bin=$out/policy_fuzz-$tag
mkdir -p "$out/corpus" "$out/seed"
CLANG=${CLANG:-clang}
if ! command -v "$CLANG" >/dev/null ||
   ! echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }' |
     "$CLANG" -x c -fsanitize=fuzzer -o "$out/probe" - 2>/dev/null; then
    echo "fuzz.sh: clang with the libFuzzer runtime is not available" >&2
    exit 77
fi
# Rebuilt only when a source is newer than the binary. The policy uses core's tables (errno
# and option names), so core's sources are linked too.
if [ ! -x "$bin" ] || [ -n "$(find "$top/policy" "$top/core" "$top/tests/fuzz" -newer "$bin" -print -quit)" ]; then
    "$CLANG" -std=gnu11 -g -O2 -D_GNU_SOURCE -fsanitize=fuzzer,"$san" ${extra[@]+"${extra[@]}"} \
        -fno-sanitize-recover=undefined -fsanitize-coverage-ignorelist="$top/tests/fuzz/ignore.txt" \
        -I"$top/core" -I"$top/policy" \
        -o "$bin.tmp" "$top/tests/fuzz/policy_fuzz.c" "$top"/policy/*.c "$top"/core/*.c
    mv "$bin.tmp" "$bin"
fi
rm -f "$out"/seed/*
find "$top/tests/fixtures" -type f ! -name '*.expect' ! -name '*.queries' -print0 |
    while IFS= read -r -d '' f; do
        rel=${f#"$top/tests/fixtures/"}
        cp "$f" "$out/seed/${rel//\//_}"
    done
cd "$out"
log=$out/fuzz-$tag.log
set +e
if [ "$jobs" -gt 1 ]; then
    "$bin" -max_total_time="$secs" -runs="$runs" -max_len=4096 -timeout=10 -rss_limit_mb=1024 \
        -dict="$top/tests/fuzz/policy.dict" -artifact_prefix="$out/" -print_final_stats=1 \
        -jobs="$jobs" -workers="$jobs" corpus seed >"$log" 2>&1
else
    "$bin" -max_total_time="$secs" -runs="$runs" -max_len=4096 -timeout=10 -rss_limit_mb=1024 \
        -dict="$top/tests/fuzz/policy.dict" -artifact_prefix="$out/" -print_final_stats=1 \
        corpus seed >"$log" 2>&1
fi
rc=$?
set -e
tail -n 25 "$log"
exit $rc
