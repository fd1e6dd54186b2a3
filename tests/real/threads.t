#!/usr/bin/env bash
# The thread torture programs at full size (64 threads x 2000 connects while 4 threads fork
# children that connect too), under ThreadSanitizer and under helgrind, bare and under the
# shim. ThreadSanitizer instruments the program and, for the runs under the shim, a build of
# the shim itself (SANITIZE=thread), so it sees the shim's atomics and any malloc in a signal
# handler; helgrind sees every access, the shim's own included.
. "$(dirname "$0")/lib.sh"
plan 10
P=$SP_BUILD/progs
T=$REAL_TMP/threads
mkdir -p "$T"

if [ "${SANITIZE:-}" = 1 ]; then
    for i in $(seq 10); do skip "ThreadSanitizer and valgrind do not mix with SANITIZE=1's ASan shim"; done
    finish
fi
why=$(shim_missing)

# Full size, plain build: figures for the README.
timeout 120 "$P/torture_threads" 64 2000 4 25 40 >"$T/full.bare" 2>&1
ok $? "full size bare: $(grep '^# threads' "$T/full.bare" | cut -c3-) $(tail -1 "$T/full.bare")"
if [ -n "$why" ]; then
    skip "full size under the shim: $why"
else
    SHIM_LOG_TO=stderr under_shim timeout 120 "$P/torture_threads" 64 2000 4 25 40 >"$T/full.shim" 2>&1
    ok $? "full size under the shim: $(grep '^# threads' "$T/full.shim" | cut -c3-) $(tail -1 "$T/full.shim")"
fi

# ThreadSanitizer builds of the thread and signal programs.
tsan_ok=0
for prog in torture_threads torture_signal; do
    clang -fsanitize=thread -O1 -g -o "$T/$prog.tsan" "$SP_TOP/tests/progs/$prog.c" -lpthread \
        >"$T/$prog.cc" 2>&1 || tsan_ok=1
done
# tsan_run NAME PROG ARGS... (env decides bare or shim): exit 0, PASS, no report.
tsan_run() {
    local out=$T/$1
    shift
    TSAN_OPTIONS="halt_on_error=0 exitcode=66 report_signal_unsafe=1" timeout 120 "$@" >"$out" 2>&1
    local rc=$?
    [ $rc = 0 ] && ! grep -q 'WARNING: ThreadSanitizer' "$out"
    local r=$?
    grep -m3 -A12 'WARNING: ThreadSanitizer' "$out" | sed 's/^/#   /'
    return $r
}
if [ $tsan_ok != 0 ]; then
    for i in 1 2 3 4 5; do skip "clang -fsanitize=thread does not build here: $(head -c 200 "$T/torture_threads.cc")"; done
else
    tsan_run threads.bare "$T/torture_threads.tsan" 64 1000 4 10 60
    rc=$?
    if grep -q 'unexpected memory mapping' "$T/threads.bare"; then
        # clang 14's TSan cannot run with this kernel's mmap randomisation: nothing to judge.
        for i in 1 2 3 4 5; do skip "ThreadSanitizer cannot map its shadow here: $(grep -m1 FATAL "$T/threads.bare")"; done
        tsan_ok=2
    else
        ok $rc "ThreadSanitizer, torture_threads bare: $(tail -1 "$T/threads.bare")"
    fi
fi
if [ $tsan_ok = 0 ]; then
    tsan_run signal.bare "$T/torture_signal.tsan" 20000 60
    ok $? "ThreadSanitizer, torture_signal bare: $(tail -1 "$T/signal.bare")"
    if [ -n "$why" ]; then
        skip "ThreadSanitizer, torture_threads under the shim: $why"
        skip "ThreadSanitizer, torture_signal under the shim: $why"
        skip "ThreadSanitizer, live reloads of the log settings: $why"
    else
        # The shim built with ThreadSanitizer too: TSan must see the shim's atomics, not only
        # its interceptors (memcpy, write) called from an uninstrumented library, which read
        # as races on buffers handed over by an atomic it cannot see.
        TS=$T/tsan-build
        if ! make -s -C "$SP_TOP" BUILD="$TS" SANITIZE=thread CC=clang "$TS/libsockpolicy.so" \
            >"$T/tsan-shim.cc" 2>&1; then
            sed 's/^/#   /' "$T/tsan-shim.cc" | tail -20
            ok 1 "ThreadSanitizer, torture_threads under the shim: the shim does not build with clang -fsanitize=thread"
            ok 1 "ThreadSanitizer, torture_signal under the shim: the shim does not build with clang -fsanitize=thread"
            ok 1 "ThreadSanitizer, live reloads of the log settings: the shim does not build with clang -fsanitize=thread"
        else
            tsan_shim() { # NAME PROG ARGS: timeout must not load a TSan library itself
                local name=$1
                shift
                tsan_run "$name" env LD_PRELOAD="$TS/libsockpolicy.so" SOCKPOLICY_CONF="$POLICY" \
                    SOCKPOLICY_LOG=stderr "$@"
            }
            tsan_shim threads.shim "$T/torture_threads.tsan" 64 1000 4 10 60
            ok $? "ThreadSanitizer (program and shim), torture_threads under the shim: $(tail -1 "$T/threads.shim")"
            tsan_shim signal.shim "$T/torture_signal.tsan" 20000 60
            ok $? "ThreadSanitizer (program and shim), torture_signal under the shim (a malloc in the handler would show): $(tail -1 "$T/signal.shim")"

            # Live reload of the log settings while 16 threads connect and log every event:
            # the destination moves a -> b (JSON) -> c -> a (failures) -> b -> c, about every
            # 1.2 s; the logger's slots (shim/log_cfg.c) are switched under the writers. The
            # torture's descriptor count is not judged here: each file sink holds one.
            R=$T/reload
            mkdir -p "$R"
            rconf=$R/policy.conf
            writepol() { { cat "$POLICY"; printf '%s\n' "$@"; } >"$rconf.new" && mv "$rconf.new" "$rconf"; }
            writepol 'log all' "log-to file $R/a.log"
            (
                for i in 1 2 3 4 5 6; do
                    sleep 1.2
                    case $i in
                    1) writepol 'log all' 'log-format json' "log-to file $R/b.log" ;;
                    2) writepol 'log all' "log-to file $R/c.log" ;;
                    3) writepol 'log failures' "log-to file $R/a.log" ;;
                    4) writepol 'log all' "log-to file $R/b.log" ;;
                    *) writepol 'log all' "log-to file $R/c.log" ;;
                    esac
                done
            ) &
            flipper=$!
            TSAN_OPTIONS="halt_on_error=0 exitcode=66 report_signal_unsafe=1" timeout 120 \
                env LD_PRELOAD="$TS/libsockpolicy.so" SOCKPOLICY_CONF="$rconf" \
                "$T/torture_threads.tsan" 16 40000 2 5 60 >"$R/out" 2>&1
            kill "$flipper" 2>/dev/null
            wait "$flipper" 2>/dev/null
            got=""
            for f in a b c; do [ -s "$R/$f.log" ] && got="$got$f"; done
            # a and b at least (how many moves a run spans depends on the machine's speed)
            ! grep -q 'WARNING: ThreadSanitizer' "$R/out" && grep -q 'child_failures=0' "$R/out" &&
                case $got in ab*) true ;; *) false ;; esac && grep -q '^{' "$R/b.log"
            ok $? "ThreadSanitizer (program and shim), log destination reloaded under 16 threads: no report, lines in $got ($(grep -o 'connects=[0-9]*' "$R/out"), $(cat "$R"/?.log | wc -l) lines)"
            grep -m3 -A12 'WARNING: ThreadSanitizer' "$R/out" | sed 's/^/#   /'
        fi
    fi
fi

# helgrind: small sizes (it serialises every thread). Errors are counted from its summary.
if ! command -v valgrind >/dev/null; then
    for i in 1 2 3 4; do skip "valgrind not installed"; done
    finish
fi
hg_run() { # hg_run NAME [env VAR=...] -- the program runs as valgrind's (traced) child
    local name=$1
    shift
    timeout 300 valgrind --tool=helgrind --trace-children=yes --child-silent-after-fork=yes \
        --error-exitcode=99 "$@" "$P/torture_threads" 8 100 2 3 240 >"$T/$name" 2>&1
}
hg_errors() { sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$T/$1" | sort -n | tail -1; }
hg_run hg.bare env
rc=$?
ok $rc "helgrind, torture_threads bare: $(hg_errors hg.bare) errors"
if [ -n "$why" ]; then
    skip "helgrind, torture_threads under the shim: $why"
    skip "helgrind: no race outside the shim's fd table: $why"
else
    # With tests/real/helgrind.supp: what helgrind cannot model there (C11 atomics, and plain
    # fields they order), each entry read and justified in the file. The logger's scratch pool
    # needs none: diag_emit.c annotates its handoff. -v lists the suppressions used.
    supp=$REAL_DIR/helgrind.supp
    # shellcheck disable=SC2046
    hg_run hg.shim -v --suppressions="$supp" env $(SHIM_LOG_TO=stderr shim_env)
    rc=$?
    n=$(hg_errors hg.shim)
    nsupp=$(sed -n 's/.*ERROR SUMMARY: .*(suppressed: \([0-9]*\) from.*/\1/p' "$T/hg.shim" | sort -n | tail -1)
    awk '/used_suppression:/ { n[$4] += $3 } END { for (k in n) print n[k], k }' "$T/hg.shim" |
        sort -rn | sed 's/^\([0-9]*\) \(.*\)/#   suppressed \1 by \2/'
    # Where each reported race is: the innermost frame, and what memory it touched. The fd
    # table is the shim's one read-write mmap (the policy arena is read-only).
    grep -A3 'Possible data race' "$T/hg.shim" | grep -o '  at 0x[0-9A-F]*: [a-z_A-Z0-9]*' |
        awk '{print $3}' | sort | uniq -c | sort -rn >"$T/hg.where"
    sed 's/^/#   race in /' "$T/hg.where" | head -10
    others=$(awk '/Possible data race|lock order|unlocked|Thread #[0-9]*:/ { inrep = 1; next }
                  inrep && /Address 0x/ { if ($0 !~ /rw- anonymous segment/) n++; inrep = 0 }
                  END { print n + 0 }' "$T/hg.shim")
    others=$((others + $(grep -c 'lock order\|unlocked a not-locked\|still holds' "$T/hg.shim")))
    [ -f "$supp" ] && [ "$rc" = 0 ] && [ "${n:-1}" = 0 ]
    ok $? "helgrind, torture_threads under the shim: ${n:-?} errors (exit $rc; ${nsupp:-?} suppressed, atomics helgrind cannot model: $(basename "$supp"))"
    [ "${n:-1}" = 0 ] || grep -B2 -A14 'Possible data race' "$T/hg.shim" | head -60 | sed 's/^/#   /'
    [ "$others" = 0 ]
    ok $? "helgrind: no race outside the shim's fd table, no lock misuse ($others reports elsewhere)"
    [ "$others" = 0 ] || grep -B2 -A12 'Possible data race' "$T/hg.shim" | head -40 | sed 's/^/#   /'
fi
finish
