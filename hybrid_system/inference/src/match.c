/* match.c - frozen matching: a template matches a message of the same token count when each of its
 * tokens is <*> or has the message token's shape (every mask <[A-Z]+> replaced by one NUL byte);
 * the most specific match wins (most non-<*> tokens, ties to the lowest id).
 *
 * Templates are bucketed by token count and sorted by (literals desc, id asc) inside a bucket, so the
 * first match found is the answer; a hash of the first literal position narrows nothing (kept simple:
 * the engine caches the result per distinct masked message). */
#include "match.h"

#include <stdlib.h>
#include <string.h>

#include "text.h"

typedef struct {
    long id;
    int value;
    size_t ntok, literals;
    char **tok;    /* shapes; NULL = <*> */
    size_t *tlen;
} tmpl;

struct matcher {
    char **delims;
    size_t ndelims;
    tmpl *t;
    size_t n, cap;
    size_t *order;      /* template positions sorted by (ntok, -literals, id) */
    size_t *bucket_lo;  /* per token count (index), range in order[] */
    size_t *bucket_hi;
    size_t maxtok;
    buf_t work, shapes;
    size_t *starts, *lens, tcap;
};

static int is_space(unsigned char c) { return c == ' ' || (c >= 0x09 && c <= 0x0D); }

/* Shape of token s[0..n) appended to out; a mask is '<', one or more A-Z, '>'. */
static int put_shape(buf_t *out, const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        if (s[i] == '<') {
            size_t j = i + 1;
            while (j < n && s[j] >= 'A' && s[j] <= 'Z') j++;
            if (j > i + 1 && j < n && s[j] == '>') {
                if (buf_putc(out, '\0')) return -1;
                i = j + 1;
                continue;
            }
        }
        if (buf_putc(out, s[i])) return -1;
        i++;
    }
    return 0;
}

/* Tokenizes (delimiters -> space, split on ASCII whitespace) into m->shapes; starts/lens index it.
 * Returns the token count, or -1 when out of memory. */
static long tokenize(matcher *m, const char *s, size_t n) {
    const char *text = s;
    size_t len = n;
    if (m->ndelims) {
        m->work.len = 0;
        if (buf_append(&m->work, s, n)) return -1;
        for (size_t d = 0; d < m->ndelims; d++) {
            size_t dl = strlen(m->delims[d]);
            if (!dl) continue;
            buf_t next = {0};
            for (size_t i = 0; i < m->work.len;) {
                if (i + dl <= m->work.len && !memcmp(m->work.data + i, m->delims[d], dl)) {
                    if (buf_putc(&next, ' ')) { buf_free(&next); return -1; }
                    i += dl;
                } else {
                    if (buf_putc(&next, m->work.data[i])) { buf_free(&next); return -1; }
                    i++;
                }
            }
            buf_free(&m->work);
            m->work = next;
            if (!m->work.data && buf_reserve(&m->work, 0)) return -1;
        }
        text = m->work.data;
        len = m->work.len;
    }
    m->shapes.len = 0;
    size_t count = 0;
    for (size_t i = 0; i < len;) {
        while (i < len && is_space((unsigned char)text[i])) i++;
        if (i >= len) break;
        size_t j = i;
        while (j < len && !is_space((unsigned char)text[j])) j++;
        if (count == m->tcap) {
            size_t nc = m->tcap ? 2 * m->tcap : 64;
            size_t *ns = realloc(m->starts, nc * sizeof *ns), *nl;
            if (!ns) return -1;
            m->starts = ns;
            nl = realloc(m->lens, nc * sizeof *nl);
            if (!nl) return -1;
            m->lens = nl;
            m->tcap = nc;
        }
        size_t at = m->shapes.len;
        if (text[i] == '<' && j - i == 3 && text[i + 1] == '*' && text[i + 2] == '>') {
            if (buf_append(&m->shapes, "<*>", 3)) return -1;
        } else if (put_shape(&m->shapes, text + i, j - i)) {
            return -1;
        }
        m->starts[count] = at;
        m->lens[count] = m->shapes.len - at;
        count++;
        i = j;
    }
    return (long)count;
}

matcher *matcher_new(const char *const *delims, size_t ndelims) {
    matcher *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    if (ndelims) {
        m->delims = calloc(ndelims, sizeof(char *));
        if (!m->delims) { free(m); return NULL; }
        for (size_t d = 0; d < ndelims; d++) {
            m->delims[d] = strdup(delims[d]);
            if (!m->delims[d]) { m->ndelims = d; matcher_free(m); return NULL; }
        }
        m->ndelims = ndelims;
    }
    return m;
}

int matcher_add(matcher *m, long id, const char *text, size_t len, int value) {
    if (m->n == m->cap) {
        size_t nc = m->cap ? 2 * m->cap : 64;
        tmpl *nt = realloc(m->t, nc * sizeof *nt);
        if (!nt) return -1;
        m->t = nt;
        m->cap = nc;
    }
    /* A stored template is its tokens joined by single spaces; extra delimiters never apply to it
     * (they were applied when it was learned), so tokenize it without them. */
    size_t nd = m->ndelims;
    m->ndelims = 0;
    long count = tokenize(m, text, len);
    m->ndelims = nd;
    if (count < 0) return -1;
    tmpl *t = &m->t[m->n];
    memset(t, 0, sizeof *t);
    t->id = id;
    t->value = value;
    t->ntok = (size_t)count;
    t->tok = calloc(count ? (size_t)count : 1, sizeof(char *));
    t->tlen = calloc(count ? (size_t)count : 1, sizeof(size_t));
    if (!t->tok || !t->tlen) { free(t->tok); free(t->tlen); return -1; }
    m->n++;
    for (size_t k = 0; k < (size_t)count; k++) {
        const char *s = m->shapes.data + m->starts[k];
        size_t l = m->lens[k];
        if (l == 3 && !memcmp(s, "<*>", 3)) continue;
        t->tok[k] = malloc(l ? l : 1);
        if (!t->tok[k]) return -1;
        memcpy(t->tok[k], s, l);
        t->tlen[k] = l;
        t->literals++;
    }
    if ((size_t)count > m->maxtok) m->maxtok = (size_t)count;
    return 0;
}

static matcher *g_sort; /* qsort has no context argument in C11 */

static int cmp_order(const void *a, const void *b) {
    const tmpl *x = &g_sort->t[*(const size_t *)a], *y = &g_sort->t[*(const size_t *)b];
    if (x->ntok != y->ntok) return x->ntok < y->ntok ? -1 : 1;
    if (x->literals != y->literals) return x->literals > y->literals ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

int matcher_finish(matcher *m) {
    free(m->order);
    free(m->bucket_lo);
    free(m->bucket_hi);
    m->order = malloc((m->n ? m->n : 1) * sizeof(size_t));
    m->bucket_lo = calloc(m->maxtok + 1, sizeof(size_t));
    m->bucket_hi = calloc(m->maxtok + 1, sizeof(size_t));
    if (!m->order || !m->bucket_lo || !m->bucket_hi) return -1;
    for (size_t i = 0; i < m->n; i++) m->order[i] = i;
    g_sort = m;
    qsort(m->order, m->n, sizeof(size_t), cmp_order);
    g_sort = NULL;
    for (size_t i = 0; i < m->n; i++) {
        size_t k = m->t[m->order[i]].ntok;
        if (i == 0 || m->t[m->order[i - 1]].ntok != k) m->bucket_lo[k] = i;
        m->bucket_hi[k] = i + 1;
    }
    return 0;
}

int matcher_match(matcher *m, const char *msg, size_t n, int none, long *id) {
    if (id) *id = -1;
    long count = tokenize(m, msg, n);
    if (count < 0) return -2;
    if ((size_t)count > m->maxtok || !m->order) return none;
    for (size_t i = m->bucket_lo[count]; i < m->bucket_hi[count]; i++) {
        const tmpl *t = &m->t[m->order[i]];
        size_t k = 0;
        for (; k < t->ntok; k++) {
            if (!t->tok[k]) continue;
            if (t->tlen[k] != m->lens[k] || memcmp(t->tok[k], m->shapes.data + m->starts[k], t->tlen[k])) break;
        }
        if (k == t->ntok) {
            if (id) *id = t->id;
            return t->value;
        }
    }
    return none;
}

size_t matcher_size(const matcher *m) { return m->n; }

void matcher_free(matcher *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n; i++) {
        for (size_t k = 0; k < m->t[i].ntok; k++) free(m->t[i].tok[k]);
        free(m->t[i].tok);
        free(m->t[i].tlen);
    }
    for (size_t d = 0; d < m->ndelims; d++) free(m->delims[d]);
    free(m->delims);
    free(m->t);
    free(m->order);
    free(m->bucket_lo);
    free(m->bucket_hi);
    buf_free(&m->work);
    buf_free(&m->shapes);
    free(m->starts);
    free(m->lens);
    free(m);
}
