#!/usr/bin/env bash
# tests/bench/supervise.sh: `sockpolicy run --supervise` (issue 15) in `make bench`, wall clock
# only: the supervisor's work is in another process, which callgrind of the program does not
# see. Interleaved rounds (the order rotates), medians (and the fastest round, which a machine
# shared with other work disturbs least):
#   - loopback churn (build/bench/churn: a client thread connects, a server thread accepts)
#     under supervision, forcing keepalive+nodelay on connect only (accept trapped, passed to
#     the kernel): microseconds added per connect; and on connect and accept: per connect +
#     accept pair. Against bare churn, and against churn setting the same options itself
#     (-s both: what the program would pay for them without sockpolicy);
#   - a read/write loop on a connected socket pair (build/bench/rwloop): the ratio to bare
#     (target: within 2 %; non-socket calls never leave the kernel: the filter's verdict for
#     them is constant, which the kernel caches, so what is left is its seccomp entry check),
#     and under a filter of one instruction that allows everything (build/bench/allowall):
#     what any seccomp filter costs, the floor of the supervised row;
#   - start-up: `sockpolicy run --supervise /bin/true` against /bin/true (target: < 5 ms).
# Targets of the issue: at most 15 us per supervised connect + accept pair. Writes
# build/bench/supervise.md. SP_BENCH_QUICK=1: few rounds (checks the script, not the figures).
set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${SP_BUILD:-$TOP/build}
OUT=$BUILD/bench
CMD=$BUILD/sockpolicy
CHURN=$OUT/churn RW=$OUT/rwloop ALLOW=$OUT/allowall
ROUNDS=${SP_BENCH_ROUNDS:-21} CHURN_N=5000 RW_N=200000 START_RUNS=100
if [ "${SP_BENCH_QUICK:-0}" = 1 ]; then
    ROUNDS=3 CHURN_N=1000 RW_N=20000 START_RUNS=10
fi
RESULT=$OUT/supervise.md
for f in "$CMD" "$CHURN" "$RW" "$ALLOW"; do
    [ -x "$f" ] || { echo "supervise.sh: $f is missing (make bench)"; exit 1; }
done
if ! msg=$(timeout 10 "$CMD" run --supervise -- /bin/true 2>&1); then
    echo "supervise.sh: supervision cannot run here: $msg" | tee "$RESULT"
    exit 0
fi
WORK=$OUT/work
mkdir -p "$WORK"
printf 'set connect to 127.0.0.0/8 keepalive=60/10/5 nodelay\n' > "$WORK/sup-connect.conf"
printf 'set connect to 127.0.0.0/8 keepalive=60/10/5 nodelay\nset accept from 127.0.0.0/8 keepalive=60/10/5 nodelay\n' \
    > "$WORK/sup-both.conf"
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
secs() { sed -n 's/.*secs=\([0-9.]*\).*/\1/p'; }
run_row() { # row -> seconds
    case $1 in
    churn_bare) "$CHURN" -n $CHURN_N ;;
    churn_self) "$CHURN" -n $CHURN_N -s both ;;
    churn_connect) "$CMD" run --supervise -c "$WORK/sup-connect.conf" -- "$CHURN" -n $CHURN_N ;;
    churn_both) "$CMD" run --supervise -c "$WORK/sup-both.conf" -- "$CHURN" -n $CHURN_N ;;
    rw_bare) "$RW" -n $RW_N ;;
    rw_sup) "$CMD" run --supervise -c "$WORK/sup-both.conf" -- "$RW" -n $RW_N ;;
    rw_allow) "$ALLOW" "$RW" -n $RW_N ;;
    esac 2> /dev/null | secs
}
ROWS=(churn_bare churn_self churn_connect churn_both rw_bare rw_sup rw_allow)
declare -A T
for ((i = 0; i < ROUNDS; i++)); do
    for ((j = 0; j < ${#ROWS[@]}; j++)); do
        r=${ROWS[$(((i + j) % ${#ROWS[@]}))]}
        v=$(timeout 120 bash -c "$(declare -f run_row secs); CMD=$CMD CHURN=$CHURN RW=$RW ALLOW=$ALLOW WORK=$WORK CHURN_N=$CHURN_N RW_N=$RW_N run_row $r")
        [ -n "$v" ] && T[$r]="${T[$r]:-} $v"
    done
done
med() { printf '%s\n' ${T[$1]:-} | median; }
fastest() { printf '%s\n' ${T[$1]:-} | sort -g | head -1; }
# us added per iteration of churn: row, against row, statistic (med or fastest)
added_us() { awk -v m="$($3 "$1")" -v b="$($3 "$2")" -v n=$CHURN_N 'BEGIN { printf "%+.1f", (m - b) / n * 1e6 }'; }
startup() { # command... -> "median fastest" ms of START_RUNS runs
    python3 - "$START_RUNS" "$@" << 'PY'
import statistics, subprocess, sys, time
n = int(sys.argv[1]); cmd = sys.argv[2:]; t = []
for _ in range(n):
    a = time.perf_counter(); subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); t.append(time.perf_counter() - a)
print("%.3f %.3f" % (statistics.median(t) * 1000, min(t) * 1000))
PY
}
s_bare=$(startup /bin/true)
s_sup=$(startup "$CMD" run --supervise -- /bin/true)
read -r s_bare s_bare_min <<< "$s_bare"
read -r s_sup s_sup_min <<< "$s_sup"
pct() { awk -v m="$1" -v b="$2" 'BEGIN { printf "%+.1f %%", (m / b - 1) * 100 }'; }
{
    echo "### Supervision (sockpolicy run --supervise), wall clock, medians of $ROUNDS interleaved rounds (fastest round in brackets)"
    echo
    echo "| row | median (fastest) | added, median (fastest) |"
    echo "|---|---|---|"
    echo "| churn bare ($CHURN_N connect + accept) | $(med churn_bare) s ($(fastest churn_bare)) | - |"
    echo "| churn setting keepalive+nodelay itself (-s both) | $(med churn_self) s ($(fastest churn_self)) | $(added_us churn_self churn_bare med) ($(added_us churn_self churn_bare fastest)) us per pair: the options' own cost |"
    echo "| churn supervised, options forced on connect | $(med churn_connect) s ($(fastest churn_connect)) | $(added_us churn_connect churn_bare med) ($(added_us churn_connect churn_bare fastest)) us per connect |"
    echo "| churn supervised, options forced on connect and accept | $(med churn_both) s ($(fastest churn_both)) | $(added_us churn_both churn_bare med) ($(added_us churn_both churn_bare fastest)) us per connect + accept pair; $(added_us churn_both churn_self med) ($(added_us churn_both churn_self fastest)) against -s both |"
    echo "| read/write loop ($RW_N round trips), bare | $(med rw_bare) s ($(fastest rw_bare)) | - |"
    echo "| read/write loop, supervised | $(med rw_sup) s ($(fastest rw_sup)) | $(pct "$(med rw_sup)" "$(med rw_bare)") ($(pct "$(fastest rw_sup)" "$(fastest rw_bare)")) |"
    echo "| read/write loop under a 1-instruction allow-all filter (allowall: any filter's cost) | $(med rw_allow) s ($(fastest rw_allow)) | $(pct "$(med rw_allow)" "$(med rw_bare)") ($(pct "$(fastest rw_allow)" "$(fastest rw_bare)")) |"
    echo "| /bin/true, bare ($START_RUNS runs) | $s_bare ms ($s_bare_min) | - |"
    echo "| sockpolicy run --supervise /bin/true | $s_sup ms ($s_sup_min) | $(awk -v m="$s_sup" -v b="$s_bare" 'BEGIN { printf "%+.2f ms", m - b }') ($(awk -v m="$s_sup_min" -v b="$s_bare_min" 'BEGIN { printf "%+.2f", m - b }')) |"
    echo
    echo "Targets (issue 15): at most 15 us added per connect + accept pair; the read/write loop"
    echo "within 2 % of bare; start-up under 5 ms added."
} > "$RESULT"
cat "$RESULT"
