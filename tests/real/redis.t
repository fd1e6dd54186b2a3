#!/usr/bin/env bash
# redis-server (Debian's, whose allocator is jemalloc) loaded by redis-benchmark, bare and
# with the shim in both: once with keep-alive connections and once reconnecting for every
# request (-k 0: a connect and an accept per request). All requests served, none failed, the
# rate within noise of the bare run, and the forced keepalive seen by ss on the server's
# accepted socket (redis is told `tcp-keepalive 0`, so bare it has no keepalive timer).
. "$(dirname "$0")/lib.sh"
plan 8
N=${REDIS_REQUESTS:-20000}

if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
    for i in $(seq 8); do skip "redis-server or redis-benchmark not installed (.ci/packages lists them)"; done
    finish
fi
T=$REAL_TMP/redis
mkdir -p "$T"
PORT=$(free_port)
RPID=
start_redis() {
    "$@" redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --tcp-keepalive 0 --daemonize no --dir "$T" --logfile "$T/redis.log" &
    RPID=$!
    CLEAN_PIDS+=("$RPID")
    wait_port "$PORT" 10
}
stop_redis() {
    kill "$RPID" 2>/dev/null
    wait "$RPID" 2>/dev/null
}
# bench NAME KEEPALIVE [prefix...]: "requests-per-second" of SET and GET, and failures.
bench() {
    local name=$1 k=$2
    shift 2
    "$@" timeout 120 redis-benchmark -h 127.0.0.1 -p "$PORT" -n "$N" -c 20 -k "$k" -t set,get \
        --csv >"$T/$name.csv" 2>"$T/$name.err"
    echo $? >"$T/$name.rc"
}
# total rate: sum of the SET and GET rps columns
rate() { awk -F'"' '/^"(SET|GET)"/ { s += $4 } END { printf "%d", s }' "$T/$1.csv"; }
clean() { # exit 0, both tests reported, nothing on stderr but the shim's own lines
    [ "$(cat "$T/$1.rc")" = 0 ] && [ "$(grep -c '^"\(SET\|GET\)"' "$T/$1.csv")" = 2 ] &&
        ! grep -v '^sockpolicy\[\|^WARNING: Keepalive disabled' "$T/$1.err" | grep -q .
}
# held_keepalive: a bare client holds a connection while ss looks at the server's end.
held_keepalive() {
    "$PY" -c 'import socket,sys,time; s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); time.sleep(1.5)' "$PORT" &
    local h=$!
    sleep 0.7
    ss -Htnoi state established "( sport = :$PORT )" >"$T/held.ss"
    wait $h
    sed 's/^/#   /' "$T/held.ss"
    grep -q 'timer:(keepalive' "$T/held.ss"
}

start_redis
bench bare-k1 1
bench bare-k0 0
held_keepalive
bare_ka=$?
stop_redis
clean bare-k1 && clean bare-k0
ok $? "bare: $N SET + $N GET twice; $(rate bare-k1) req/s keep-alive, $(rate bare-k0) req/s reconnecting"
[ "$bare_ka" != 0 ]
ok $? "bare: no keepalive timer on redis's accepted socket (tcp-keepalive 0)"

why=$(shim_missing)
if [ -n "$why" ]; then
    for i in $(seq 6); do skip "under the shim: $why"; done
    finish
fi
# shellcheck disable=SC2046
start_redis env $(shim_env)
ok $? "redis-server starts and listens under the shim"
bench shim-k1 1 under_shim
bench shim-k0 0 under_shim
held_keepalive
ok $? "ss: the shim's forced keepalive timer on redis's accepted socket"
stop_redis
clean shim-k1 && clean shim-k0
ok $? "under the shim: $N SET + $N GET twice; $(rate shim-k1) req/s keep-alive, $(rate shim-k0) req/s reconnecting"
for k in k1 k0; do
    b=$(rate bare-$k)
    s=$(rate shim-$k)
    [ "${s:-0}" -ge $((${b:-0} / 2)) ]
    ok $? "$k: rate within noise of the bare run (shim $s, bare $b: $((100 * ${s:-0} / (${b:-0} > 0 ? b : 1)))%)"
done
! policy_load_failed
ok $? "the shim loaded the policy in redis-server and redis-benchmark"
finish
