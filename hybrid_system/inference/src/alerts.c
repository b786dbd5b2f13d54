/* alerts.c - DeepLog Enhanced alert rules (alerts/engine.py), one prediction at a time in log order.
 *
 * Per entity: the last prediction (session timeout) and a ring of the last n non-novel predictions of
 * its current session (K-of-N; misses keep what their evidence needs). Per signature (entity, type,
 * template): the alert its last firing went to and that firing's time / order (cooldown). A sequence
 * firing adds the misses of its window that are newer than the alert's previous firing (Python clips
 * each window to start after the previous one of the same alert), a novelty firing adds itself. */
#include "alerts.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "text.h"

typedef struct {
    long seq;            /* non-novel sequence number (global) */
    int is_miss;
    long order, line;
    int has_time;
    int64_t ns;
    const char *tmpl;
    const char *exp[ALERT_EXPECTED];
    int nexp;
    char *raw;           /* misses only */
    double score;
} ev_t;

typedef struct {
    long order;          /* last prediction */
    int has_time;
    int64_t ns;
    ev_t *ring;          /* n slots; ring[(head + i) % n], i < len, oldest first */
    long head, len, nmiss;
    int seen;            /* has had a prediction */
} entity_t;

typedef struct {
    long alert;
    long order;
    int has_time;
    int64_t ns;
} sig_t;

struct alert_engine {
    alert_settings s;
    hmap entity_index, sig_index;
    entity_t *entities;
    size_t nentities, entities_cap;
    sig_t *sigs;
    size_t nsigs, sigs_cap;
    alert_t *alerts;
    size_t nalerts, alerts_cap;
    buf_t key;
    long seq;            /* non-novel predictions so far */
    long predictions, misses, novel, firings, suppressed, sessions;
};

static void *grow(void *p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return p;
    size_t nc = *cap ? *cap : 16;
    while (nc < need) nc *= 2;
    void *q = realloc(p, nc * size);
    if (q) *cap = nc;
    return q;
}

alert_engine *alerts_new(const alert_settings *s, char *err, size_t errn) {
    if (s->k < 1 || s->k > s->n || s->n > 1000000) {
        snprintf(err, errn, "alert settings: need 1 <= k <= n (k=%ld, n=%ld)", s->k, s->n);
        return NULL;
    }
    if (!(s->cooldown_seq >= 0 && s->cooldown_novelty >= 0)) {
        snprintf(err, errn, "alert settings: cooldowns must be >= 0");
        return NULL;
    }
    alert_engine *a = calloc(1, sizeof *a);
    if (!a) { snprintf(err, errn, "out of memory"); return NULL; }
    a->s = *s;
    return a;
}

static double gap(int ht1, int64_t ns1, long o1, int ht2, int64_t ns2, long o2) {
    if (ht1 && ht2) return (double)(ns2 - ns1) / 1e9;
    return (double)(o2 - o1);
}

static void ring_clear(entity_t *en, long n) {
    for (long i = 0; i < en->len; i++) {
        ev_t *ev = &en->ring[(en->head + i) % n];
        free(ev->raw);
        ev->raw = NULL;
    }
    en->head = en->len = en->nmiss = 0;
}

static long entity_of(alert_engine *a, const char *name) {
    size_t n = strlen(name);
    long i = hmap_get(&a->entity_index, name, n, -1);
    if (i >= 0) return i;
    entity_t *ne = grow(a->entities, &a->entities_cap, a->nentities + 1, sizeof *ne);
    if (!ne) return -1;
    a->entities = ne;
    entity_t *en = &a->entities[a->nentities];
    memset(en, 0, sizeof *en);
    en->ring = calloc((size_t)a->s.n, sizeof(ev_t));
    if (!en->ring) return -1;
    if (hmap_put(&a->entity_index, name, n, (long)a->nentities)) { free(en->ring); return -1; }
    a->sessions++;
    return (long)a->nentities++;
}

static int label_add(alert_label **v, size_t *n, size_t *cap, const char *text, long rank) {
    for (size_t i = 0; i < *n; i++)
        if ((*v)[i].text == text || !strcmp((*v)[i].text, text)) { (*v)[i].count++; return 0; }
    alert_label *nv = grow(*v, cap, *n + 1, sizeof **v);
    if (!nv) return -1;
    *v = nv;
    nv[*n].text = text;
    nv[*n].count = 1;
    nv[*n].first = rank;
    (*n)++;
    return 0;
}

/* One evidence row (Python's (alert, row) pair). */
static int evidence(alert_engine *a, alert_t *al, const ev_t *ev) {
    if (al->nrows == al->cap) {
        long nc = al->cap ? 2 * al->cap : 4;
        long *no = realloc(al->orders, (size_t)nc * sizeof(long));
        if (!no) return -1;
        al->orders = no;
        long *nl = realloc(al->lines, (size_t)nc * sizeof(long));
        if (!nl) return -1;
        al->lines = nl;
        al->cap = nc;
    }
    if (!al->nrows) { al->first_has_time = ev->has_time; al->first_ns = ev->ns; }
    al->last_has_time = ev->has_time;
    al->last_ns = ev->ns;
    al->orders[al->nrows] = ev->order;
    al->lines[al->nrows] = ev->line;
    if (label_add(&al->templates, &al->ntemplates, &al->templates_cap, ev->tmpl, al->nrows)) return -1;
    al->nrows++;
    if (ev->is_miss) {
        long base = 0;
        for (size_t i = 0; i < al->nexpected; i++) base += al->expected[i].count;
        for (int i = 0; i < ev->nexp; i++)
            if (label_add(&al->expected, &al->nexpected, &al->expected_cap, ev->exp[i], base + i)) return -1;
    }
    if (ev->raw && ev->raw[0] && al->nsamples < a->s.max_samples) {
        if (!al->samples) {
            al->samples = calloc(a->s.max_samples, sizeof(char *));
            if (!al->samples) return -1;
        }
        al->samples[al->nsamples] = strdup(ev->raw);
        if (!al->samples[al->nsamples]) return -1;
        al->nsamples++;
    }
    if (!isnan(ev->score) && (isnan(al->score) || ev->score > al->score)) al->score = ev->score;
    return 0;
}

static alert_t *open_alert(alert_engine *a, const char *entity, const char *source, int novelty) {
    alert_t *na = grow(a->alerts, &a->alerts_cap, a->nalerts + 1, sizeof *na);
    if (!na) return NULL;
    a->alerts = na;
    alert_t *al = &a->alerts[a->nalerts];
    memset(al, 0, sizeof *al);
    al->id = (long)a->nalerts;
    al->novelty = novelty;
    al->score = NAN;
    al->last_hi = -1;
    al->entity = strdup(entity);
    al->source = strdup(source ? source : "");
    if (!al->entity || !al->source) { free(al->entity); free(al->source); return NULL; }
    a->nalerts++;
    return al;
}

static void copy_ev(ev_t *ev, const alert_pred *p) {
    ev->is_miss = p->is_miss;
    ev->order = p->order;
    ev->line = p->line_no;
    ev->has_time = p->has_time;
    ev->ns = p->ns;
    ev->tmpl = p->tmpl ? p->tmpl : "";
    ev->nexp = p->is_miss ? (p->nexpected < 0 ? 0 : p->nexpected > ALERT_EXPECTED ? ALERT_EXPECTED : p->nexpected) : 0;
    for (int i = 0; i < ev->nexp; i++) ev->exp[i] = p->expected[i] ? p->expected[i] : "";
    ev->score = p->score;
}

int alerts_add(alert_engine *a, const alert_pred *p) {
    const char *entity = p->entity ? p->entity : "<none>";
    long ei = entity_of(a, entity);
    if (ei < 0) return -1;
    entity_t *en = &a->entities[ei];
    long n = a->s.n;
    a->predictions++;
    if (en->seen && a->s.session_timeout > 0 &&
        gap(en->has_time, en->ns, en->order, p->has_time, p->ns, p->order) > a->s.session_timeout) {
        ring_clear(en, n);
        a->sessions++;
    }
    en->seen = 1;
    en->order = p->order;
    en->has_time = p->has_time;
    en->ns = p->ns;
    int novel = p->is_novel != 0, miss = p->is_miss != 0 || novel;
    if (p->is_miss) a->misses++;
    if (novel) a->novel++;
    ev_t cur;
    memset(&cur, 0, sizeof cur);
    copy_ev(&cur, p);
    int fires = 0;
    if (!novel) {
        /* push into the K-of-N window of this session */
        ev_t *slot;
        if (en->len == n) {
            slot = &en->ring[en->head];
            if (slot->is_miss) en->nmiss--;
            free(slot->raw);
            en->head = (en->head + 1) % n;
            en->len--;
        }
        slot = &en->ring[(en->head + en->len) % n];
        *slot = cur;
        slot->seq = a->seq++;
        slot->raw = NULL;
        if (miss && p->raw && p->raw_len) {
            slot->raw = malloc(p->raw_len + 1);
            if (!slot->raw) return -1;
            memcpy(slot->raw, p->raw, p->raw_len);
            slot->raw[p->raw_len] = '\0';
        }
        en->len++;
        if (miss) en->nmiss++;
        cur.seq = slot->seq;
        fires = miss && en->nmiss >= a->s.k;
    } else fires = 1;
    if (!fires) return 0;
    a->firings++;
    /* the signature: entity \0 type \0 template */
    buf_t *k = &a->key;
    k->len = 0;
    if (buf_append(k, entity, strlen(entity) + 1) || buf_putc(k, novel ? 'n' : 's') || buf_putc(k, '\0') ||
        buf_append(k, cur.tmpl, strlen(cur.tmpl)))
        return -1;
    long si = hmap_get(&a->sig_index, k->data, k->len, -1);
    double cool = novel ? a->s.cooldown_novelty : a->s.cooldown_seq;
    alert_t *al = NULL;
    if (si >= 0) {
        sig_t *sg = &a->sigs[si];
        if (cool > 0 && gap(sg->has_time, sg->ns, sg->order, p->has_time, p->ns, p->order) <= cool) {
            al = &a->alerts[sg->alert];
            al->suppressed++;
            a->suppressed++;
        }
    } else {
        sig_t *ns = grow(a->sigs, &a->sigs_cap, a->nsigs + 1, sizeof *ns);
        if (!ns) return -1;
        a->sigs = ns;
        if (hmap_put(&a->sig_index, k->data, k->len, (long)a->nsigs)) return -1;
        si = (long)a->nsigs++;
    }
    if (!al) {
        if (!(al = open_alert(a, entity, p->source, novel))) return -1;
    }
    sig_t *sg = &a->sigs[si];
    sg->alert = al->id;
    sg->order = p->order;
    sg->has_time = p->has_time;
    sg->ns = p->ns;
    if (novel) {
        /* the raw line is not NUL-terminated in general: copy it */
        char *raw = NULL;
        if (p->raw && p->raw_len) {
            raw = malloc(p->raw_len + 1);
            if (!raw) return -1;
            memcpy(raw, p->raw, p->raw_len);
            raw[p->raw_len] = '\0';
        }
        cur.raw = raw;
        int rc = evidence(a, al, &cur);
        free(raw);
        return rc;
    }
    /* the misses of this firing's window newer than the alert's previous firing */
    for (long i = 0; i < en->len; i++) {
        const ev_t *ev = &en->ring[(en->head + i) % n];
        if (ev->is_miss && ev->seq > al->last_hi && evidence(a, al, ev)) return -1;
    }
    al->last_hi = cur.seq;
    return 0;
}

size_t alerts_count(const alert_engine *a) { return a->nalerts; }
const alert_t *alerts_get(const alert_engine *a, size_t i) { return i < a->nalerts ? &a->alerts[i] : NULL; }
long alerts_firings(const alert_engine *a) { return a->firings; }
long alerts_suppressed(const alert_engine *a) { return a->suppressed; }

void alerts_summary(const alert_engine *a, FILE *out) {
    long by[2] = {0, 0};
    for (size_t i = 0; i < a->nalerts; i++) by[a->alerts[i].novelty]++;
    fprintf(out, "{\"predictions\":%ld,\"misses\":%ld,\"novel\":%ld,\"entities\":%zu,\"sessions\":%ld,\"firings\":%ld,"
            "\"alerts\":%zu,\"alerts_by_type\":{\"sequence\":%ld,\"novelty\":%ld},\"suppressed\":%ld}",
            a->predictions, a->misses, a->novel, a->nentities, a->sessions, a->firings, a->nalerts, by[0], by[1],
            a->suppressed);
}

/* ---- output ----------------------------------------------------------------------------------- */

void alert_time_iso(int64_t ns, char *out, size_t n) {
    int64_t sec = ns / 1000000000, frac = ns % 1000000000;
    if (frac < 0) { frac += 1000000000; sec--; }
    int64_t days = sec / 86400, rem = sec % 86400;
    if (rem < 0) { rem += 86400; days--; }
    /* civil_from_days (H. Hinnant) */
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097, yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2) y++;
    int len = snprintf(out, n, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld", (long long)y, (long long)m, (long long)d,
                       (long long)(rem / 3600), (long long)(rem / 60 % 60), (long long)(rem % 60));
    if (len < 0 || (size_t)len >= n) return;
    if (frac) {
        char f[16];
        snprintf(f, sizeof f, ".%09lld", (long long)frac);
        size_t fl = strlen(f);
        while (fl > 1 && f[fl - 1] == '0') f[--fl] = '\0';
        snprintf(out + len, n - (size_t)len, "%sZ", f);
    } else snprintf(out + len, n - (size_t)len, "Z");
}

static int by_count(const void *x, const void *y) {
    const alert_label *a = x, *b = y;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    return (a->first > b->first) - (a->first < b->first);
}

static int put(buf_t *b, const char *s) { return buf_append(b, s, strlen(s)); }

static int labels(buf_t *b, const char *name, alert_label *v, size_t n) {
    if (put(b, name) || buf_putc(b, '[')) return -1;
    if (n > 1) qsort(v, n, sizeof *v, by_count); /* qsort(NULL, 0) is undefined (found by the fuzzer) */
    for (size_t i = 0; i < n; i++)
        if ((i && buf_putc(b, ',')) || json_escape(b, v[i].text, strlen(v[i].text))) return -1;
    return buf_putc(b, ']');
}

static int longs(buf_t *b, const char *name, const long *v, long n) {
    if (put(b, name) || buf_putc(b, '[')) return -1;
    char num[32];
    for (long i = 0; i < n; i++) {
        snprintf(num, sizeof num, "%s%ld", i ? "," : "", v[i]);
        if (put(b, num)) return -1;
    }
    return buf_putc(b, ']');
}

static int time_field(buf_t *b, const char *name, int has, int64_t ns) {
    char t[48];
    if (put(b, name)) return -1;
    if (!has) return put(b, "null");
    alert_time_iso(ns, t, sizeof t);
    return buf_putc(b, '"') || put(b, t) || buf_putc(b, '"');
}

int alert_write(const alert_t *al_in, FILE *out) {
    alert_t al = *al_in; /* the label arrays are sorted in place (their order is free) */
    buf_t b = {0};
    char num[160];
    int r = 0;
    snprintf(num, sizeof num, "{\"alert_id\":%ld,\"entity\":", al.id);
    r = r || put(&b, num) || json_escape(&b, al.entity, strlen(al.entity));
    r = r || put(&b, al.novelty ? ",\"type\":\"novelty\",\"source\":" : ",\"type\":\"sequence\",\"source\":");
    r = r || json_escape(&b, al.source, strlen(al.source));
    r = r || time_field(&b, ",\"first_time\":", al.first_has_time, al.first_ns);
    r = r || time_field(&b, ",\"last_time\":", al.last_has_time, al.last_ns);
    long last = al.nrows ? al.nrows - 1 : 0;
    if (!r && al.nrows) {
        snprintf(num, sizeof num, ",\"first_line\":%ld,\"last_line\":%ld,\"first_order\":%ld,\"last_order\":%ld",
                 al.lines[0], al.lines[last], al.orders[0], al.orders[last]);
        r = put(&b, num);
    }
    r = r || longs(&b, ",\"rows\":", al.orders, al.nrows) || longs(&b, ",\"line_nos\":", al.lines, al.nrows);
    snprintf(num, sizeof num, ",\"failed_count\":%ld,\"suppressed_count\":%ld", al.nrows, al.suppressed);
    r = r || put(&b, num);
    r = r || labels(&b, ",\"templates\":", al.templates, al.ntemplates);
    r = r || labels(&b, ",\"expected_templates\":", al.expected, al.nexpected);
    r = r || put(&b, ",\"sample_raw\":[");
    for (size_t i = 0; !r && i < al.nsamples; i++)
        r = (i && buf_putc(&b, ',')) || json_escape(&b, al.samples[i], strlen(al.samples[i]));
    if (isnan(al.score)) snprintf(num, sizeof num, "],\"score\":null}\n");
    else snprintf(num, sizeof num, "],\"score\":%.17g}\n", al.score);
    r = r || put(&b, num);
    if (!r) r = fwrite(b.data, 1, b.len, out) == b.len ? 0 : -1;
    buf_free(&b);
    return r ? -1 : 0;
}

void alerts_free(alert_engine *a) {
    if (!a) return;
    for (size_t i = 0; i < a->nentities; i++) {
        ring_clear(&a->entities[i], a->s.n);
        free(a->entities[i].ring);
    }
    free(a->entities);
    for (size_t i = 0; i < a->nalerts; i++) {
        alert_t *al = &a->alerts[i];
        free(al->entity);
        free(al->source);
        free(al->orders);
        free(al->lines);
        free(al->templates);
        free(al->expected);
        for (size_t j = 0; j < al->nsamples; j++) free(al->samples[j]);
        free(al->samples);
    }
    free(a->alerts);
    free(a->sigs);
    hmap_free(&a->entity_index);
    hmap_free(&a->sig_index);
    buf_free(&a->key);
    free(a);
}
