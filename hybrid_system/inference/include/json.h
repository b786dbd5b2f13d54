/* json.h - a small strict JSON reader (RFC 8259) building a tree; enough for the bundle's files. */
#ifndef ALOG_JSON_H
#define ALOG_JSON_H

#include <stddef.h>

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value {
    json_type type;
    unsigned char boolean;     /* JSON_BOOL */
    unsigned char lossy;       /* JSON_STRING: a lone surrogate escape became U+FFFD; JSON_OBJECT: the same
                                * in one of its keys, or a key holds a NUL (\u0000) that keys[] cuts short */
    double number;
    char *str;                 /* JSON_STRING: UTF-8, NUL-terminated (len excludes it); JSON_NUMBER: the
                                * token exactly as written in the text (e.g. "1e-05"), NUL-terminated */
    size_t len;                /* JSON_STRING/NUMBER: bytes of str; JSON_ARRAY/OBJECT: number of items */
    char **keys;               /* JSON_OBJECT: key of each item (NUL-terminated) */
    struct json_value *items;  /* JSON_ARRAY/OBJECT: the values */
} json_value;

/* Parses `text` (`n` bytes). Returns 0 and fills *out, or -1 with a message in err (size errn). */
int json_parse(const char *text, size_t n, json_value *out, char *err, size_t errn);
void json_free(json_value *v);
/* The member `key` of an object, or NULL (also when `v` is not an object). */
const json_value *json_get(const json_value *v, const char *key);
/* Reads a whole regular file (at most `limit` bytes) into a NUL-terminated buffer; NULL on failure. */
char *read_file(const char *path, size_t limit, size_t *len);

#endif
