/* match.h - frozen template matching, exactly docs/template-matching.md ("Frozen matching"). */
#ifndef ALOG_MATCH_H
#define ALOG_MATCH_H

#include <stddef.h>

typedef struct matcher matcher;

/* `delims`: Drain's extra_delimiters (each replaced by a space before splitting), may be NULL. */
matcher *matcher_new(const char *const *delims, size_t ndelims);
/* Adds template `id` (>= 1) with its text; `value` is what a match returns (e.g. a vocab index). */
int matcher_add(matcher *m, long id, const char *text, size_t len, int value);
/* Sorts the templates for matching; call once after the last matcher_add. */
int matcher_finish(matcher *m);
/* The value of the matching template (most non-<*> tokens, then lowest id), or `none`; -2 when out of
 * memory. `*id` (optional) receives its id, or -1. */
int matcher_match(matcher *m, const char *msg, size_t n, int none, long *id);
size_t matcher_size(const matcher *m);
void matcher_free(matcher *m);

#endif
