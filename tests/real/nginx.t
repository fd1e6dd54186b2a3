#!/usr/bin/env bash
# nginx serving a file on a loopback port, loaded by wrk with `Connection: close` for a
# bounded time; bare, then with the shim in both (keepalive and nodelay forced on every TCP
# connect and accept). Zero errors, a request count within noise of the bare run, and the
# forced options seen from outside: ss shows the keepalive timer on live sockets of both
# sides, and strace shows the shim's setsockopt(TCP_NODELAY) in an nginx told `tcp_nodelay
# off` (the bare nginx, traced the same way, sets neither option).
. "$(dirname "$0")/lib.sh"
plan 9
SECS=${WRK_SECONDS:-5}
NGINX=/usr/sbin/nginx

if [ ! -x "$NGINX" ] || ! command -v wrk >/dev/null; then
    for i in $(seq 9); do skip "nginx or wrk not installed (.ci/packages lists nginx-light, wrk)"; done
    finish
fi

T=$REAL_TMP/nginx
mkdir -p "$T/html" "$T/tmp"
chmod 755 "$REAL_TMP" "$T" "$T/html"
head -c 4096 /dev/urandom | base64 >"$T/html/index.html"
PORT=$(free_port)
cat >"$T/nginx.conf" <<CONF
daemon off;
master_process on;
worker_processes 1;
user root;
pid $T/nginx.pid;
error_log $T/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $T/tmp;
    proxy_temp_path $T/tmp;
    fastcgi_temp_path $T/tmp;
    uwsgi_temp_path $T/tmp;
    scgi_temp_path $T/tmp;
    tcp_nodelay off;
    server { listen 127.0.0.1:$PORT; root $T/html; }
}
CONF

NGINX_PID=
start_nginx() { # start_nginx [prefix command...]
    "$@" "$NGINX" -e "$T/error.log" -p "$T" -c "$T/nginx.conf" >>"$T/stdout" 2>&1 &
    NGINX_PID=$!
    CLEAN_PIDS+=("$NGINX_PID")
    wait_port "$PORT" 10
}
stop_nginx() { # the master by its pid file: NGINX_PID may be strace's
    local m
    m=$(cat "$T/nginx.pid" 2>/dev/null)
    [ -n "$m" ] && kill -QUIT "$m" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.05; done
    kill "$NGINX_PID" 2>/dev/null
    wait "$NGINX_PID" 2>/dev/null
    rm -f "$T/nginx.pid"
}

# wrk_run NAME [prefix...]: wrk's output in $T/NAME.wrk; ss samples in $T/NAME.ss
wrk_run() {
    local name=$1
    shift
    "$@" timeout $((SECS + 20)) wrk -t2 -c32 -d"${SECS}s" -H 'Connection: close' \
        "http://127.0.0.1:$PORT/index.html" >"$T/$name.wrk" 2>&1 &
    local w=$!
    : >"$T/$name.ss"
    for _ in 1 2 3; do
        sleep 1
        ss -Htnoi state established "( sport = :$PORT or dport = :$PORT )" >>"$T/$name.ss" 2>&1
    done
    wait $w
    sed 's/^/#   /' "$T/$name.wrk"
}
requests() { sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$T/$1.wrk"; }
errors() { # socket errors + non-2xx; 0 when wrk reported none
    local e n
    e=$(sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1+\2+\3+\4/p' "$T/$1.wrk")
    n=$(sed -n 's/.*Non-2xx or 3xx responses: \([0-9]*\).*/\1/p' "$T/$1.wrk")
    echo $((${e:-0} + ${n:-0}))
}

start_nginx
wrk_run bare
stop_nginx
rb=$(requests bare)
[ "${rb:-0}" -gt 0 ] && [ "$(errors bare)" = 0 ]
ok $? "bare: ${rb:-0} requests in ${SECS} s, $(errors bare) errors"

# strace of a bare nginx: it sets neither option itself (tcp_nodelay off), so what the
# shim run shows below is the shim's doing.
if command -v strace >/dev/null; then
    start_nginx strace -f -qq -e trace=setsockopt -o "$T/bare.strace"
    curl -s -o /dev/null "http://127.0.0.1:$PORT/index.html"
    stop_nginx
    ! grep -Eq 'TCP_NODELAY, \[1\]|SO_KEEPALIVE, \[1\]' "$T/bare.strace"
    ok $? "bare nginx sets neither TCP_NODELAY nor SO_KEEPALIVE (strace)"
else
    skip "strace not installed"
fi

why=$(shim_missing)
if [ -n "$why" ]; then
    for i in $(seq 7); do skip "under the shim: $why"; done
    finish
fi

# shellcheck disable=SC2046
start_nginx env $(shim_env)
ok $? "nginx starts and listens under the shim"
wrk_run shim env $(shim_env)
stop_nginx
rs=$(requests shim)
[ "${rs:-0}" -gt 0 ] && [ "$(errors shim)" = 0 ]
ok $? "under the shim: ${rs:-0} requests in ${SECS} s, $(errors shim) errors"
# Within noise: the machine is shared (2 cores), so half the bare rate is the floor.
[ "${rs:-0}" -ge $((rb / 2)) ]
ok $? "request count within noise of the bare run (shim $rs, bare $rb: $((100 * ${rs:-0} / (rb > 0 ? rb : 1)))%)"
grep -q "timer:(keepalive" "$T/shim.ss"
ok $? "ss: keepalive timer on live sockets under the shim ($(grep -c 'timer:(keepalive' "$T/shim.ss") of $(wc -l <"$T/shim.ss") sampled sockets)"
grep -q "timer:(keepalive" "$T/bare.ss"
[ $? != 0 ]
ok $? "ss: no keepalive timer on the bare run's sockets"

if command -v strace >/dev/null; then
    start_nginx strace -f -qq -e trace=setsockopt -o "$T/shim.strace" env \
        LD_PRELOAD="$(shim_preload)" SOCKPOLICY_CONF="$POLICY" SOCKPOLICY_LOG="$SHIM_LOG"
    curl -s -o /dev/null "http://127.0.0.1:$PORT/index.html"
    stop_nginx
    grep -q 'TCP_NODELAY, \[1\]' "$T/shim.strace" && grep -q 'SO_KEEPALIVE, \[1\]' "$T/shim.strace"
    ok $? "strace: the shim set TCP_NODELAY and SO_KEEPALIVE on nginx's accepted socket"
    grep -E 'TCP_NODELAY|SO_KEEPALIVE|TCP_KEEP' "$T/shim.strace" | head -5 | sed 's/^/#   /'
else
    skip "strace not installed"
fi
! policy_load_failed
ok $? "the shim loaded the policy in nginx and wrk"
finish
