/* json.c - strict recursive-descent JSON parser (depth-limited), see json.h. */
#include "json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_DEPTH 64

typedef struct {
    const char *s;
    size_t n, i;
    char *err;
    size_t errn;
} parser;

static int fail(parser *p, const char *msg) {
    if (p->err && p->errn) snprintf(p->err, p->errn, "JSON error at byte %zu: %s", p->i, msg);
    return -1;
}

static void skip_ws(parser *p) {
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

static int grow(void **buf, size_t *cap, size_t need, size_t item) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap * 2 : 8;
    while (c < need) c *= 2;
    void *nb = realloc(*buf, c * item);
    if (!nb) return -1;
    *buf = nb;
    *cap = c;
    return 0;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int read_u4(parser *p, unsigned *u) {
    if (p->i + 4 > p->n) return fail(p, "short \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(p->s[p->i + k]);
        if (h < 0) return fail(p, "bad \\u escape");
        v = v * 16 + (unsigned)h;
    }
    p->i += 4;
    *u = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F)); return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F)); return 4;
}

/* *lossy is set when a lone surrogate escape had to become U+FFFD. */
static int parse_string(parser *p, char **out, size_t *outlen, unsigned char *lossy) {
    /* p->s[p->i] == '"' */
    p->i++;
    size_t start = p->i, cap = 16, len = 0;
    (void)start;
    char *o = malloc(cap);
    if (!o) return fail(p, "out of memory");
    for (;;) {
        if (p->i >= p->n) { free(o); return fail(p, "unterminated string"); }
        unsigned char c = (unsigned char)p->s[p->i];
        if (len + 5 > cap) {
            cap *= 2;
            char *no = realloc(o, cap);
            if (!no) { free(o); return fail(p, "out of memory"); }
            o = no;
        }
        if (c == '"') { p->i++; break; }
        if (c < 0x20) { free(o); return fail(p, "control character in string"); }
        if (c != '\\') { o[len++] = (char)c; p->i++; continue; }
        p->i++;
        if (p->i >= p->n) { free(o); return fail(p, "bad escape"); }
        char e = p->s[p->i++];
        switch (e) {
        case '"': o[len++] = '"'; break;
        case '\\': o[len++] = '\\'; break;
        case '/': o[len++] = '/'; break;
        case 'b': o[len++] = '\b'; break;
        case 'f': o[len++] = '\f'; break;
        case 'n': o[len++] = '\n'; break;
        case 'r': o[len++] = '\r'; break;
        case 't': o[len++] = '\t'; break;
        case 'u': {
            unsigned u;
            if (read_u4(p, &u)) { free(o); return -1; }
            if (u >= 0xD800 && u < 0xDC00 && p->i + 6 <= p->n && p->s[p->i] == '\\' && p->s[p->i + 1] == 'u') {
                size_t save = p->i;
                unsigned lo;
                p->i += 2;
                if (read_u4(p, &lo)) { free(o); return -1; }
                if (lo >= 0xDC00 && lo < 0xE000) u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                else { p->i = save; u = 0xFFFD; *lossy = 1; }
            } else if (u >= 0xD800 && u < 0xE000) {
                u = 0xFFFD; /* lone surrogate: Python would keep it; it cannot be UTF-8 */
                *lossy = 1;
            }
            len += put_utf8(o + len, u);
            break;
        }
        default: free(o); return fail(p, "bad escape");
        }
    }
    o[len] = '\0';
    *out = o;
    *outlen = len;
    return 0;
}

static int parse_value(parser *p, json_value *v, int depth);

/* A number: its `n`-byte token at p->i kept as written (canon.c re-serialises it from that text). */
static int number_token(parser *p, json_value *v, size_t n) {
    if (!(v->str = malloc(n + 1))) return fail(p, "out of memory");
    memcpy(v->str, p->s + p->i, n);
    v->str[n] = '\0';
    v->len = n;
    v->type = JSON_NUMBER;
    p->i += n;
    return 0;
}

static int parse_container(parser *p, json_value *v, int depth, int object) {
    size_t cap = 0, kcap = 0;
    p->i++;
    v->type = object ? JSON_OBJECT : JSON_ARRAY;
    skip_ws(p);
    char close = object ? '}' : ']';
    if (p->i < p->n && p->s[p->i] == close) { p->i++; return 0; }
    for (;;) {
        skip_ws(p);
        if (grow((void **)&v->items, &cap, v->len + 1, sizeof(json_value))) return fail(p, "out of memory");
        if (object) {
            if (grow((void **)&v->keys, &kcap, v->len + 1, sizeof(char *))) return fail(p, "out of memory");
            if (p->i >= p->n || p->s[p->i] != '"') return fail(p, "expected a key");
            size_t kl;
            if (parse_string(p, &v->keys[v->len], &kl, &v->lossy)) return -1;
            if (strlen(v->keys[v->len]) != kl) v->lossy = 1;
            skip_ws(p);
            if (p->i >= p->n || p->s[p->i] != ':') { free(v->keys[v->len]); return fail(p, "expected ':'"); }
            p->i++;
        }
        memset(&v->items[v->len], 0, sizeof(json_value));
        if (parse_value(p, &v->items[v->len], depth + 1)) {
            json_free(&v->items[v->len]);
            if (object) free(v->keys[v->len]);
            return -1;
        }
        v->len++;
        skip_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') { p->i++; continue; }
        if (p->i < p->n && p->s[p->i] == close) { p->i++; return 0; }
        return fail(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int parse_value(parser *p, json_value *v, int depth) {
    if (depth > MAX_DEPTH) return fail(p, "nested too deeply");
    skip_ws(p);
    if (p->i >= p->n) return fail(p, "unexpected end");
    char c = p->s[p->i];
    if (c == '{' || c == '[') return parse_container(p, v, depth, c == '{');
    if (c == '"') { v->type = JSON_STRING; return parse_string(p, &v->str, &v->len, &v->lossy); }
    if (p->n - p->i >= 4 && !memcmp(p->s + p->i, "null", 4)) { v->type = JSON_NULL; p->i += 4; return 0; }
    if (p->n - p->i >= 4 && !memcmp(p->s + p->i, "true", 4)) { v->type = JSON_BOOL; v->boolean = 1; p->i += 4; return 0; }
    if (p->n - p->i >= 5 && !memcmp(p->s + p->i, "false", 5)) { v->type = JSON_BOOL; p->i += 5; return 0; }
    if (c == '-' || (c >= '0' && c <= '9')) {
        size_t j = p->i;
        if (p->s[j] == '-') j++;
        size_t digits = j;
        while (j < p->n && p->s[j] >= '0' && p->s[j] <= '9') j++;
        if (j == digits) return fail(p, "bad number");
        if (j < p->n && p->s[j] == '.') {
            j++;
            size_t f = j;
            while (j < p->n && p->s[j] >= '0' && p->s[j] <= '9') j++;
            if (j == f) return fail(p, "bad number");
        }
        if (j < p->n && (p->s[j] == 'e' || p->s[j] == 'E')) {
            j++;
            if (j < p->n && (p->s[j] == '+' || p->s[j] == '-')) j++;
            size_t f = j;
            while (j < p->n && p->s[j] >= '0' && p->s[j] <= '9') j++;
            if (j == f) return fail(p, "bad number");
        }
        size_t len = j - p->i;
        if (len >= 64) return fail(p, "number too long");
        if (number_token(p, v, len)) return -1;
        v->number = strtod(v->str, NULL);
        return 0;
    }
    /* Python writes NaN / Infinity for non-finite floats. */
    if (p->n - p->i >= 3 && !memcmp(p->s + p->i, "NaN", 3)) {
        if (number_token(p, v, 3)) return -1;
        v->number = 0.0 / 0.0;
        return 0;
    }
    if (p->n - p->i >= 8 && !memcmp(p->s + p->i, "Infinity", 8)) {
        if (number_token(p, v, 8)) return -1;
        v->number = 1.0 / 0.0;
        return 0;
    }
    return fail(p, "unexpected character");
}

int json_parse(const char *text, size_t n, json_value *out, char *err, size_t errn) {
    parser p = {text, n, 0, err, errn};
    memset(out, 0, sizeof *out);
    if (parse_value(&p, out, 0)) { json_free(out); memset(out, 0, sizeof *out); return -1; }
    skip_ws(&p);
    if (p.i != n) { json_free(out); memset(out, 0, sizeof *out); return fail(&p, "trailing data"); }
    return 0;
}

void json_free(json_value *v) {
    if (!v) return;
    if (v->type == JSON_STRING || v->type == JSON_NUMBER) free(v->str);
    if (v->type == JSON_ARRAY || v->type == JSON_OBJECT) {
        for (size_t k = 0; k < v->len; k++) {
            json_free(&v->items[k]);
            if (v->keys) free(v->keys[k]);
        }
        free(v->items);
        free(v->keys);
    }
    memset(v, 0, sizeof *v);
}

const json_value *json_get(const json_value *v, const char *key) {
    if (!v || v->type != JSON_OBJECT) return NULL;
    for (size_t k = 0; k < v->len; k++)
        if (!strcmp(v->keys[k], key)) return &v->items[k];
    return NULL;
}

char *read_file(const char *path, size_t limit, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    struct stat st;
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode) || (size_t)st.st_size > limit) { fclose(f); return NULL; }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) { fclose(f); return NULL; }
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    if (got != n) { free(buf); return NULL; }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}
