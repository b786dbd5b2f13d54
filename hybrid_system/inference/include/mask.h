/* mask.h - masking rules (rules.json) applied in order with PCRE2, as parsing/masking.py does. */
#ifndef ALOG_MASK_H
#define ALOG_MASK_H

#include <stddef.h>

#include "json.h"
#include "text.h"

typedef struct masker masker;

/* Builds a masker from the JSON value of a rules file (a list of {name, group, pattern, mask}).
 * NULL with a message in err when a rule is malformed or does not compile. */
masker *masker_new(const json_value *rules, char *err, size_t errn);
/* Masks `s` (`n` bytes) into `out` (reset first). 0, or -1 (out of memory). A rule that fails on a
 * line (PCRE2 match limit) leaves the rest of that line unchanged by that rule and is counted. */
int masker_apply(masker *m, const char *s, size_t n, buf_t *out);
size_t masker_rules(const masker *m);
size_t masker_failures(const masker *m);
void masker_free(masker *m);

#endif
