#!/usr/bin/env bash
# tests/diag_json.t: the JSON log format parses with `python3 -m json.tool`, line by line,
# including events whose names and AF_UNIX paths hold every byte value; every event object
# carries the documented fields (docs/log-format.md).
SP_BUILD=${SP_BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
TMP=$(mktemp -d /tmp/sp_diag_json.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
echo "1..4"
gen=$SP_BUILD/tests/diag_format
if [ ! -x "$gen" ]; then
    for i in 1 2 3 4; do echo "ok $i # SKIP $gen not built"; done
    exit 0
fi
"$gen" --json-out "$TMP/events.json"
r=$?
[ $r = 0 ] && [ -s "$TMP/events.json" ] && echo "ok 1 - wrote $(wc -l < "$TMP/events.json") events" \
    || echo "not ok 1 - writing events failed ($r)"
if python3 -m json.tool --json-lines "$TMP/events.json" > "$TMP/pretty" 2> "$TMP/err"; then
    echo "ok 2 - python3 -m json.tool --json-lines parses every line"
else
    echo "not ok 2 - json.tool failed"; sed 's/^/# /' "$TMP/err"
fi
python3 - "$TMP/events.json" > "$TMP/out" 2>&1 <<'PY'
import json, sys
fields = ["time", "event", "pid", "prog", "fd", "op", "errno", "errno_name", "result", "family",
          "type", "local_addr", "local_port", "remote_addr", "remote_port", "explanation",
          "duration_ns", "phase", "nonblocking", "tcp_state", "rule", "options", "note"]
bad = 0
for n, line in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
    o = json.loads(line)
    want = fields if o["event"] == "call" else ["time", "event", "pid", "prog", "suppressed"]
    if list(o.keys()) != want:
        print("line", n, "keys", list(o.keys())); bad += 1
sys.exit(1 if bad else 0)
PY
[ $? = 0 ] && echo "ok 3 - every object has the documented fields, in the documented order" \
    || { echo "not ok 3 - fields differ"; sed 's/^/# /' "$TMP/out"; }
# The path bytes come back: event 2 (c = 0) is an abstract name of bytes 1..99 after '@'.
python3 - "$TMP/events.json" <<'PY' > "$TMP/out2" 2>&1
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
o = json.loads(lines[1])
want = "@" + "".join(chr(i) for i in range(1, 100)) + "\0" * 8  # 108-byte name
sys.exit(0 if o["remote_addr"] == want else 1)
PY
[ $? = 0 ] && echo "ok 4 - an abstract AF_UNIX name of control bytes round-trips exactly" \
    || { echo "not ok 4 - path did not round-trip"; sed 's/^/# /' "$TMP/out2"; }
