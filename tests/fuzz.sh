#!/usr/bin/env bash
# Builds the policy parser's libFuzzer target (clang -fsanitize=fuzzer,address,undefined) and
# runs it for SECONDS (default 60) on a corpus seeded with tests/fixtures. `make fuzz` calls
# this; tests/policy_fuzz.t runs it for ~10 s. Exit 0 when no crash was found, 77 when clang's
# fuzzer runtime is missing, 1 on a crash (the input is left in $SP_BUILD/fuzz/).
set -euo pipefail
secs=${1:-60}
top=$(cd "$(dirname "$0")/.." && pwd)
out=${SP_BUILD:-$top/build}/fuzz
mkdir -p "$out/corpus"
CLANG=${CLANG:-clang}
if ! command -v "$CLANG" >/dev/null ||
   ! echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }' |
     "$CLANG" -x c -fsanitize=fuzzer -o "$out/probe" - 2>/dev/null; then
    echo "fuzz.sh: clang with the libFuzzer runtime is not available" >&2
    exit 77
fi
"$CLANG" -std=gnu11 -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -I"$top/core" -I"$top/policy" \
    -o "$out/policy_fuzz" "$top/tests/fuzz/policy_fuzz.c" "$top"/policy/*.c
for f in "$top"/tests/fixtures/good/*.conf "$top"/tests/fixtures/bad/*.conf; do
    cp "$f" "$out/corpus/$(basename "$(dirname "$f")")-$(basename "$f")"
done
cd "$out"
"$out/policy_fuzz" -max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=1024 \
    -print_final_stats=1 corpus 2>&1 | tail -n 25
