/* canon.h - Python's canonical JSON of a parsed value, the bytes metadata.json's `metadata_sha256`
 * covers: json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
 * .encode("utf-8") (anomaly_log_detector/bundle/manifest.py `canonical_json`).
 *
 * - Object keys sorted as Python sorts str, by code point: the keys are checked to be valid UTF-8 and
 *   free of NUL, and for valid UTF-8 byte-wise strcmp order (unsigned bytes, a prefix first) is
 *   code-point order, since UTF-8 keeps the order of code points and a lead byte gives the length.
 *   A duplicate key is refused (Python's json.loads keeps the last one; refusing is safer).
 * - Strings escaped as Python's encoder does with ensure_ascii=False: \" \\ \n \r \t \b \f, other
 *   bytes below 0x20 as \u00xx (lower-case hex), everything else raw UTF-8 (DEL and U+2028 included).
 *   A string that is not valid UTF-8 or had a lone surrogate escape is refused (Python cannot encode it).
 * - Numbers are written as their original token (json_value.str). ASSUMPTION: the file was written by
 *   Python's json module (bundle/store.py), so each token is Python's repr of the value (1e-05, 0.1,
 *   -0.0, 12345678901234567890), which is also what canonical_json writes. A number written otherwise
 *   (1.0E5, 1e-400, -0) gives other bytes, hence a checksum mismatch: a refusal, never silent trust.
 *   NaN, Infinity and overflowing numbers are refused (allow_nan=False).
 * - true, false, null literal; no whitespace. */
#ifndef ALOG_CANON_H
#define ALOG_CANON_H

#include <stddef.h>

#include "json.h"

/* Receives the canonical bytes piece by piece. */
typedef void (*canon_sink)(void *ctx, const char *data, size_t n);

/* Writes the canonical JSON of `v` to `sink`, leaving out the top-level member `skip` (NULL: none).
 * 0, or -1 with a one-line reason in err (the sink may have received part of the output). */
int canon_write(const json_value *v, const char *skip, canon_sink sink, void *ctx, char *err, size_t errn);
/* The lower-case hex sha256 of that output into hex[65]. 0, or -1 with a reason in err. */
int canon_sha256(const json_value *v, const char *skip, char hex[65], char *err, size_t errn);

#endif
