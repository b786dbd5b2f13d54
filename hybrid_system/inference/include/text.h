/* text.h - byte-level helpers: line repair as Python's reader does it, JSON escaping, a growable buffer. */
#ifndef ALOG_TEXT_H
#define ALOG_TEXT_H

#include <stddef.h>
#include <stdio.h>

typedef struct {
    char *data;
    size_t len, cap;
} buf_t;

int buf_reserve(buf_t *b, size_t extra);           /* 0, or -1 when out of memory */
int buf_append(buf_t *b, const char *s, size_t n);
int buf_putc(buf_t *b, char c);
void buf_free(buf_t *b);

/* A line as parsing/sources.py makes it: cut to `limit` bytes on a character boundary, NUL bytes and
 * invalid UTF-8 replaced by U+FFFD (maximal-subpart rule, as Python's errors="replace"), cut again
 * when that made it longer. Writes into `out` (reset first). Returns 0, or -1 when out of memory. */
int repair_line(const char *raw, size_t n, size_t limit, buf_t *out);
/* True when the line is empty or only whitespace (ASCII whitespace, U+0085, U+00A0 and the Unicode
 * spaces Arrow's utf8_is_space knows). */
int is_blank(const char *s, size_t n);
/* True when `s` is strict UTF-8 as Python decodes it: no overlong forms, no surrogates, at most U+10FFFF. */
int utf8_valid(const char *s, size_t n);
/* Appends `s` as a JSON string literal (quotes included); valid UTF-8 is copied, control characters
 * escaped. */
int json_escape(buf_t *out, const char *s, size_t n);

#endif
