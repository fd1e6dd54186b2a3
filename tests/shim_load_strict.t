#!/usr/bin/env bash
# Issue 13: `strict` of a policy that fails to load is decided by the parser (a `strict` or
# `strict on` line it read, in any file it got to), no longer by scanning the first 8 KiB of
# the top file for a line starting "strict" (which took `strict off` for strict and missed a
# `strict` after a long comment or in an include).
. "$(dirname "$0")/shim_lib.sh"
if ! have_shim; then skip "no $SHIM"; done_testing; exit; fi
command -v python3 > /dev/null || { skip "no python3"; done_testing; exit; }
P=$PROGS/load_probe

loopback_listener 30

# probe NAME: connect under $TMP/NAME.conf (which fails to load); prints the outcome and keeps
# the log in $TMP/NAME.log.
probe() { SOCKPOLICY_CONF=$TMP/$1.conf SOCKPOLICY_LOG=$TMP/$1.log LD_PRELOAD=$PRELOAD timeout 20 "$P" connect "$port" 2> /dev/null; }

printf 'strict off\nthis is not a rule\n' > "$TMP/off.conf"
like "$(probe off)" '^connect=0$' "'strict off' in a broken policy is not strict: the connect passes (it was denied)"
like "$(cat "$TMP/off.log")" 'running without a policy' "and the log says so"

{ for i in $(seq 200); do printf '# a long comment, line %s, to pass the first 8 KiB of the file\n' "$i"; done
  printf 'strict\nthis is not a rule\n'; } > "$TMP/late.conf"
[ "$(stat -c %s "$TMP/late.conf")" -gt 8192 ]; ok $? "the 'strict' line comes after 8 KiB"
like "$(probe late)" '^connect=EACCES$' "'strict' after a long comment: denied (it passed)"
like "$(cat "$TMP/late.log")" 'strict: every socket call is denied' "and the log says strict"

printf 'strict\n' > "$TMP/inc.conf"
printf 'include inc.conf\nthis is not a rule\n' > "$TMP/viainc.conf"
like "$(probe viainc)" '^connect=EACCES$' "'strict' in an included file: denied (it passed)"

printf 'strict on\nthis is not a rule\n' > "$TMP/on.conf"
like "$(probe on)" '^connect=EACCES$' "'strict on' in a broken policy: denied"

printf '# strict\n#strict\nstricter things\n' > "$TMP/comment.conf"
like "$(probe comment)" '^connect=0$' "'strict' in comments, or as part of another word, is not strict"
done_testing
