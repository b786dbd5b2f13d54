/* canon.c - Python's canonical JSON of a parsed value and its sha256 (see canon.h). */
#include "canon.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"
#include "text.h"

typedef struct {
    canon_sink sink;
    void *ctx;
    char *err;
    size_t errn;
} writer;

typedef struct {
    const char *key;
    size_t item;
} member;

static int fail(writer *w, const char *what, const char *key) {
    char shown[64];
    size_t n = 0;
    /* the key shown in the one-line message: at most 60 bytes, control characters as '?' */
    for (; key && key[n] && n < 60; n++) shown[n] = (unsigned char)key[n] < 0x20 ? '?' : key[n];
    shown[n] = '\0';
    if (w->err && w->errn) {
        if (key) snprintf(w->err, w->errn, "not canonical JSON: %s '%s'", what, shown);
        else snprintf(w->err, w->errn, "not canonical JSON: %s", what);
    }
    return -1;
}

/* A string literal as Python's json encoder writes it with ensure_ascii=False. */
static void put_string(writer *w, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;
    w->sink(w->ctx, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t el = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            if (c >= 0x20) continue; /* raw, part of the current run */
            esc[1] = 'u'; esc[2] = '0'; esc[3] = '0'; esc[4] = hex[c >> 4]; esc[5] = hex[c & 15];
            el = 6;
        }
        if (i > run) w->sink(w->ctx, s + run, i - run);
        w->sink(w->ctx, esc, el);
        run = i + 1;
    }
    if (n > run) w->sink(w->ctx, s + run, n - run);
    w->sink(w->ctx, "\"", 1);
}

static int by_key(const void *a, const void *b) {
    return strcmp(((const member *)a)->key, ((const member *)b)->key);
}

static int put_value(writer *w, const json_value *v, const char *skip) {
    switch (v->type) {
    case JSON_NULL: w->sink(w->ctx, "null", 4); return 0;
    case JSON_BOOL: w->sink(w->ctx, v->boolean ? "true" : "false", v->boolean ? 4 : 5); return 0;
    case JSON_NUMBER:
        if (!v->str || !v->len) return fail(w, "a number without its text", NULL);
        if (!isfinite(v->number)) return fail(w, "NaN or infinite number", v->str);
        w->sink(w->ctx, v->str, v->len);
        return 0;
    case JSON_STRING:
        if (v->lossy) return fail(w, "a string holds a lone surrogate (\\ud800-\\udfff)", NULL);
        if (!utf8_valid(v->str, v->len)) return fail(w, "a string is not valid UTF-8", NULL);
        put_string(w, v->str, v->len);
        return 0;
    case JSON_ARRAY:
        w->sink(w->ctx, "[", 1);
        for (size_t i = 0; i < v->len; i++) {
            if (i) w->sink(w->ctx, ",", 1);
            if (put_value(w, &v->items[i], NULL)) return -1;
        }
        w->sink(w->ctx, "]", 1);
        return 0;
    case JSON_OBJECT: break;
    default: return fail(w, "unknown value type", NULL);
    }
    if (v->lossy) return fail(w, "an object key holds a NUL (\\u0000) or a lone surrogate", NULL);
    member *m = malloc((v->len ? v->len : 1) * sizeof *m);
    if (!m) return fail(w, "out of memory", NULL);
    for (size_t i = 0; i < v->len; i++) {
        m[i].key = v->keys[i];
        m[i].item = i;
        if (!utf8_valid(m[i].key, strlen(m[i].key))) {
            free(m);
            return fail(w, "a key is not valid UTF-8", NULL);
        }
    }
    qsort(m, v->len, sizeof *m, by_key);
    for (size_t i = 1; i < v->len; i++)
        if (!strcmp(m[i - 1].key, m[i].key)) {
            int r = fail(w, "duplicate key", m[i].key);
            free(m);
            return r;
        }
    int first = 1, rc = 0;
    w->sink(w->ctx, "{", 1);
    for (size_t i = 0; i < v->len && !rc; i++) {
        if (skip && !strcmp(m[i].key, skip)) continue;
        if (!first) w->sink(w->ctx, ",", 1);
        first = 0;
        put_string(w, m[i].key, strlen(m[i].key));
        w->sink(w->ctx, ":", 1);
        rc = put_value(w, &v->items[m[i].item], NULL);
    }
    free(m);
    if (!rc) w->sink(w->ctx, "}", 1);
    return rc;
}

int canon_write(const json_value *v, const char *skip, canon_sink sink, void *ctx, char *err, size_t errn) {
    writer w = {sink, ctx, err, errn};
    return put_value(&w, v, skip);
}

static void hash_sink(void *ctx, const char *data, size_t n) { sha256_update(ctx, data, n); }

int canon_sha256(const json_value *v, const char *skip, char hex[65], char *err, size_t errn) {
    static const char digits[] = "0123456789abcdef";
    sha256_ctx c;
    unsigned char d[32];
    sha256_init(&c);
    if (canon_write(v, skip, hash_sink, &c, err, errn)) return -1;
    sha256_final(&c, d);
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[64] = '\0';
    return 0;
}
