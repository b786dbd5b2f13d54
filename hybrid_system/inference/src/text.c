/* text.c - line repair (UTF-8, NUL, length), blank test, JSON escaping. */
#include "text.h"

#include <stdlib.h>
#include <string.h>

int buf_reserve(buf_t *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return 0;
    size_t c = b->cap ? b->cap : 64;
    while (c < b->len + extra + 1) {
        if (c > ((size_t)-1) / 2) return -1;
        c *= 2;
    }
    char *nd = realloc(b->data, c);
    if (!nd) return -1;
    b->data = nd;
    b->cap = c;
    return 0;
}

int buf_append(buf_t *b, const char *s, size_t n) {
    if (buf_reserve(b, n)) return -1;
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int buf_putc(buf_t *b, char c) { return buf_append(b, &c, 1); }

void buf_free(buf_t *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* sources._cut: the first `limit` bytes minus a multi-byte character the cut split. */
static size_t cut_len(const unsigned char *s, size_t n, size_t limit) {
    if (n <= limit) return n;
    n = limit;
    for (size_t back = 1; back <= (n < 4 ? n : 4); back++) {
        unsigned char byte = s[n - back];
        if ((byte & 0xC0) != 0x80) {
            size_t need = byte < 0xC0 ? 1 : byte < 0xE0 ? 2 : byte < 0xF0 ? 3 : 4;
            return back < need ? n - back : n;
        }
    }
    return n;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 with *bad = bytes of its maximal subpart. */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *bad) {
    unsigned char c = s[0];
    *bad = 1;
    if (c < 0x80) return 1;
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return 0;
    for (size_t k = 1; k < need; k++) {
        if (k >= n) { *bad = k; return 0; }
        unsigned char d = s[k];
        unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
        if (d < l || d > h) { *bad = k; return 0; }
    }
    return need;
}

int utf8_valid(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t bad;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(u + i, n - i, &bad);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

int repair_line(const char *raw, size_t n, size_t limit, buf_t *out) {
    const unsigned char *s = (const unsigned char *)raw;
    out->len = 0;
    if (buf_reserve(out, 0)) return -1;
    out->data[0] = '\0';
    n = cut_len(s, n, limit);
    int changed = 0;
    for (size_t i = 0; i < n;) {
        size_t bad, k = s[i] == 0 ? 0 : utf8_seq(s + i, n - i, &bad);
        if (s[i] == 0) bad = 1;
        if (k) {
            if (buf_append(out, raw + i, k)) return -1;
            i += k;
        } else {
            if (buf_append(out, "\xEF\xBF\xBD", 3)) return -1;
            i += bad;
            changed = 1;
        }
    }
    if (changed && out->len > limit) {
        out->len = cut_len((const unsigned char *)out->data, out->len, limit);
        out->data[out->len] = '\0';
    }
    return 0;
}

int is_blank(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F)) { i++; continue; }
        if (c == 0xC2 && i + 1 < n && (s[i + 1] == 0x85 || s[i + 1] == 0xA0)) { i += 2; continue; }
        if (c == 0xE1 && i + 2 < n && s[i + 1] == 0x9A && s[i + 2] == 0x80) { i += 3; continue; }
        if (c == 0xE2 && i + 2 < n && s[i + 1] == 0x80 &&
            ((s[i + 2] >= 0x80 && s[i + 2] <= 0x8A) || s[i + 2] == 0xA8 || s[i + 2] == 0xA9 || s[i + 2] == 0xAF)) {
            i += 3;
            continue;
        }
        if (c == 0xE2 && i + 2 < n && s[i + 1] == 0x81 && s[i + 2] == 0x9F) { i += 3; continue; }
        if (c == 0xE3 && i + 2 < n && s[i + 1] == 0x80 && s[i + 2] == 0x80) { i += 3; continue; }
        return 0;
    }
    return 1;
}

int json_escape(buf_t *out, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    if (buf_putc(out, '"')) return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];
        const char *e = NULL;
        size_t el = 2;
        switch (c) {
        case '"': e = "\\\""; break;
        case '\\': e = "\\\\"; break;
        case '\n': e = "\\n"; break;
        case '\r': e = "\\r"; break;
        case '\t': e = "\\t"; break;
        case '\b': e = "\\b"; break;
        case '\f': e = "\\f"; break;
        default:
            if (c < 0x20 || c == 0x7F) {
                esc[0] = '\\'; esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
                esc[4] = hex[c >> 4]; esc[5] = hex[c & 15];
                e = esc;
                el = 6;
            }
        }
        if (e) {
            if (buf_append(out, e, el)) return -1;
        } else if (buf_putc(out, (char)c)) {
            return -1;
        }
    }
    return buf_putc(out, '"');
}
