/* diag/diag_format_int.h: what the text (diag_format.c) and JSON (diag_json.c) formats share. */
#ifndef SOCKPOLICY_DIAG_FORMAT_INT_H
#define SOCKPOLICY_DIAG_FORMAT_INT_H

/* Input bytes kept of the unbounded strings; the worst case of everything at its limit and
 * every byte escaped still fits SP_DIAG_LINE_MAX once the level-1 fallback drops rule text
 * and note. */
#define MAX_PROG 16
#define MAX_PATH 110
#define MAX_RULE_FILE 128
#define MAX_RULE_TEXT 300
#define MAX_NOTE 200
#define MAX_MESSAGE 600 /* a shim_log message (text: escaped, at most 4 bytes each) */

#endif
