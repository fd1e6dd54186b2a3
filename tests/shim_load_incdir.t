#!/usr/bin/env bash
# Issue 13: an included directory that is removed and restored (configuration management does
# this) used to lose its rules for good, and a process started while it was missing never
# picked it up. The loader now records a missing include directory, so a reload sees it come
# back.
. "$(dirname "$0")/shim_lib.sh"
if ! have_shim; then skip "no $SHIM"; done_testing; exit; fi
command -v python3 > /dev/null || { skip "no python3"; done_testing; exit; }
P=$PROGS/load_probe

loopback_listener 60
last() { tail -1 "$1" | sed 's/.* r=//'; }

# 1. Removed, then restored, while the process runs.
mkdir -p "$TMP/one/conf.d"
printf 'include conf.d/*.conf\n' > "$TMP/one/top.conf"
printf 'deny connect to 127.0.0.1 port %s\n' "$port" > "$TMP/one/conf.d/deny.conf"
SOCKPOLICY_CONF=$TMP/one/top.conf LD_PRELOAD=$PRELOAD timeout 30 "$P" timeline "$port" 8000 > "$TMP/tl1" 2> /dev/null &
pid=$!
sleep 0.5
is "$(last "$TMP/tl1")" EACCES "the included directory's rule denies"
mv "$TMP/one/conf.d" "$TMP/one/conf.d.away"
sleep 3
is "$(last "$TMP/tl1")" 0 "the directory removed: its rule is gone"
mv "$TMP/one/conf.d.away" "$TMP/one/conf.d"
sleep 3
is "$(last "$TMP/tl1")" EACCES "restored: its rule is back within 3 s (never, before)"
wait $pid

# 2. Missing when the process starts, made later.
mkdir -p "$TMP/two"
printf 'include conf.d/*.conf\n' > "$TMP/two/top.conf"
SOCKPOLICY_CONF=$TMP/two/top.conf LD_PRELOAD=$PRELOAD timeout 30 "$P" timeline "$port" 5000 > "$TMP/tl2" 2> /dev/null &
pid=$!
sleep 0.5
is "$(last "$TMP/tl2")" 0 "started without the include directory: nothing denied"
mkdir "$TMP/two/conf.d.new"
printf 'deny connect to 127.0.0.1 port %s\n' "$port" > "$TMP/two/conf.d.new/deny.conf"
mv "$TMP/two/conf.d.new" "$TMP/two/conf.d"
sleep 3
is "$(last "$TMP/tl2")" EACCES "the directory made later: its rule applies within 3 s (never, before)"
wait $pid

# 3. A compiled policy of a file whose include directory is missing stays usable.
mkdir -p "$TMP/three"
printf 'include conf.d/*.conf\ndeny connect to 127.0.0.1 port %s\n' "$port" > "$TMP/three/top.conf"
"$SP_BUILD/sockpolicy" compile -q "$TMP/three/top.conf" > /dev/null 2>&1
out=$(SOCKPOLICY_CONF=$TMP/three/top.conf SOCKPOLICY_LOG=$TMP/three.log LD_PRELOAD=$PRELOAD timeout 20 "$P" connect "$port" 2> /dev/null)
like "$out" '^connect=EACCES$' "a compiled policy with a missing include directory loads and denies"
done_testing
