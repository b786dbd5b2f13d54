/* hmap.c - FNV-1a hashed, linear probing, load factor <= 1/2. */
#include "hmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t fnv(const void *key, size_t n) {
    const unsigned char *p = key;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= 1099511628211ULL; }
    return h ^ (h >> 29);
}

static size_t slot(const hmap *m, const void *key, size_t n) {
    size_t i = (size_t)fnv(key, n) & (m->cap - 1);
    while (m->keys[i] && (m->klen[i] != n || memcmp(m->keys[i], key, n))) i = (i + 1) & (m->cap - 1);
    return i;
}

long hmap_get(const hmap *m, const void *key, size_t n, long missing) {
    if (!m->cap) return missing;
    size_t i = slot(m, key, n);
    return m->keys[i] ? m->vals[i] : missing;
}

static int grow(hmap *m) {
    size_t nc = m->cap ? m->cap * 2 : 64;
    hmap t = {calloc(nc, sizeof(char *)), calloc(nc, sizeof(size_t)), calloc(nc, sizeof(long)), nc, 0};
    if (!t.keys || !t.klen || !t.vals) { free(t.keys); free(t.klen); free(t.vals); return -1; }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        size_t j = slot(&t, m->keys[i], m->klen[i]);
        t.keys[j] = m->keys[i];
        t.klen[j] = m->klen[i];
        t.vals[j] = m->vals[i];
        t.count++;
    }
    free(m->keys); free(m->klen); free(m->vals);
    *m = t;
    return 0;
}

int hmap_put(hmap *m, const void *key, size_t n, long val) {
    if (2 * (m->count + 1) > m->cap && grow(m)) return -1;
    size_t i = slot(m, key, n);
    if (m->keys[i]) { m->vals[i] = val; return 0; }
    char *k = malloc(n ? n : 1);
    if (!k) return -1;
    if (n) memcpy(k, key, n);
    m->keys[i] = k;
    m->klen[i] = n;
    m->vals[i] = val;
    m->count++;
    return 0;
}

void hmap_clear(hmap *m) {
    for (size_t i = 0; i < m->cap; i++) { free(m->keys[i]); m->keys[i] = NULL; }
    m->count = 0;
}

void hmap_free(hmap *m) {
    hmap_clear(m);
    free(m->keys); free(m->klen); free(m->vals);
    memset(m, 0, sizeof *m);
}
