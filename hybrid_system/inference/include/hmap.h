/* hmap.h - open-addressing hash map from byte strings to a long value (keys are copied). */
#ifndef ALOG_HMAP_H
#define ALOG_HMAP_H

#include <stddef.h>

typedef struct {
    char **keys;
    size_t *klen;
    long *vals;
    size_t cap, count;
} hmap;

/* The value of key, or `missing`. */
long hmap_get(const hmap *m, const void *key, size_t n, long missing);
/* Sets key -> val (inserting a copy of the key). 0, or -1 when out of memory. */
int hmap_put(hmap *m, const void *key, size_t n, long val);
void hmap_clear(hmap *m);
void hmap_free(hmap *m);

#endif
