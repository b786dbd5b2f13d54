/* mask.c - every match of a rule's pattern is replaced by its mask (\1..\9 = groups, an unset group
 * is empty), rules one after the other, like Python's re.sub / RE2's global replace. PCRE2 runs in
 * byte mode without UCP: \d, \w, \b are ASCII, as with re.ASCII and RE2; \s / $ are rewritten to
 * RE2's meaning (no \v; $ only at the end). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "mask.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *text;   /* literal bytes */
    size_t len;
    int group;    /* >0: a group reference instead of text */
} piece;

typedef struct {
    pcre2_code *code;
    piece *pieces;
    size_t npieces;
} rule;

struct masker {
    rule *rules;
    size_t n;
    pcre2_match_data *md;
    pcre2_match_context *mc;
    buf_t tmp;
    size_t failures;
};

static void rule_free(rule *r) {
    pcre2_code_free(r->code);
    for (size_t k = 0; k < r->npieces; k++) free(r->pieces[k].text);
    free(r->pieces);
}

static int add_piece(rule *r, const char *text, size_t len, int group) {
    piece *np = realloc(r->pieces, (r->npieces + 1) * sizeof *np);
    if (!np) return -1;
    r->pieces = np;
    piece *p = &np[r->npieces];
    p->group = group;
    p->len = len;
    p->text = malloc(len + 1);
    if (!p->text) return -1;
    memcpy(p->text, text, len);
    p->text[len] = '\0';
    r->npieces++;
    return 0;
}

/* The mask split into literal pieces and \N references (validated: masking.py refused others). */
static int parse_mask(rule *r, const char *mask, size_t n, unsigned groups, char *err, size_t errn) {
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (mask[i] != '\\') continue;
        if (i + 1 >= n || mask[i + 1] < '1' || mask[i + 1] > '9' || (unsigned)(mask[i + 1] - '0') > groups) {
            snprintf(err, errn, "mask '%s' has a backslash that is not \\1..\\%u", mask, groups);
            return -1;
        }
        if (i > start && add_piece(r, mask + start, i - start, 0)) return -1;
        if (add_piece(r, "", 0, mask[i + 1] - '0')) return -1;
        start = i + 2;
        i++;
    }
    if (n > start && add_piece(r, mask + start, n - start, 0)) return -1;
    return 0;
}

/* RE2 reads \s and \S without \v; PCRE2 includes it. Rewrite them (outside and inside classes). */
static char *to_pcre(const char *pat, size_t n) {
    buf_t b = {0};
    int in_class = 0;
    for (size_t i = 0; i < n; i++) {
        char c = pat[i];
        if (c == '\\' && i + 1 < n) {
            char d = pat[i + 1];
            if (d == 's' || d == 'S') {
                const char *rep = d == 's' ? (in_class ? "\\t\\n\\f\\r " : "[\\t\\n\\f\\r ]")
                                           : (in_class ? NULL : "[^\\t\\n\\f\\r ]");
                if (rep) {
                    if (buf_append(&b, rep, strlen(rep))) goto oom;
                    i++;
                    continue;
                }
            }
            if (buf_append(&b, pat + i, 2)) goto oom;
            i++;
            continue;
        }
        if (c == '[' && !in_class) {
            in_class = 1;
            if (buf_putc(&b, c)) goto oom;
            /* a ']' right after '[' or '[^' is literal */
            if (i + 1 < n && pat[i + 1] == '^') { if (buf_putc(&b, '^')) goto oom; i++; }
            if (i + 1 < n && pat[i + 1] == ']') { if (buf_putc(&b, ']')) goto oom; i++; }
            continue;
        }
        if (c == ']' && in_class) in_class = 0;
        if (buf_putc(&b, c)) goto oom;
    }
    if (buf_reserve(&b, 0)) goto oom;
    b.data[b.len] = '\0';
    return b.data;
oom:
    buf_free(&b);
    return NULL;
}

masker *masker_new(const json_value *rules, char *err, size_t errn) {
    if (!rules || rules->type != JSON_ARRAY) {
        snprintf(err, errn, "rules must be a JSON list of objects");
        return NULL;
    }
    masker *m = calloc(1, sizeof *m);
    if (!m) goto oom;
    m->rules = calloc(rules->len ? rules->len : 1, sizeof(rule));
    if (!m->rules) goto oom;
    for (size_t i = 0; i < rules->len; i++) {
        const json_value *o = &rules->items[i];
        const json_value *pat = json_get(o, "pattern"), *mask = json_get(o, "mask");
        if (!pat || pat->type != JSON_STRING || !mask || mask->type != JSON_STRING) {
            snprintf(err, errn, "rule %zu: needs string 'pattern' and 'mask'", i);
            goto fail;
        }
        rule *r = &m->rules[m->n];
        char *p = to_pcre(pat->str, pat->len);
        if (!p) goto oom;
        int code;
        PCRE2_SIZE off;
        r->code = pcre2_compile((PCRE2_SPTR)p, PCRE2_ZERO_TERMINATED, PCRE2_DOLLAR_ENDONLY, &code, &off, NULL);
        free(p);
        if (!r->code) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(code, msg, sizeof msg);
            snprintf(err, errn, "rule %zu: pattern does not compile at %zu: %s", i, (size_t)off, (char *)msg);
            goto fail;
        }
        m->n++;
        (void)pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE); /* optional: the interpreter is the fallback */
        uint32_t groups = 0;
        pcre2_pattern_info(r->code, PCRE2_INFO_CAPTURECOUNT, &groups);
        char perr[200];
        if (parse_mask(r, mask->str, mask->len, groups, perr, sizeof perr)) {
            snprintf(err, errn, "rule %zu: %s", i, perr[0] ? perr : "out of memory");
            goto fail;
        }
    }
    m->md = pcre2_match_data_create(20, NULL);
    m->mc = pcre2_match_context_create(NULL);
    if (!m->md || !m->mc) goto oom;
    pcre2_set_match_limit(m->mc, 10000000);
    pcre2_set_depth_limit(m->mc, 100000);
    return m;
oom:
    snprintf(err, errn, "out of memory");
fail:
    masker_free(m);
    return NULL;
}

static int apply_rule(masker *m, const rule *r, const char *s, size_t n, buf_t *out) {
    out->len = 0;
    if (buf_reserve(out, n)) return -1;
    size_t at = 0, copied = 0;
    while (at <= n) {
        int rc = pcre2_match(r->code, (PCRE2_SPTR)s, n, at, 0, m->md, m->mc);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) { m->failures++; break; }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m->md);
        size_t ms = ov[0], me = ov[1];
        if (buf_append(out, s + copied, ms - copied)) return -1;
        for (size_t k = 0; k < r->npieces; k++) {
            const piece *p = &r->pieces[k];
            if (!p->group) {
                if (buf_append(out, p->text, p->len)) return -1;
            } else if (p->group < rc && ov[2 * p->group] != PCRE2_UNSET) {
                if (buf_append(out, s + ov[2 * p->group], ov[2 * p->group + 1] - ov[2 * p->group])) return -1;
            }
        }
        copied = me;
        at = me > ms ? me : me + 1; /* patterns never match empty (masking.py refuses them) */
    }
    if (buf_append(out, s + copied, n - copied)) return -1;
    return 0;
}

int masker_apply(masker *m, const char *s, size_t n, buf_t *out) {
    out->len = 0;
    if (buf_append(out, s, n)) return -1;
    for (size_t i = 0; i < m->n; i++) {
        if (apply_rule(m, &m->rules[i], out->data, out->len, &m->tmp)) return -1;
        buf_t t = *out;
        *out = m->tmp;
        m->tmp = t;
    }
    return 0;
}

size_t masker_rules(const masker *m) { return m->n; }
size_t masker_failures(const masker *m) { return m->failures; }

void masker_free(masker *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n; i++) rule_free(&m->rules[i]);
    free(m->rules);
    pcre2_match_data_free(m->md);
    pcre2_match_context_free(m->mc);
    buf_free(&m->tmp);
    free(m);
}
